"""The light tick: a wake-up with nothing a person sent and no scheduled prompt is answered on a
small bounded context by heartbeatModel (Sleep or Act); Act runs the full turn on the main model;
what a person sent and scheduled prompts skip it. Against the fake Messages API, which records
each request's model, tools, body and usage."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from kairos_desktop.clock import FakeClock
from kairos_desktop.home import Home
from kairos_desktop.queue import InboundItem
from kairos_desktop.settings import DEFAULT_HEARTBEAT_MODEL, DEFAULT_MODEL, Settings
from kairos_desktop.transcript import Transcript, new_session_id
from tests.conftest import EngineFactory, wait_for, wait_sleeping, write_settings
from tests.fakes.anthropic_server import (
    FakeAnthropic,
    RecordedRequest,
    error,
    prompt_tokens,
    tool_use,
)

LIGHT_ON = {"heartbeatModel": DEFAULT_HEARTBEAT_MODEL}


def _conversation(home: Home, clock: FakeClock, turns: int, *, marker: str = "turn") -> str:
    """A stored session of `turns` turns (about 1,000 tokens each) the engine resumes."""
    session = new_session_id(clock.now())
    transcript = Transcript.open(home.sessions_dir, session)
    for i in range(turns):
        transcript.append_turn([
            {"role": "user", "content": [{"type": "text", "text": (
                f'<tick time="2026-11-21T{i % 24:02d}:00:00+01:00" user="present"/>\n\n'
                f'<message from="user">\n{marker} {i}: ' + "details " * 450 + "\n</message>")}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": f"t{i}",
                                               "name": "SendUserMessage", "input": {
                                                   "message": f"done {marker} {i}",
                                                   "status": "normal"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"t{i}",
                                          "content": "Delivered"}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": f"s{i}",
                                               "name": "Sleep", "input": {"seconds": 3300}}]},
        ], f"2026-11-21T{i % 24:02d}:00:00+01:00")
    return session


def _queue(home: Home, item: InboundItem) -> None:
    """An item waiting in the home's queue when the engine starts."""
    from kairos_desktop.queue import InboundQueue
    from kairos_desktop.store import Store

    store = Store(home.store_file)
    InboundQueue(store).put(item)
    store.close()


def _prefix(request: RecordedRequest) -> str:
    """The cached part of a request as sent: tools and system, byte for byte."""
    return json.dumps({"tools": request.body["tools"], "system": request.body["system"]})


async def test_a_plain_tick_goes_to_the_heartbeat_model_with_only_sleep_and_act(
        make_engine: EngineFactory, fake: FakeAnthropic, home: Home) -> None:
    write_settings(home, LIGHT_ON)
    fake.enqueue(tool_use("Sleep", {"seconds": 3000}))
    engine = make_engine()
    await engine.start(control_api=False)
    await wait_sleeping(engine, 1)
    [request] = fake.history
    assert request.model == DEFAULT_HEARTBEAT_MODEL
    assert request.tool_names == ["Sleep", "Act"]
    assert "You are the heartbeat of Kairos" in request.system_text
    assert "# Your memory" in request.system_text and "# Open tasks" in request.system_text
    assert '<tick time="2026-11-22T09:00:00+01:00"' in request.last_user_text
    assert engine.transcript.turns == []  # a quiet light tick stores nothing
    log = engine.daily_log.read(date(2026, 11, 22))
    assert f"quiet; sleeping 50 min (light tick on {DEFAULT_HEARTBEAT_MODEL})" in log
    assert engine.usage.day()["models"] == [DEFAULT_HEARTBEAT_MODEL]  # priced as the small one


async def test_quiet_ticks_send_the_same_cached_prefix_whatever_the_conversation_size(
        make_engine: EngineFactory, fake: FakeAnthropic, home: Home, clock: FakeClock) -> None:
    write_settings(home, LIGHT_ON)
    fake._clock = clock.monotonic  # the fake's cache TTL runs on the test's clock
    _conversation(home, clock, 40)  # about 40,000 tokens of history
    fake.enqueue(*[tool_use("Sleep", {"seconds": 3300}) for _ in range(3)])
    engine = make_engine()
    await engine.start(resume=True, control_api=False)
    assert engine.transcript.context_tokens() > 35_000
    for n in (1, 2):
        await wait_sleeping(engine, n)
        clock.advance(3300)
    await wait_sleeping(engine, 3)
    first, second, third = fake.history
    assert _prefix(first) == _prefix(second) == _prefix(third)  # byte for byte
    assert "2026-11-22T09:55" not in _prefix(second)  # the tick's time is not in the prefix
    assert '<tick time="2026-11-22T09:55:00+01:00"' in second.last_user_text
    assert second.body["messages"] != first.body["messages"]
    # Bounded: the digest of the last turns, not the 40,000 tokens of the conversation.
    assert prompt_tokens(second.body) < 6_000
    assert "done turn 39" in second.system_text and "done turn 30" not in second.system_text
    usage = third.usage or {}
    assert usage["cache_creation_input_tokens"] == 0
    assert usage["cache_read_input_tokens"] > 0.8 * prompt_tokens(third.body)


async def test_act_runs_the_full_turn_on_the_main_model_with_the_reason_in_the_tick(
        make_engine: EngineFactory, fake: FakeAnthropic, home: Home, clock: FakeClock) -> None:
    write_settings(home, LIGHT_ON)
    _conversation(home, clock, 3, marker="errand")
    fake.enqueue(tool_use("Act", {"reason": "the review on PR #7 asks for changes"}),
                 tool_use("SendUserMessage", {"message": "PR #7 needs changes.",
                                              "status": "proactive"}),
                 tool_use("Sleep", {"seconds": 3000}))
    _queue(home, InboundItem(kind="pr", text="review: please rename the flag",
                             source="github:o/r#7", external=True))
    engine = make_engine()
    await engine.start(resume=True, control_api=False)
    await wait_sleeping(engine, 1)
    light, full, _ = fake.history
    assert light.model == DEFAULT_HEARTBEAT_MODEL and "please rename the flag" in \
        light.last_user_text
    assert full.model == DEFAULT_MODEL
    assert {"SendUserMessage", "CronCreate", "Sleep"} <= set(full.tool_names)
    assert "MUST call Sleep" in full.system_text
    assert 'act_reason="the review on PR #7 asks for changes"' in full.last_user_text
    assert "please rename the flag" in full.last_user_text  # what arrived, once, in full
    assert "errand 0: details" in json.dumps(full.messages)  # the full context
    assert [m["text"] for m in engine.outbox.recent()] == ["PR #7 needs changes."]
    assert len(engine.queue) == 0


@pytest.mark.parametrize("kind", ["user", "channel", "cron"])
async def test_what_a_person_sent_and_scheduled_prompts_skip_the_light_tick(
        make_engine: EngineFactory, fake: FakeAnthropic, home: Home, kind: str) -> None:
    write_settings(home, {**LIGHT_ON, "maxSleepDurationMs": -1})
    fake.enqueue(tool_use("Sleep", {"seconds": 60}), tool_use("Sleep", {"seconds": 60}))
    engine = make_engine()
    await engine.start(control_api=False)
    await wait_sleeping(engine, 1)
    if kind == "user":
        engine.app.send("what is on today?")
    else:
        engine.queue.put(InboundItem(kind=kind, text="what is on today?",
                                     source="channel:team" if kind == "channel" else "task:t1",
                                     external=kind == "channel"))
    await wait_sleeping(engine, 2)
    assert [r.model for r in fake.history] == [DEFAULT_HEARTBEAT_MODEL, DEFAULT_MODEL]
    assert "what is on today?" in fake.history[1].last_user_text
    assert "SendUserMessage" in fake.history[1].tool_names


async def test_a_built_in_check_in_asks_the_heartbeat_first_and_a_users_task_does_not(
        make_engine: EngineFactory, fake: FakeAnthropic, home: Home) -> None:
    write_settings(home, {**LIGHT_ON, "maxSleepDurationMs": -1})
    fake.on_empty = tool_use("Sleep", {"seconds": 60})
    engine = make_engine()
    await engine.start(control_api=False)
    await wait_sleeping(engine, 1)
    check_in = {t.builtin: t for t in engine.scheduler.tasks()}["daily-catch-up"]
    mine = engine.scheduler.create("0 12 * * *", "water the plants", recurring=True,
                                   durable=True)
    for turn, task in enumerate((check_in, mine), start=2):
        engine.queue.put(InboundItem(kind="cron", text=task.prompt, source=f"task:{task.id}",
                                     meta={"taskId": task.id}))
        await wait_sleeping(engine, turn)
    _, catch_up, plants = fake.history
    assert catch_up.model == DEFAULT_HEARTBEAT_MODEL and "Daily catch-up" in \
        catch_up.last_user_text
    assert plants.model == DEFAULT_MODEL and "water the plants" in plants.last_user_text


async def test_a_folder_change_the_heartbeat_sleeps_on_is_acked_and_not_stored(
        make_engine: EngineFactory, fake: FakeAnthropic, home: Home) -> None:
    write_settings(home, {**LIGHT_ON, "maxSleepDurationMs": -1})
    fake.enqueue(tool_use("Sleep", {"seconds": 60}), tool_use("Sleep", {"seconds": 60}))
    engine = make_engine()
    await engine.start(control_api=False)
    await wait_sleeping(engine, 1)
    engine.queue.put(InboundItem(kind="folder", text="notes/todo.md changed",
                                 source="folder:~/notes", external=True))
    await wait_sleeping(engine, 2)
    assert [r.model for r in fake.history] == [DEFAULT_HEARTBEAT_MODEL] * 2
    assert '<external source="folder:~/notes"' in fake.history[1].last_user_text
    assert len(engine.queue) == 0 and engine.transcript.turns == []
    assert "notes/todo.md changed" in engine.daily_log.read(date(2026, 11, 22))


async def test_a_message_sent_while_the_heartbeat_waits_out_an_outage_goes_to_the_full_turn(
        make_engine: EngineFactory, fake: FakeAnthropic, home: Home) -> None:
    write_settings(home, LIGHT_ON)
    fake.enqueue(error(529), tool_use("SendUserMessage", {"message": "Here now.",
                                                           "status": "normal"}),
                 tool_use("Sleep", {"seconds": 3000}), tool_use("Sleep", {"seconds": 3000}))
    engine = make_engine()
    await engine.start(control_api=False)
    await wait_for(engine, lambda: engine.status.state == "offline", what="the outage")
    engine.app.send("are you there?")
    await wait_sleeping(engine, 2)  # the turn, then a tick (the arrival also cut the wait)
    failed, full, _, _ = fake.history
    assert failed.model == DEFAULT_HEARTBEAT_MODEL and full.model == DEFAULT_MODEL
    assert "are you there?" in full.last_user_text
    assert [m["text"] for m in engine.outbox.recent()] == ["Here now."]


async def test_a_heartbeat_model_the_api_does_not_know_hands_over_and_the_user_is_told(
        make_engine: EngineFactory, fake: FakeAnthropic, home: Home) -> None:
    write_settings(home, {"heartbeatModel": "claude-haiku-9-9"})
    fake.enqueue(error(404, message="model: claude-haiku-9-9"),
                 tool_use("Sleep", {"seconds": 3000}))
    engine = make_engine()
    await engine.start(control_api=False)
    await wait_sleeping(engine, 1)
    assert [r.model for r in fake.history] == ["claude-haiku-9-9", DEFAULT_MODEL]
    [told] = [m["text"] for m in engine.outbox.recent()]
    assert "heartbeat model claude-haiku-9-9 (setting heartbeatModel) cannot be used" in told
    assert "404" in told and "kairos settings set heartbeatModel same" in told


async def test_same_uses_the_main_model_and_off_sends_every_tick_to_the_full_turn(
        make_engine: EngineFactory, fake: FakeAnthropic, home: Home, clock: FakeClock) -> None:
    write_settings(home, {"heartbeatModel": "same"})
    fake.enqueue(tool_use("Sleep", {"seconds": 3000}))
    engine = make_engine()
    await engine.start(control_api=False)
    await wait_sleeping(engine, 1)
    assert fake.history[0].model == DEFAULT_MODEL
    assert fake.history[0].tool_names == ["Sleep", "Act"]
    await engine.stop()
    write_settings(home, {"heartbeatModel": "off"})
    fake.enqueue(tool_use("Sleep", {"seconds": 3000}))
    engine = make_engine()
    await engine.start(control_api=False)
    await wait_sleeping(engine, 1)
    assert "SendUserMessage" in fake.history[1].tool_names
    assert "heartbeat model" not in fake.history[1].system_text


@pytest.mark.parametrize(("value", "words"), [
    ("haiku", "heartbeatModel must be an Anthropic model id like 'claude-haiku-5-5', \"same\" "
              "to use the model setting, or \"off\" to send every wake-up to the main model "
              "(not 'haiku')"),
    (3, "heartbeatModel must be text (not 3)"),
])
def test_a_bad_heartbeat_model_is_refused_in_words_and_changes_nothing(
        home: Home, value: Any, words: str) -> None:
    from kairos_desktop.errors import SettingsError
    from kairos_desktop.settings import update_settings_file

    before = home.settings_file.read_text()
    with pytest.raises(SettingsError) as caught:
        update_settings_file(home.settings_file, {"heartbeatModel": value})
    assert str(caught.value) == words and caught.value.key == "heartbeatModel"
    assert home.settings_file.read_text() == before
    assert Settings().heartbeat_model == DEFAULT_HEARTBEAT_MODEL
