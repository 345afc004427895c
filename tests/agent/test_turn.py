"""The agent turn on its own, against the fake Messages API and a FakeClock: tools until a reply
without calls, stop tools, backoff that waits on the clock, clipping, logging, usage."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from kairos_desktop.agent.turn import (
    TOOL_RESULT_MAX_CHARS,
    AgentRunner,
    Message,
    Request,
    RetryPolicy,
    StopRequested,
    TurnSpec,
)
from kairos_desktop.clock import FakeClock
from kairos_desktop.delivery.deliveries import Deliveries
from kairos_desktop.delivery.inbox import Inbox
from kairos_desktop.delivery.notifier import ConsoleNotifier
from kairos_desktop.delivery.outbox import Outbox
from kairos_desktop.errors import ModelUnavailableError
from kairos_desktop.events import Event, EventBus
from kairos_desktop.journal import DailyLog
from kairos_desktop.model import ModelClient
from kairos_desktop.paths import FolderPolicy
from kairos_desktop.settings import Settings
from kairos_desktop.store import Store
from kairos_desktop.tools.base import Tool, ToolContext, ToolRegistry, ToolResult, TurnState
from kairos_desktop.usage import UsageLedger
from tests.fakes.anthropic_server import (
    FakeAnthropic,
    broken,
    delay,
    error,
    hang,
    text,
    tool_use,
    tool_uses,
)


class _Text(BaseModel):
    text: str = ""


async def _echo(ctx: ToolContext, args: _Text) -> ToolResult:
    return ToolResult(args.text)


async def _big(ctx: ToolContext, args: _Text) -> ToolResult:
    return ToolResult("x" * (TOOL_RESULT_MAX_CHARS + 10_000))


async def _stop(ctx: ToolContext, args: _Text) -> ToolResult:
    return ToolResult("stopping")


TOOLS = ToolRegistry([Tool("Echo", "Say it back.", _Text, _echo),
                      Tool("Big", "A very long answer.", _Text, _big),
                      Tool("Stop", "End the turn.", _Text, _stop)])
SYSTEM = [{"type": "text", "text": "You are a test."}]


def request(messages: list[Message]) -> Request:
    return SYSTEM, TOOLS.definitions(), messages


@dataclass
class Parts:
    """What a runner needs, built without an Engine; `client` is what the model callable
    returns at each call."""

    clock: FakeClock
    client: ModelClient | None
    bus: EventBus
    log: DailyLog
    usage: UsageLedger
    ctx: ToolContext
    events: list[Event] = field(default_factory=list)
    retries: list[tuple[int, float, bool]] = field(default_factory=list)
    errors: list[ModelUnavailableError] = field(default_factory=list)
    retried: asyncio.Event = field(default_factory=asyncio.Event)

    def runner(self, **kwargs: Any) -> AgentRunner:
        async def on_retry(exc: ModelUnavailableError, attempt: int, wait: float) -> None:
            self.retries.append((attempt, wait, exc.retryable))
            self.errors.append(exc)
            self.retried.set()

        options: dict[str, Any] = {"on_retry": on_retry, **kwargs}
        return AgentRunner(model=lambda: self.client, settings=lambda: self.ctx.settings,
                           usage=self.usage, bus=self.bus, daily_log=self.log, clock=self.clock,
                           **options)

    def spec(self, **kwargs: Any) -> TurnSpec:
        options: dict[str, Any] = {"max_iterations": 10, **kwargs}
        return TurnSpec(request=request, tools=TOOLS, ctx=self.ctx, **options)

    def today(self) -> str:
        return self.log.read(self.clock.now().date())

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]

    async def next_retry(self) -> tuple[int, float, bool]:
        async with asyncio.timeout(5):
            await self.retried.wait()
        self.retried.clear()
        return self.retries[-1]


@pytest.fixture
async def parts(tmp_path: Path, clock: FakeClock, fake: FakeAnthropic) -> AsyncIterator[Parts]:
    store = Store(tmp_path / "store.json")
    bus = EventBus()
    log = DailyLog(tmp_path / "logs", clock)
    settings = Settings()
    policy = FolderPolicy(tmp_path / "workspace", [])
    deliveries = Deliveries(
        outbox=Outbox(store, clock), notifier=ConsoleNotifier(io.StringIO()), daily_log=log,
        inbox=Inbox(store, tmp_path / "inbox", clock, max_bytes=1_000_000), bus=bus,
        settings=lambda: settings, policy=lambda: policy)
    ctx = ToolContext(settings=settings, policy=policy, deliveries=deliveries, daily_log=log,
                      clock=clock, turn=TurnState())
    client = ModelClient("test-key", base_url=fake.base_url, max_retries=0)
    result = Parts(clock, client, bus, log, UsageLedger(store, clock), ctx)
    bus.subscribe(result.events.append)
    yield result
    await client.close()
    store.close()


def first_message() -> list[Message]:
    return [{"role": "user", "content": [{"type": "text", "text": "go"}]}]


async def test_tools_run_until_a_reply_without_calls_and_every_call_is_recorded(
        parts: Parts, fake: FakeAnthropic) -> None:
    fake.enqueue(tool_use("Echo", {"text": "hello"}), text("all done"))
    messages = first_message()
    result = await parts.runner().run(parts.spec(), messages)
    assert (result.ended, result.calls, result.tools) == ("reply", 2, ["Echo"])
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    answer = fake.history[1].messages[-1]["content"][0]
    assert answer["type"] == "tool_result" and answer["content"] == "hello"
    assert '**tool Echo** {"text": "hello"} -> hello' in parts.today()
    assert parts.kinds() == ["usage", "tool", "usage"]
    assert parts.usage.day()["calls"] == 2


async def test_a_429_and_an_overload_are_waited_out_on_the_clock(
        parts: Parts, fake: FakeAnthropic, clock: FakeClock) -> None:
    fake.enqueue(error(429), error(529), tool_use("Echo", {"text": "back"}), text("done"))
    turn = asyncio.create_task(parts.runner().run(parts.spec(), first_message()))
    for attempt, wait, deadline in ((1, 15.0, 15.0), (2, 30.0, 45.0)):
        assert await parts.next_retry() == (attempt, wait, True)
        assert deadline in clock.deadlines and not turn.done()
        assert len(fake.history) == attempt  # nothing is sent before the wait is over
        clock.advance(deadline - clock.monotonic())
    result = await asyncio.wait_for(turn, 5)
    assert result.ended == "reply" and result.calls == 2
    assert [r.reply_status for r in fake.history] == [429, 529, 200, 200]
    assert fake.history[0].body == fake.history[2].body  # the same request, tried again
    assert parts.usage.day()["calls"] == 2  # failed calls cost nothing


async def test_the_policy_gives_up_after_its_attempts(
        parts: Parts, fake: FakeAnthropic, clock: FakeClock) -> None:
    fake.enqueue(error(500), error(500))
    runner = parts.runner(retry=RetryPolicy(max_attempts=2))
    turn = asyncio.create_task(runner.run(parts.spec(), first_message()))
    assert await parts.next_retry() == (1, 15.0, True)
    clock.advance(15)
    with pytest.raises(ModelUnavailableError, match="internal error") as caught:
        await asyncio.wait_for(turn, 5)
    assert (caught.value.kind, caught.value.status) == ("server error", 500)
    assert len(fake.history) == 2 and len(parts.retries) == 1


async def test_a_request_that_cannot_succeed_fails_at_once_when_the_policy_says_so(
        parts: Parts, fake: FakeAnthropic) -> None:
    fake.enqueue(error(404, message="model: claude-nope"))
    runner = parts.runner(retry=RetryPolicy(give_up_non_retryable=True))
    with pytest.raises(ModelUnavailableError, match="claude-nope") as caught:
        await runner.run(parts.spec(), first_message())
    assert caught.value.retryable is False and parts.retries == []


async def test_the_client_is_read_at_every_call(
        parts: Parts, fake: FakeAnthropic, clock: FakeClock) -> None:
    client, parts.client = parts.client, None  # no key yet: the call waits for one
    fake.enqueue(text("hello"))
    turn = asyncio.create_task(parts.runner().run(parts.spec(), first_message()))
    assert await parts.next_retry() == (1, 600.0, False)
    assert fake.history == []
    parts.client = client  # a key is saved during the wait
    clock.advance(600)
    result = await asyncio.wait_for(turn, 5)
    assert result.calls == 1 and len(fake.history) == 1


async def test_the_wait_can_abandon_the_turn(parts: Parts, fake: FakeAnthropic) -> None:
    async def stopping(_: float) -> None:
        raise StopRequested

    fake.enqueue(error(429))
    with pytest.raises(StopRequested):
        await parts.runner(wait=stopping).run(parts.spec(), first_message())


async def test_a_stop_tool_ends_the_turn_after_its_batch(
        parts: Parts, fake: FakeAnthropic) -> None:
    fake.enqueue(tool_uses(("Stop", {}), ("Echo", {"text": "also this"})))
    messages = first_message()
    result = await parts.runner().run(parts.spec(stop_tools=frozenset({"Stop"})), messages)
    assert (result.ended, result.calls, result.tools) == ("stopped", 1, ["Stop", "Echo"])
    assert [b["content"] for b in messages[-1]["content"]] == ["stopping", "also this"]
    assert "**tool Stop**" in parts.today() and "**tool Echo**" in parts.today()


async def test_a_stop_call_alone_is_left_for_the_caller_to_answer_when_it_resumes(
        parts: Parts, fake: FakeAnthropic) -> None:
    fake.enqueue(tool_use("Stop", {}))
    messages = first_message()
    spec = parts.spec(stop_tools=frozenset({"Stop"}), resume_answer="Woke up.")
    result = await parts.runner().run(spec, messages)
    assert result.ended == "stopped"
    assert messages[-1]["role"] == "assistant"  # the Stop call is unanswered
    assert "**tool Stop**" not in parts.today() and "tool" not in parts.kinds()


async def test_a_stop_call_with_others_is_answered_with_the_resume_text(
        parts: Parts, fake: FakeAnthropic) -> None:
    fake.enqueue(tool_uses(("Stop", {}), ("Echo", {"text": "sent"})))
    messages = first_message()
    spec = parts.spec(stop_tools=frozenset({"Stop"}), resume_answer="Woke up.")
    await parts.runner().run(spec, messages)
    stop_id, echo_id = (b["id"] for b in messages[-2]["content"])
    answers = [(b["tool_use_id"], b["content"]) for b in messages[-1]["content"]]
    assert answers == [(echo_id, "sent"), (stop_id, "Woke up.")]


async def test_a_failed_stop_call_does_not_stop_the_turn(
        parts: Parts, fake: FakeAnthropic) -> None:
    fake.enqueue(tool_use("Stop", {"text": ["not", "a", "string"]}), text("ok then"))
    result = await parts.runner().run(parts.spec(stop_tools=frozenset({"Stop"})),
                                      first_message())
    assert result.ended == "reply" and result.calls == 2
    assert "**tool Stop**" in parts.today() and "-> ERROR Invalid arguments" in parts.today()


async def test_long_results_are_clipped_for_the_model_and_previewed_in_the_log(
        parts: Parts, fake: FakeAnthropic) -> None:
    fake.enqueue(tool_use("Big", {}), text("read it"))
    await parts.runner().run(parts.spec(), first_message())
    sent = fake.history[1].messages[-1]["content"][0]["content"]
    assert sent == "x" * TOOL_RESULT_MAX_CHARS + f"\n[cut at {TOOL_RESULT_MAX_CHARS} characters]"
    [line] = [line for line in parts.today().splitlines() if "**tool Big**" in line]
    assert "x" * 397 + "..." in line and "x" * 398 not in line
    [event] = [e for e in parts.events if e.kind == "tool"]
    assert len(event.data["result"]) == TOOL_RESULT_MAX_CHARS + 10_000  # the panel has it all


async def test_iterations_are_bounded(parts: Parts, fake: FakeAnthropic) -> None:
    fake.enqueue(*[tool_use("Echo", {"text": str(n)}) for n in range(3)])
    messages = first_message()
    result = await parts.runner().run(parts.spec(max_iterations=2), messages)
    assert (result.ended, result.calls) == ("max_iterations", 2)
    assert messages[-1]["content"][0]["content"] == "1" and fake.pending == 1


async def test_the_log_kind_and_the_tool_events_are_the_callers(
        parts: Parts, fake: FakeAnthropic) -> None:
    fake.enqueue(tool_use("Echo", {"text": "quiet"}), text("done"))
    runner = parts.runner(log_kind="dream tool", tool_events=False)
    await runner.run(parts.spec(), first_message())
    assert '**dream tool Echo** {"text": "quiet"} -> quiet' in parts.today()
    assert parts.kinds() == ["usage", "usage"]


async def test_hooks_see_every_reply_and_every_batch(parts: Parts, fake: FakeAnthropic) -> None:
    fake.enqueue(tool_use("Echo", {"text": "a"}), tool_use("Echo", {"text": "b"}), text("c"))
    seen: list[str] = []

    def after_tools() -> None:
        seen.append("batch")
        if seen.count("batch") == 2:
            raise RuntimeError("enough")

    spec = parts.spec(on_reply=lambda reply: seen.append(reply.stop_reason or ""),
                      after_tools=after_tools)
    with pytest.raises(RuntimeError, match="enough"):
        await parts.runner().run(spec, first_message())
    assert seen == ["tool_use", "batch", "tool_use", "batch"]


def test_backoff_doubles_up_to_its_cap() -> None:
    policy = RetryPolicy()
    again = ModelUnavailableError("busy", retryable=True)
    waits = [policy.wait_s(n, again) for n in range(1, 10)]
    assert waits == [15, 30, 60, 120, 240, 480, 900, 900, 900]
    assert policy.wait_s(1, ModelUnavailableError("bad key", retryable=False)) == 600
    assert RetryPolicy(max_attempts=3).wait_s(3, again) is None


# -- every failure of a call is one error, named for what it is ----------------------------------

@pytest.mark.parametrize("kind", ["truncated", "bad_sse", "garbage"])
async def test_a_broken_reply_is_named_and_waited_out_like_any_failure(
        parts: Parts, fake: FakeAnthropic, clock: FakeClock, kind: str) -> None:
    fake.enqueue(broken(kind, tool_use("Echo", {"text": "half"})), text("whole"))
    turn = asyncio.create_task(parts.runner().run(parts.spec(), first_message()))
    assert await parts.next_retry() == (1, 15.0, True)
    [failure] = parts.errors
    assert failure.kind == "broken reply"
    assert str(failure).startswith("the model API sent a broken reply (")
    assert parts.kinds() == []  # a half reply is never taken for an answer: no tool ran
    clock.advance(15)
    result = await asyncio.wait_for(turn, 5)
    assert (result.ended, result.calls, result.tools) == ("reply", 1, [])


@pytest.mark.parametrize(("reply", "kind", "words"), [
    (error(400, message="prompt is too long: 250000 tokens > 200000 maximum"), "refused",
     "the model API refused the request (400: prompt is too long"),
    (error(413), "refused", "the model API refused the request (413: Request exceeds"),
    (error(529), "overloaded", "the model API is overloaded (529: Overloaded)"),
    (error(429), "rate limited", "the model API's rate limit was reached (429"),
    (error(500), "server error", "the model API had an internal error (500"),
    (error(401), "key rejected", "rejected the API key"),
    (error(400, message="Your credit balance is too low to access the Anthropic API."),
     "no credit", "has no credit left"),
    (error(404, message="model: claude-nope"), "unknown model", "claude-nope"),
])
async def test_each_failure_has_its_kind_and_words(
        parts: Parts, fake: FakeAnthropic, reply: Any, kind: str, words: str) -> None:
    fake.enqueue(reply)
    runner = parts.runner(retry=RetryPolicy(max_attempts=1))
    with pytest.raises(ModelUnavailableError) as caught:
        await runner.run(parts.spec(), first_message())
    assert caught.value.kind == kind and words in str(caught.value)


async def test_a_refused_request_is_never_sent_again_as_it_was(
        parts: Parts, fake: FakeAnthropic) -> None:
    fake.refuse("A HUGE PASTE")
    messages = [{"role": "user", "content": [{"type": "text", "text": "A HUGE PASTE"}]}]
    with pytest.raises(ModelUnavailableError) as caught:
        await parts.runner().run(parts.spec(), messages)  # the heartbeat's policy: never gives up
    assert (caught.value.kind, caught.value.status) == ("refused", 400)
    assert "prompt is too long" in str(caught.value)
    assert len(fake.history) == 1 and parts.retries == []  # no wait, no second try


async def test_refused_tool_results_are_replaced_by_a_note_and_the_turn_goes_on(
        parts: Parts, fake: FakeAnthropic) -> None:
    fake.refuse("x" * 100, message="messages.2.content.0: image is not valid")
    fake.enqueue(tool_use("Big", {}), text("I could not read it"))
    messages = first_message()
    result = await parts.runner().run(parts.spec(), messages)
    assert (result.ended, result.calls) == ("reply", 2)
    [note] = messages[2]["content"]
    assert note["is_error"] is True and "xxx" not in note["content"]
    assert "the model API refused it" in note["content"] and "image is not valid" in note["content"]
    assert [r.reply_status for r in fake.history] == [200, 400, 200]


# -- a hung call --------------------------------------------------------------------------------

async def test_a_call_silent_for_the_timeout_is_given_up_as_timed_out(
        parts: Parts, fake: FakeAnthropic, clock: FakeClock) -> None:
    parts.ctx.settings.model_timeout_seconds = 1
    fake.enqueue(hang(), text("back"))
    turn = asyncio.create_task(parts.runner().run(parts.spec(), first_message()))
    assert await parts.next_retry() == (1, 15.0, True)
    [failure] = parts.errors
    assert failure.kind == "timed out"
    assert str(failure) == ("the model API did not answer within 1 s (setting "
                            "modelTimeoutSeconds)")
    clock.advance(15)
    result = await asyncio.wait_for(turn, 5)
    assert result.calls == 1 and len(fake.history) == 2


async def test_a_nudge_gives_up_a_hung_call_and_tries_again_at_once(
        parts: Parts, fake: FakeAnthropic) -> None:
    parts.ctx.settings.model_timeout_seconds = 4  # hung after 2 s of silence; given up at 4
    fake.enqueue(hang(), text("here"))
    runner = parts.runner()
    turn = asyncio.create_task(runner.run(parts.spec(), first_message()))
    await fake.await_requests(1)
    runner.nudge()  # the hung call is given up at 2 s of silence: no backoff, no failure
    result = await asyncio.wait_for(turn, 15)
    assert result.calls == 1 and parts.retries == []
    assert "given up on the user's wake, trying again now" in parts.today()


async def test_a_nudge_leaves_a_call_that_answers_alone(
        parts: Parts, fake: FakeAnthropic) -> None:
    parts.ctx.settings.model_timeout_seconds = 6  # hung after 3 s of silence
    fake.enqueue(delay(0.5, text("slow but fine")))
    runner = parts.runner()
    turn = asyncio.create_task(runner.run(parts.spec(), first_message()))
    await fake.await_requests(1)
    runner.nudge()
    result = await asyncio.wait_for(turn, 5)
    assert result.calls == 1 and len(fake.history) == 1
