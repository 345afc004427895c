"""A notification the burst limit holds is never held silently (the daily log, the event, the
status say until when), and a file's notification names the file."""

from __future__ import annotations

import io

from kairos_desktop.clock import FakeClock
from kairos_desktop.delivery.notifier import ConsoleNotifier, Notification
from kairos_desktop.delivery.policy import NotificationPolicy
from kairos_desktop.home import Home
from kairos_desktop.settings import Settings
from tests.conftest import EngineFactory, wait_for, wait_sleeping, write_settings
from tests.fakes.anthropic_server import FakeAnthropic, tool_use, tool_uses


async def test_a_held_notification_says_how_many_why_and_until_when(clock: FakeClock) -> None:
    policy = NotificationPolicy(ConsoleNotifier(io.StringIO()), clock=clock, settings=Settings)
    assert policy.held_info() is None
    for i in range(4):
        await policy.notify(Notification("Kairos", f"update {i}", "message"))
        clock.advance(60)
    info = policy.held_info()
    assert info is not None and info["count"] == 1
    assert info["reason"] == "more than 3 in 10 min (notifyBurstLimit)"
    assert info["until"] == "2026-11-22T09:10:00+01:00"  # the first one shown + the window
    await policy.close()


async def test_the_engine_logs_and_reports_a_held_notification(
        make_engine: EngineFactory, fake: FakeAnthropic, home: Home) -> None:
    write_settings(home, {"notifyBurstLimit": 1, "notifyStatuses": ["proactive"]})
    fake.enqueue(tool_uses(*[("SendUserMessage", {"message": f"finding {i}",
                                                  "status": "proactive"}) for i in range(2)]))
    fake.on_empty = tool_use("Sleep", {"seconds": 3000})
    events = []
    engine = make_engine()
    engine.bus.subscribe(lambda e: events.append(e) if e.kind == "notification" else None)
    await engine.start(control_api=False)
    await wait_sleeping(engine, 1)
    held = [e.data for e in events if e.data.get("held")]
    assert len(held) == 1 and held[0]["heldUntil"].startswith("2026-11-22T09:1")
    assert engine.app.status()["notificationsHeld"]["count"] == 1
    log = engine.daily_log.path_for(engine.clock.now().date()).read_text()
    assert "held until 09:1" in log and "notifyBurstLimit" in log


async def test_a_file_notification_names_the_file_in_its_body(
        make_engine: EngineFactory, fake: FakeAnthropic, console: io.StringIO) -> None:
    fake.enqueue(tool_uses(("WriteFile", {"path": "q3-report.md", "content": "# Q3\n"}),
                           ("SendUserFile", {"path": "q3-report.md", "title": "Quarterly report"})))
    fake.on_empty = tool_use("Sleep", {"seconds": 3000})
    engine = make_engine()
    await engine.start(control_api=False)
    await wait_for(engine, lambda: bool(engine.inbox.items()), what="the delivered file")
    [sent] = [n for n in engine.notifier.sent if n.kind == "file"]
    assert sent.title == "Kairos: Quarterly report" and sent.body == "q3-report.md"
