"""The heartbeat loop when the model API misbehaves: one refused item is set aside and never
blocks the rest, a broken reply or a hang is named and shown, a wake cuts a wait or a hung call
short, and a turn already stored is never answered again after a restart."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from kairos_desktop.clock import FakeClock
from kairos_desktop.home import Home
from kairos_desktop.queue import InboundItem, InboundQueue
from kairos_desktop.runtime import Engine
from kairos_desktop.store import Store
from tests.conftest import EngineFactory, wait_for, wait_sleeping, write_settings
from tests.fakes.anthropic_server import (
    FakeAnthropic,
    RecordedRequest,
    Reply,
    broken,
    error,
    hang,
    tool_use,
)

PASTE = "BEGIN-PASTE " + "lorem ipsum " * 2_000  # ~24 000 characters: "prompt is too long"


def answer_what_arrived(request: RecordedRequest) -> Reply:
    """The fake model: answers a user's message by name, else sleeps."""
    text = request.last_user_text
    if "<message" in text and request.messages[-1]["content"][-1].get("type") == "text":
        said = text.split('<message from="user"', 1)[1].split(">", 1)[1].split("</message>")[0]
        return tool_use("SendUserMessage", {"message": f"re: {said.strip()[:40]}",
                                            "status": "normal"})
    return tool_use("Sleep", {"seconds": 3000})


def queue_up(home: Home, *items: InboundItem) -> None:
    store = Store(home.store_file)
    InboundQueue(store).put_many(list(items))
    store.close()


async def test_a_message_the_api_refuses_is_set_aside_and_the_rest_goes_on(
        make_engine: EngineFactory, fake: FakeAnthropic, home: Home, tmp_path: Path) -> None:
    fake.refuse("BEGIN-PASTE")  # 400 "prompt is too long", whatever the script says
    fake.on_empty = answer_what_arrived
    paste = InboundItem(kind="user", text=PASTE, created_at="2026-11-22T08:58:00+01:00")
    hello = InboundItem(kind="user", text="and hello", created_at="2026-11-22T08:59:00+01:00")
    reminder = InboundItem(kind="cron", text="stretch", meta={"taskId": "t1"})
    queue_up(home, paste, hello, reminder)
    engine = make_engine()
    await engine.start(control_api=False)
    await wait_sleeping(engine, 1)
    first, second, *_ = fake.history
    assert first.reply_status == 400 and "BEGIN-PASTE" in first.last_user_text
    # Tried again at once without it: the other message and the reminder got through.
    assert second.reply_status == 200 and "BEGIN-PASTE" not in json.dumps(second.messages)
    assert "and hello" in second.last_user_text and "stretch" in second.last_user_text
    assert '<set-aside count="1" kinds="user">' in second.last_user_text
    assert len(engine.queue) == 0
    [held] = engine.queue.held()  # kept, never deleted, with the reason
    assert held.item.id == paste.id and held.item.text == PASTE
    assert held.status == 400 and "prompt is too long" in held.reason
    # The user is told what was refused and what to do; the text comes back as a file.
    texts = {m["text"]: m for m in engine.outbox.recent()}
    assert "re: and hello" in texts
    [told] = [m for t, m in texts.items() if t.startswith("I could not take")]
    assert told["status"] == "system"
    assert told["text"].startswith("I could not take your message of 08:58, 24,012 characters:"
                                   " the model API refused the request (400: prompt is too "
                                   "long: 250000 tokens > 200000 maximum).")
    assert f"`kairos queue retry {paste.id}`" in told["text"]
    assert f"`kairos queue drop {paste.id}`" in told["text"]
    [attached] = told["attachments"]
    assert Path(attached).parent == tmp_path / "inbox"
    assert Path(attached).read_text(encoding="utf-8") == PASTE
    assert Path(attached).stat().st_mode & 0o777 == 0o600  # the user's words: theirs alone
    assert engine.queue.held()[0].file == attached


async def test_a_held_item_stays_held_across_a_restart_and_blocks_nothing(
        make_engine: EngineFactory, fake: FakeAnthropic, home: Home, clock: FakeClock) -> None:
    fake.refuse("BEGIN-PASTE")
    fake.on_empty = answer_what_arrived
    queue_up(home, InboundItem(kind="user", text=PASTE))
    engine = make_engine()
    await engine.start(control_api=False)
    await wait_sleeping(engine, 1)
    await engine.stop()
    refused = len([r for r in fake.history if r.reply_status == 400])
    again = make_engine()
    await again.start(control_api=False)
    again.app.send("still there?")
    await wait_for(again, lambda: any(m["text"] == "re: still there?"
                                      for m in again.outbox.recent()), what="the answer")
    assert len([r for r in fake.history if r.reply_status == 400]) == refused == 1
    assert len(again.queue.held()) == 1


async def test_a_turn_refused_half_way_is_kept_and_the_user_is_told(
        make_engine: EngineFactory, fake: FakeAnthropic, home: Home) -> None:
    (home.workspace_dir / "scan.txt").write_text("UNREADABLE-SCAN", encoding="utf-8")
    fake.refuse("UNREADABLE-SCAN", message="messages.2.content.0: image is not valid")
    fake.refuse("this result was not sent", message="still not valid")  # the note, too
    fake.enqueue(tool_use("ReadFile", {"path": "scan.txt"}))
    fake.on_empty = tool_use("Sleep", {"seconds": 3000})
    queue_up(home, InboundItem(kind="user", text="what does the scan say?"))
    engine = make_engine()
    await engine.start(control_api=False)
    await wait_sleeping(engine, 1)
    [told] = engine.outbox.recent()
    assert told["text"].startswith("I had to stop half way through your message: the model "
                                   "API refused the request (400: still not valid).")
    assert len(engine.queue) == 0 and engine.queue.held() == []
    [turn] = engine.transcript.turns  # what the model did is kept, the refused result is not
    stored = json.dumps(turn.messages)
    assert "what does the scan say?" in stored and "UNREADABLE-SCAN" not in stored
    assert "the model API refused it" in stored
    assert [r.reply_status for r in fake.history][:3] == [200, 400, 400]


async def test_when_even_the_bare_conversation_is_refused_nothing_is_set_aside(
        make_engine: EngineFactory, fake: FakeAnthropic, home: Home) -> None:
    fake.max_prompt_tokens = 100  # smaller than the system prompt: every request is refused
    queue_up(home, InboundItem(kind="user", text="hello"))
    engine = make_engine()
    await engine.start(control_api=False)
    await wait_for(engine, lambda: engine.status.state == "error", what="the error state")
    assert engine.status.detail.startswith("the model API refuses the conversation itself, "
                                           "not what arrived: the model API refused the "
                                           "request (400: prompt is too long")
    assert engine.queue.held() == [] and len(engine.queue) == 1  # kept for after the fix
    [told] = engine.outbox.recent()
    assert told["status"] == "system" and "Check the model setting" in told["text"]


async def test_a_broken_reply_is_shown_offline_with_its_detail_and_the_user_is_told_at_once(
        make_engine: EngineFactory, fake: FakeAnthropic, clock: FakeClock) -> None:
    fake.enqueue(tool_use("Sleep", {"seconds": 3000}), broken("bad_sse"))
    fake.on_empty = answer_what_arrived
    engine = make_engine()
    await engine.start(control_api=False)
    await wait_sleeping(engine, 1)
    engine.app.send("hello?")
    await wait_for(engine, lambda: engine.status.state == "offline", what="offline")
    assert engine.status.detail.startswith("the model API sent a broken reply (JSONDecodeError")
    [told] = engine.outbox.recent()  # at the first failure: the turn carries their message
    assert told["text"].startswith("I can't answer right now: the model API sent a broken "
                                   "reply (JSONDecodeError")
    assert "What you sent is kept" in told["text"]
    clock.advance(15)
    await wait_for(engine, lambda: engine.outbox.recent()[-1]["text"] == "re: hello?",
                   what="the answer after the retry")


async def test_without_a_message_the_user_hears_of_an_outage_after_three_attempts(
        make_engine: EngineFactory, fake: FakeAnthropic, clock: FakeClock) -> None:
    fake.enqueue(broken("truncated"), broken("garbage"), error(529),
                 tool_use("Sleep", {"seconds": 3000}))
    engine = make_engine()
    await engine.start(control_api=False)
    for attempt, deadline in ((1, 15), (2, 45), (3, 105)):
        await wait_for(engine, lambda d=deadline: d in clock.deadlines, what=f"retry {attempt}")
        assert engine.status.state == "offline" and engine.status.detail
        assert len(engine.outbox.recent()) == (1 if attempt == 3 else 0)
        clock.advance(deadline - clock.monotonic())
    await wait_sleeping(engine, 1)
    [told] = engine.outbox.recent()
    assert told["text"].startswith("I can't answer right now: the model API is overloaded "
                                   "(529: Overloaded).")


async def test_a_hung_api_shows_offline_with_the_reason_within_the_timeout(
        make_engine: EngineFactory, fake: FakeAnthropic, home: Home) -> None:
    write_settings(home, {"modelTimeoutSeconds": 1})
    fake.enqueue(hang())
    queue_up(home, InboundItem(kind="user", text="anyone?"))
    engine = make_engine()
    loop = asyncio.get_running_loop()
    began = loop.time()
    await engine.start(control_api=False)
    await wait_for(engine, lambda: engine.status.state == "offline", timeout=10, what="offline")
    assert loop.time() - began < 3
    assert engine.status.detail == ("the model API did not answer within 1 s (setting "
                                    "modelTimeoutSeconds)")
    [told] = engine.outbox.recent()
    assert "did not answer within 1 s" in told["text"]
    fake.release_hangs()


async def test_a_wake_gives_up_a_hung_call_and_tries_again_at_once(
        make_engine: EngineFactory, fake: FakeAnthropic, home: Home) -> None:
    write_settings(home, {"modelTimeoutSeconds": 4})  # hung after 2 s of silence
    fake.enqueue(hang())
    fake.on_empty = answer_what_arrived
    queue_up(home, InboundItem(kind="user", text="ping"))
    engine = make_engine()
    await engine.start(control_api=False)
    await fake.await_requests(1)
    engine.app.wake()
    await wait_for(engine, lambda: any(m["text"] == "re: ping" for m in engine.outbox.recent()),
                   timeout=10, what="the answer after the wake")
    assert engine.status.state != "offline" and len(engine.outbox.recent()) == 1  # no outage
    assert "model call failed" not in engine.daily_log.read(engine.clock.now().date())
    fake.release_hangs()


async def test_a_new_message_gives_up_a_hung_call_and_goes_at_once(
        make_engine: EngineFactory, fake: FakeAnthropic, home: Home) -> None:
    write_settings(home, {"modelTimeoutSeconds": 4})
    fake.enqueue(hang())  # the first tick hangs
    fake.on_empty = answer_what_arrived
    engine = make_engine()
    await engine.start(control_api=False)
    await fake.await_requests(1)
    engine.app.send("are you stuck?")
    await wait_for(engine, lambda: any(m["text"] == "re: are you stuck?"
                                       for m in engine.outbox.recent()),
                   timeout=10, what="the answer")
    assert engine.status.state != "offline" and len(engine.outbox.recent()) == 1
    log = engine.daily_log.read(engine.clock.now().date())
    assert "given up on the user's wake" in log and "model call failed" not in log
    fake.release_hangs()


async def test_a_wake_cuts_a_backoff_short(
        make_engine: EngineFactory, fake: FakeAnthropic) -> None:
    fake.enqueue(error(500))
    fake.on_empty = answer_what_arrived
    engine = make_engine()
    await engine.start(control_api=False)
    await wait_for(engine, lambda: engine.status.state == "offline", what="offline")
    engine.app.wake()  # no time passes on the clock: the retry happens at once
    await fake.await_requests(2)
    await wait_sleeping(engine, 1)


async def test_items_a_stored_turn_consumed_are_not_sent_again_after_a_crash(
        make_engine: EngineFactory, fake: FakeAnthropic, home: Home) -> None:
    fake.on_empty = answer_what_arrived
    engine = make_engine()
    await engine.start(control_api=False)
    engine.app.send("only once please")
    await wait_for(engine, lambda: len(engine.outbox.recent()) == 1, what="the answer")
    await wait_sleeping(engine, 1)
    [item_doc] = engine.services.user_messages.recent()
    await engine.stop()
    # What a kill between storing the turn and acking its items leaves: the item still queued.
    queue_up(home, InboundItem(kind="user", text="only once please", id=item_doc["id"]))
    asked = len([r for r in fake.history if "only once please" in r.last_user_text])
    again: Engine = make_engine()
    await again.start(control_api=False)
    await wait_sleeping(again, 1)
    assert len([r for r in fake.history if "only once please" in r.last_user_text]) == asked
    assert len(again.queue) == 0
    assert "were answered before the app stopped" in again.daily_log.read(
        again.clock.now().date())
