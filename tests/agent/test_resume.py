"""The calls a kill left without results are answered from what they left: a delivery made is
reported done (never made again), one not made is reported not done, a message whose files
went out but not its text is reported partly done, and any other call is reported interrupted."""

from __future__ import annotations

import io
from pathlib import Path

from kairos_desktop.agent.resume import resume_answers
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


def _use(call_id: str, name: str) -> dict:
    return {"type": "tool_use", "id": call_id, "name": name, "input": {}}


async def test_each_cut_call_is_answered_with_what_it_left(tmp_path: Path,
                                                            clock: FakeClock) -> None:
    store = Store(tmp_path / "store.json")
    policy = FolderPolicy(tmp_path / "workspace", [])
    log = DailyLog(tmp_path / "logs", clock)
    deliveries = Deliveries(
        outbox=Outbox(store, clock), notifier=ConsoleNotifier(io.StringIO()), daily_log=log,
        inbox=Inbox(store, tmp_path / "inbox", clock, max_bytes=1_000_000), bus=EventBus(),
        settings=Settings, policy=lambda: policy)
    chart = tmp_path / "workspace" / "chart.png"
    chart.parent.mkdir(parents=True)
    chart.write_bytes(b"png")
    await deliveries.message("the answer", "normal", call_id="sent")
    deliveries.file_record(str(chart), call_id="half")  # its files went out, then the kill
    answers = resume_answers([_use("sent", "SendUserMessage"), _use("half", "SendUserMessage"),
                              _use("unsent", "PushNotification"), _use("cmd", "RunCommand"),
                              _use("nap", "Sleep")], deliveries, log)
    text = {a["tool_use_id"]: (a["content"], a.get("is_error")) for a in answers}
    assert text["sent"][0].startswith("Done before the app restarted: delivered message")
    assert text["sent"][1] is False
    assert text["half"][0].startswith("Partly done before the app stopped: it delivered file "
                                      "chart.png but not the message itself")
    assert text["unsent"] == ("Not done: the app stopped (it was quit, crashed or was killed) "
                              "before this call ran. Call it again if it is still needed.", True)
    assert text["cmd"][0].startswith("Interrupted: the app stopped") and text["cmd"][1]
    assert text["nap"] == ("Woke up.", None)
    assert "its calls: SendUserMessage (done), SendUserMessage (partly done), PushNotification " \
           "(not done), RunCommand (not done)" in log.read(clock.now().date())
