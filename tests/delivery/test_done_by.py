"""After a crash, what a model's call delivered is found by the call's id (Deliveries.done_by):
the start that resumes the turn answers the call from it instead of delivering again."""

from __future__ import annotations

import io
from pathlib import Path

from kairos_desktop.clock import FakeClock
from kairos_desktop.delivery.deliveries import Deliveries
from kairos_desktop.delivery.inbox import Inbox
from kairos_desktop.delivery.notifier import ConsoleNotifier
from kairos_desktop.delivery.outbox import Outbox
from kairos_desktop.events import EventBus
from kairos_desktop.journal import DailyLog
from kairos_desktop.paths import FolderPolicy
from kairos_desktop.settings import Settings
from kairos_desktop.store import Store


def _deliveries(tmp_path: Path, clock: FakeClock) -> Deliveries:
    store = Store(tmp_path / "store.json")
    settings = Settings()
    policy = FolderPolicy(tmp_path / "workspace", [])
    return Deliveries(
        outbox=Outbox(store, clock), notifier=ConsoleNotifier(io.StringIO()),
        daily_log=DailyLog(tmp_path / "logs", clock),
        inbox=Inbox(store, tmp_path / "inbox", clock, max_bytes=1_000_000), bus=EventBus(),
        settings=lambda: settings, policy=lambda: policy)


async def test_each_call_s_deliveries_are_found_by_its_id_and_nothing_else_is(
        tmp_path: Path, clock: FakeClock) -> None:
    deliveries = _deliveries(tmp_path, clock)
    report = tmp_path / "workspace" / "report.md"
    report.parent.mkdir(parents=True)
    report.write_text("# findings\n")
    said = await deliveries.message("see the report", "normal", [str(report)],
                                    call_id="toolu_message")
    await deliveries.push("Rent", "due today", in_chat=True, call_id="toolu_push")
    filed = await deliveries.file(str(report), "Report", call_id="toolu_file")
    await deliveries.message("the app's own words", "system")  # no call: never matched
    done = deliveries.done_by(["toolu_message", "toolu_push", "toolu_file", "toolu_never"])
    assert done["toolu_message"] == ["file report.md", f"message {said['id']}"]
    assert done["toolu_push"][0].startswith("message ")
    assert done["toolu_file"] == [f"file {filed['name']}"]
    assert "toolu_never" not in done
    assert deliveries.done_by([]) == {}
