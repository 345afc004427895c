"""The calls a kill left without results are answered from what they left: a delivery made is
reported done (never made again), one not made is reported not done, a message whose files
went out but not its text is reported partly done, and any other call is reported interrupted.
A start goes on in the session whose turn was cut, so the turn is resumed once, where it is
kept; a turn an older version cut (stored after its tools ran) is taken as run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kairos_desktop.agent.resume import resume_answers
from kairos_desktop.clock import FakeClock
from kairos_desktop.delivery.deliveries import Deliveries
from kairos_desktop.delivery.outbox import Outbox
from kairos_desktop.journal import DailyLog
from kairos_desktop.store import Store
from tests.conftest import wait_sleeping
from tests.fakes.anthropic_server import RecordedRequest, Reply, tool_use


def _use(call_id: str, name: str) -> dict:
    return {"type": "tool_use", "id": call_id, "name": name, "input": {}}


async def test_each_cut_call_is_answered_with_what_it_left(
        tmp_path: Path, clock: FakeClock, deliveries: Deliveries) -> None:
    log = DailyLog(tmp_path / "logs", clock)  # where the deliveries' log writes
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
           "(not done), RunCommand (interrupted)" in log.read(clock.now().date())
    # Stored by an older version, after its tools ran: every call ran, whatever it left.
    [old] = resume_answers([_use("unsent", "PushNotification")], deliveries, log, ran=True)
    assert old["content"].startswith("Done before the app stopped") and not old["is_error"]


TEXT = "Your rent reminder is set for the 1st."
SESSION = "20261121-080000-abcdef"


def _cut_session(home: Any, *, tools_pending: bool) -> None:
    """What a kill leaves: the turn stored up to a SendUserMessage, without its result."""
    record: dict[str, Any] = {"type": "turn", "at": "2026-11-21T08:00:00+01:00", "items": ["i1"],
                              "messages": [
        {"role": "user", "content": [{"type": "text", "text": "<tick/> remind me of the rent"}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_cut",
                                           "name": "SendUserMessage",
                                           "input": {"message": TEXT, "status": "normal"}}]}]}
    if tools_pending:
        record["toolsPending"] = True
    home.sessions_dir.mkdir(parents=True, exist_ok=True)
    (home.sessions_dir / f"{SESSION}.jsonl").write_text(json.dumps(record) + "\n")


def _obedient(request: RecordedRequest) -> Reply:
    """Sends the message again when told it was not done; sleeps otherwise."""
    told = {b["tool_use_id"]: b["content"] for b in request.messages[-1]["content"]
            if b.get("type") == "tool_result"}
    if str(told.get("toolu_cut", "")).startswith("Not done"):
        return tool_use("SendUserMessage", {"message": TEXT, "status": "normal"})
    return tool_use("Sleep", {"seconds": 3000})


async def test_a_start_goes_on_in_the_cut_session_and_resumes_its_turn_once(
        make_engine: Any, fake: Any, home: Any) -> None:
    _cut_session(home, tools_pending=True)  # killed after the store, before the send ran
    fake.on_empty = _obedient
    first = make_engine()
    await first.start(control_api=False)  # no session named: it goes on in the cut one
    await wait_sleeping(first, 1)
    assert first.status.session_id == SESSION
    assert [m["text"] for m in first.outbox.recent(50)] == [TEXT]
    await first.stop()
    # Started again, and the old session reopened by name: the turn is whole, never resumed
    # again, so the message is never sent a second time.
    for session_id in (None, SESSION):
        again = make_engine()
        await again.start(session_id=session_id, control_api=False)
        await wait_sleeping(again, 1)
        await again.stop()
    assert [m["text"] for m in again.outbox.recent(50)] == [TEXT]
    assert sum("toolu_cut" in json.dumps(r.messages[-1]) for r in fake.history) == 1


async def test_a_turn_an_older_version_cut_is_taken_as_run(
        make_engine: Any, fake: Any, home: Any, clock: FakeClock) -> None:
    # An older version stored a turn after its tools ran, and wrote no call ids: its cut
    # SendUserMessage was delivered, and must not be sent again after the upgrade.
    store = Store(home.store_file)
    Outbox(store, clock).add(TEXT, "normal")
    store.close()
    _cut_session(home, tools_pending=False)
    fake.on_empty = _obedient
    engine = make_engine()
    await engine.start(control_api=False)
    await wait_sleeping(engine, 1)
    [told] = [b["content"] for b in fake.history[0].messages[-1]["content"]
              if b.get("tool_use_id") == "toolu_cut"]
    assert told.startswith("Done before the app stopped")
    assert [m["text"] for m in engine.outbox.recent(50)] == [TEXT]
