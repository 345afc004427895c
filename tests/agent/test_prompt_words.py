"""The words the user and the model read: without an API key a message's answer says how to add
one and that it works at once, and once one is set the chat says the earlier answers are out of
date; a tick never tells the model an interaction lies in the future."""

from __future__ import annotations

from tests.conftest import EngineFactory, wait_for
from tests.fakes.anthropic_server import FakeAnthropic, tool_use

KEY = "sk-ant-api03-" + "k" * 80 + "Wxyz"


async def test_the_no_key_answer_names_every_way_and_asks_for_no_restart(
        make_engine: EngineFactory, fake: FakeAnthropic) -> None:
    engine = make_engine(api_key=None)
    await engine.start(control_api=False)
    await wait_for(engine, lambda: engine.status.state == "no_api_key", what="no key found")
    engine.app.send("hi")
    await wait_for(engine, lambda: len(engine.outbox.recent()) == 1, what="the no-key answer")
    text = engine.outbox.recent()[0]["text"]
    assert "restart" not in text.replace("no restart", "")
    assert "Settings" in text and "kairos key set" in text and "ANTHROPIC_API_KEY" in text
    assert "OS keyring" in text  # where `kairos key set` really puts it


async def test_setting_a_key_tells_the_chat_the_earlier_answers_are_out_of_date(
        make_engine: EngineFactory, fake: FakeAnthropic) -> None:
    fake.on_empty = tool_use("Sleep", {"seconds": 3000})
    engine = make_engine(api_key=None)
    await engine.start(control_api=False)
    await wait_for(engine, lambda: engine.status.state == "no_api_key", what="no key found")
    await engine.app.set_api_key(KEY)
    [latest, *_] = engine.outbox.recent()
    assert latest["status"] == "system"
    assert "The API key is set (sk-ant-…Wxyz)" in latest["text"] and "send it again" in latest[
        "text"]


def test_a_tick_never_says_the_last_interaction_was_in_the_future() -> None:
    from datetime import datetime, timedelta

    from kairos_desktop.agent.prompts import tick_block

    now = datetime(2026, 11, 22, 9, 0)
    block = tick_block(now, present=True, last_interaction=now + timedelta(seconds=2))
    assert 'last_interaction="0 min ago"' in block
