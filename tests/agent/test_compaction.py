"""Compaction written by the model: past contextBudgetTokens the oldest turns are summarised by
a model call (through the agent turn), the summary is kept with the session and the next
request carries it instead of those turns; a failed summary keeps everything and is tried again
at the next turn, once per turn."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date

from kairos_desktop.clock import FakeClock
from kairos_desktop.home import Home
from kairos_desktop.transcript import Transcript, new_session_id
from tests.conftest import EngineFactory, wait_sleeping, write_settings
from tests.fakes.anthropic_server import (
    FakeAnthropic,
    RecordedRequest,
    Reply,
    error,
    text,
    tool_use,
)

BUDGET = 5_000  # the smallest contextBudgetTokens
SUMMARY = ("- 2026-11-21 09:00: the user asked for the quarterly figures; the assistant found "
           "them in ~/reports/q3.xlsx (revenue 1.2M) and promised a chart by 2026-11-23.")


def _seed(home: Home, clock: FakeClock, turns: int) -> None:
    """A stored session of `turns` turns of about 600 tokens each, each with a unique word."""
    transcript = Transcript.open(home.sessions_dir, new_session_id(clock.now()))
    for i in range(turns):
        at = f"2026-11-21T{9 + i:02d}:00:00+01:00"
        transcript.append_turn([
            {"role": "user", "content": [{"type": "text", "text": (
                f'<message from="user">\nold-request-{i}: ' + "words " * 380 + "\n</message>")}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": f"r{i}",
                                               "name": "ReadFile", "input": {"path": f"f{i}"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"r{i}",
                                          "content": f"found-fact-{i}"}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": f"s{i}",
                                               "name": "Sleep", "input": {"seconds": 3300}}]},
        ], at)


def _is_summary(request: RecordedRequest) -> bool:
    return "summary that replaces the oldest part" in request.system_text


def _model(summaries: list[Reply]) -> Callable[[RecordedRequest], Reply]:
    """The fake's answer to anything unscripted: the summariser gets the next of `summaries`,
    a turn answers the user once and sleeps."""
    def answer(request: RecordedRequest) -> Reply:
        if _is_summary(request):
            return summaries.pop(0)
        if request.messages[-1]["content"][-1].get("type") == "text":
            return tool_use("SendUserMessage", {"message": "noted", "status": "normal"})
        return tool_use("Sleep", {"seconds": 3000})
    return answer


async def test_past_the_budget_the_oldest_turns_are_summarised_and_replaced_by_the_summary(
        make_engine: EngineFactory, fake: FakeAnthropic, home: Home, clock: FakeClock) -> None:
    write_settings(home, {"contextBudgetTokens": BUDGET, "maxSleepDurationMs": -1})
    _seed(home, clock, 8)  # about 4,800 tokens: the next turn takes it past the budget
    fake.on_empty = _model([text(SUMMARY)])
    engine = make_engine()
    await engine.start(resume=True, control_api=False)
    await wait_sleeping(engine, 1)
    [summariser] = [r for r in fake.history if _is_summary(r)]
    asked = summariser.last_user_text
    assert "old-request-0" in asked and "found-fact-0" in asked  # what the tools found too
    assert "2026-11-21T09:00:00+01:00" in asked  # absolute times
    assert summariser.tool_names == []
    for words in ("asked for", "decided", "what the tools found", "promised", "still open",
                  "absolute date"):
        assert words in summariser.system_text
    assert engine.transcript.summary == SUMMARY
    assert engine.transcript.context_tokens() <= BUDGET
    engine.app.send("and the chart?")
    await wait_sleeping(engine, 2)
    after = fake.history[-2]  # the next turn's first request
    sent = json.dumps(after.messages)
    assert "and the chart?" in after.last_user_text
    assert "revenue 1.2M" in sent and "<earlier-conversation" in sent
    assert "old-request-0" not in sent and "found-fact-0" not in sent
    # Kept with the session: a restart resumes the summary; the file still holds every turn.
    reopened = Transcript.open(home.sessions_dir, engine.transcript.session_id)
    assert reopened.summary == SUMMARY
    assert "old-request-0" in engine.transcript.path.read_text()
    assert [r.get("caller") for r in engine.usage.turns()].count("compaction") == 1
    log = engine.daily_log.read(date(2026, 11, 22))
    assert "summarised by" in log


async def test_a_failed_summary_keeps_the_whole_context_and_the_next_turn_tries_again(
        make_engine: EngineFactory, fake: FakeAnthropic, home: Home, clock: FakeClock) -> None:
    write_settings(home, {"contextBudgetTokens": BUDGET, "maxSleepDurationMs": -1})
    _seed(home, clock, 8)
    fake.on_empty = _model([error(500), text(SUMMARY)])
    engine = make_engine()
    await engine.start(resume=True, control_api=False)
    await wait_sleeping(engine, 1)
    assert len([r for r in fake.history if _is_summary(r)]) == 1  # once per turn
    assert engine.transcript.summary == ""
    assert len(engine.transcript.turns) == 9  # nothing folded, nothing lost
    log = engine.daily_log.read(date(2026, 11, 22))
    assert "could not summarise" in log and "the full context is kept" in log
    engine.app.send("still there?")
    await wait_sleeping(engine, 2)
    next_turn = [r for r in fake.history if not _is_summary(r)][-2]
    assert "old-request-0" in json.dumps(next_turn.messages)  # the full context was sent
    assert len([r for r in fake.history if _is_summary(r)]) == 2  # tried again, once
    assert engine.transcript.summary == SUMMARY
