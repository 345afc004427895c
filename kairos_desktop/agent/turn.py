"""One agent turn: model -> tools -> results, until the model stops.

The heartbeat loop and the dream run the same step, so both wait out an outage with the same
backoff, clip what a tool returns, log every tool call and record what every call cost. What
differs is the caller's: the request (the loop's cache breakpoints, the dream's prompt), the
tools and their context, which tool ends the turn, and how an outage is shown to the user.

Invariants:
- Every wait between attempts goes through the injected wait (by default the Clock); nothing here
  sleeps. The one wait in real time is a call's watchdog: it measures how long the connection
  has been silent, which a FakeClock's time knows nothing of.
- A call that shows no sign of life (no event of its stream) for modelTimeoutSeconds is given
  up as "timed out" and waited out like any failure; one silent for half that (at most
  HANG_AFTER_S) is given up at once and tried again when the caller nudges (a wake, a message).
- A request the API refuses for its content is never sent again as it was: a refused first call
  ends the turn (the caller sets aside what the turn carried); refused tool results are replaced
  by a note saying so and the call is tried once more.
- Every model call first asks the usage ledger (`check`): at the daily budget's cap it raises
  BudgetExceededError and no call is made, whoever the caller (a turn, a dream, a light tick,
  a compaction). Every successful call is recorded in the ledger before its reply is used, and
  every turn, finished or not, leaves one line: who ran it, its calls, its cost, its tools.
- The web's server tools run inside the call: their uses are logged and shown like a tool's
  (an error code included, never retried here), capped per turn, and a request the API refuses
  because of them is sent once more without them (off until the settings change).
- A tool result goes back to the model at most TOOL_RESULT_MAX_CHARS long; the daily log keeps a
  preview of LOG_PREVIEW_CHARS.
- Every tool_use a reply makes is answered in the next user message of the turn, except the stop
  call that ends a turn alone when `resume_answer` is set: its caller answers it when it resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ..errors import ModelUnavailableError
from ..model_types import ModelReply, ToolCall

# Types only: importing this module must not load the SDK (model.py) or the services.
if TYPE_CHECKING:
    from ..clock import Clock
    from ..events import EventBus
    from ..journal import DailyLog
    from ..model import ModelClient
    from ..settings import Settings
    from ..tools.base import ToolContext, ToolRegistry, ToolResult
    from ..usage import UsageLedger

Message = dict[str, Any]
# (system, tools, messages), as the Messages API takes them.
Request = tuple[list[dict[str, Any]], list[dict[str, Any]], list[Message]]
# Builds the request from the turn's messages so far; called again for every attempt, so that
# settings (and the history behind the loop's prefix) are read fresh.
RequestBuilder = Callable[[list[Message]], Request]
# Told of a failed call before the wait: (error, attempt number from 1, seconds until the retry).
RetryHook = Callable[[ModelUnavailableError, int, float], Awaitable[None]]
# Waits that many seconds before a retry; may return early, or raise to abandon the turn.
RetryWait = Callable[[float], Awaitable[None]]

TOOL_RESULT_MAX_CHARS = 50_000
LOG_PREVIEW_CHARS = 400
# A call silent this long (or half its timeout, if less) counts as hung when the caller nudges.
HANG_AFTER_S = 10.0


class StopRequested(Exception):
    """Raised by a RetryWait when its caller is stopping: the turn ends unfinished."""


class _Nudged(Exception):
    """A silent call was given up because the caller nudged: try again at once."""


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait after a failed call, doubling from base_s up to max_s. The SDK already
    retried quickly; these waits outlast an outage."""

    base_s: float = 15.0
    max_s: float = 900.0
    # Retrying the same request cannot help (a bad key, an unknown model): wait for a fix.
    non_retryable_s: float = 600.0
    max_attempts: int | None = None  # None: never give up (the heartbeat: nothing may be lost)
    give_up_non_retryable: bool = False

    def wait_s(self, attempt: int, exc: ModelUnavailableError) -> float | None:
        """Seconds to wait after failed attempt number `attempt` (from 1); None: give up."""
        if exc.refused:  # the same request would be refused again: never retried as it was
            return None
        if self.max_attempts is not None and attempt >= self.max_attempts:
            return None
        if not exc.retryable:
            return None if self.give_up_non_retryable else self.non_retryable_s
        return min(self.base_s * 2.0 ** (attempt - 1), self.max_s)


@dataclass
class TurnSpec:
    """One caller's turn: what to send, which tools it may use, and when it ends."""

    request: RequestBuilder
    tools: ToolRegistry
    ctx: ToolContext
    max_iterations: int
    cache_ttl: str = "5m"  # the TTL of the request's breakpoints: what its cache writes cost
    # The model its calls go to, and their output cap (None: the settings' model and
    # maxOutputTokens): the light tick runs on heartbeatModel with a small cap.
    model: str | None = None
    max_tokens: int | None = None
    # A successful call of one of these ends the turn once its batch of calls has run.
    stop_tools: frozenset[str] = frozenset()
    # Set when a stop call is answered by the caller as it resumes (Sleep: "Woke up." at the next
    # tick): a stop call is then left unanswered if it ends the turn alone, answered with this
    # text if other results go back with it, and never logged (the caller says how it ended).
    resume_answer: str | None = None
    on_reply: Callable[[ModelReply], None] | None = None  # after every successful call
    # Before a reply's tools run (the reply is the last of the messages): the caller stores it.
    before_tools: Callable[[], None] | None = None
    after_tools: Callable[[], None] | None = None  # after each batch; may raise to end the turn


@dataclass
class TurnResult:
    calls: int = 0  # successful model calls
    tools: list[str] = field(default_factory=list)  # every tool called, in order
    # "reply": a reply without tool calls; "stopped": a stop tool ran; "max_iterations": the
    # last iteration's results are the turn's last message, unanswered by the model.
    ended: Literal["reply", "stopped", "max_iterations"] = "reply"


class AgentRunner:
    """Runs turns for one caller. `model` is read at every call: a key saved meanwhile applies
    to the next call, a key removed makes the call fail (non-retryable) and wait."""

    def __init__(self, *, model: Callable[[], ModelClient | None],
                 settings: Callable[[], Settings], usage: UsageLedger, bus: EventBus,
                 daily_log: DailyLog, clock: Clock, retry: RetryPolicy | None = None,
                 on_retry: RetryHook | None = None, wait: RetryWait | None = None,
                 log_kind: str = "tool", tool_events: bool = True,
                 caller: str | None = None) -> None:
        self._model = model
        self._settings = settings
        self._usage = usage
        self._bus = bus
        self._log = daily_log
        self.retry = retry or RetryPolicy()
        self._on_retry = on_retry
        self._wait = wait or clock.sleep
        self._log_kind = log_kind  # a tool call's daily-log kind is f"{log_kind} {name}"
        self._tool_events = tool_events  # publish `tool` events (the panel shows them in chat)
        self._nudged = False  # nudge() came during the call in flight
        self._signal: asyncio.Event | None = None  # wakes the watchdog of the call in flight
        # Who runs the turns, as the usage history names it: "turn" (the heartbeat), "dream"...
        self.caller = caller or (log_kind.removesuffix("tool").strip() or "turn")
        self._turn_cost = 0.0  # of the turn in progress
        # The settings under which the API refused the web's server tools: none offered again
        # until they change.
        self._web_refused: tuple[Any, ...] | None = None

    def nudge(self) -> None:
        """The user asked for attention (a wake, a message): a call in flight that has been
        silent for half its timeout (at most HANG_AFTER_S) is given up and tried again at once;
        one that is answering goes on. (The caller's wait cuts a backoff short.)"""
        self._nudged = True
        if self._signal is not None:
            self._signal.set()

    async def run(self, spec: TurnSpec, messages: list[Message]) -> TurnResult:
        """Run the turn, appending the model's messages and the tool results to `messages`.

        Raises what ends it unfinished: ModelUnavailableError when the policy gives up,
        BudgetExceededError at the daily budget's cap, StopRequested from the wait, anything
        `after_tools` raises."""
        result = TurnResult()
        self._turn_cost = 0.0
        ended = "unfinished"
        try:
            result = await self._run(spec, messages, result)
            ended = result.ended
            return result
        except BaseException as exc:
            from ..budget import BudgetExceededError

            ended = "budget" if isinstance(exc, BudgetExceededError) else "unfinished"
            raise
        finally:
            if result.calls or ended != "unfinished":
                self._usage.record_turn({
                    "caller": self.caller, "calls": result.calls,
                    "costUsd": round(self._turn_cost, 6), "tools": list(result.tools),
                    "ended": ended})

    async def _run(self, spec: TurnSpec, messages: list[Message], result: TurnResult
                   ) -> TurnResult:
        answers_sent: list[dict[str, Any]] | None = None  # the results the next call carries
        for _ in range(spec.max_iterations):
            try:
                reply = await self.call(spec, messages)
            except ModelUnavailableError as exc:
                if not exc.refused or answers_sent is None or messages[-1]["content"] \
                        is not answers_sent:
                    raise
                # The tool results made the request one the API refuses: say so instead.
                self._log.append("error", f"the model API refused the last tool results "
                                 f"({exc}); sending a note in their place")
                messages[-1] = {"role": "user", "content": [refused_result(b, exc)
                                                            for b in answers_sent]}
                answers_sent = None
                reply = await self.call(spec, messages)
            result.calls += 1
            if reply.content:
                messages.append({"role": "assistant", "content": reply.content})
            self._server_tools(spec, reply, result)
            if spec.on_reply is not None:
                spec.on_reply(reply)
            if reply.stop_reason == "pause_turn" and not reply.tool_calls:
                continue  # a long server-tool run paused: sending it back lets it go on
            if not reply.tool_calls:
                result.ended = "reply"
                return result
            if spec.before_tools is not None:
                spec.before_tools()
            answers, stopped = await self._run_tools(spec, reply.tool_calls, result)
            if spec.after_tools is not None:
                spec.after_tools()
            if stopped:
                if answers:
                    messages.append({"role": "user", "content": answers})
                result.ended = "stopped"
                return result
            messages.append({"role": "user", "content": answers})
            answers_sent = answers
        result.ended = "max_iterations"
        return result

    async def call(self, spec: TurnSpec, messages: list[Message]) -> ModelReply:
        """One model call, retried under the policy until it succeeds; raises the last
        ModelUnavailableError when the policy gives up."""
        from ..tools import web

        attempt = 0
        while True:
            self._usage.check()  # the daily budget: raises at its cap, before any call
            settings = self._settings()
            model = spec.model or settings.model
            system, tools, request = spec.request(messages)
            if self._web_refused is not None and self._web_refused == web.settings_key(settings):
                tools = web.without_server_tools(tools)
            tools = web.limit_per_turn(tools, messages)
            try:
                client = self._model()
                if client is None:  # the key was removed during this turn
                    raise ModelUnavailableError(
                        "no API key is set any more: set one with `kairos key set`",
                        kind="no key")
                reply = await self._watched(functools.partial(
                    client.create, model=model, system=system, tools=tools,
                    messages=request, max_tokens=spec.max_tokens or settings.max_output_tokens),
                    float(settings.model_timeout_seconds))
            except _Nudged:
                continue  # tried again at once: not a failed attempt
            except ModelUnavailableError as exc:
                if web.refuses_server_tools(tools, str(exc), exc.status):
                    self._web_refused = web.settings_key(settings)
                    self._log.append("error", f"the model API refused the web tools ({exc}); "
                                     "going on without them until the web settings change")
                    self._publish_tool("web_search", {}, f"refused by the model API: {exc}",
                                       error=True)
                    continue  # once more without them: not a failed attempt
                attempt += 1
                wait = self.retry.wait_s(attempt, exc)
                if wait is None:
                    raise
                if self._on_retry is not None:
                    await self._on_retry(exc, attempt, wait)
                await self._wait(wait)
                continue
            self._record(model, reply, spec.cache_ttl)
            return reply

    async def _watched(self, start: Callable[..., Awaitable[ModelReply]],
                       timeout_s: float) -> ModelReply:
        """Run one call under its watchdog (real time: the connection's silence). Raises
        ModelUnavailableError "timed out" after `timeout_s` without a sign of life, _Nudged when
        the caller nudged and the call had been silent for `hang_s`."""
        loop = asyncio.get_running_loop()
        signal = asyncio.Event()
        last = [loop.time()]

        def progress() -> None:
            last[0] = loop.time()

        self._nudged = False
        self._signal = signal
        task = asyncio.ensure_future(start(on_progress=progress))
        task.add_done_callback(lambda _: signal.set())
        hang_s = min(HANG_AFTER_S, timeout_s / 2)
        try:
            while not task.done():
                silent = loop.time() - last[0]
                if silent >= timeout_s:
                    raise ModelUnavailableError(
                        f"the model API did not answer within {timeout_s:g} s (setting "
                        "modelTimeoutSeconds)", kind="timed out")
                if self._nudged and silent >= hang_s:
                    self._log.append("error", f"model call silent for {silent:.0f} s; given up "
                                     "on the user's wake, trying again now")
                    raise _Nudged
                limit = timeout_s - silent
                if self._nudged:
                    limit = min(limit, hang_s - silent)
                signal.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(signal.wait(), limit)
            return task.result()
        finally:
            self._signal = None
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def _record(self, model: str, reply: ModelReply, cache_ttl: str) -> None:
        cost = self._usage.record(model, reply.usage, cache_ttl=cache_ttl)
        self._turn_cost += cost
        self._bus.publish("usage", model=model, input=reply.usage.input_tokens,
                          output=reply.usage.output_tokens,
                          cacheRead=reply.usage.cache_read_tokens,
                          cacheWrite=reply.usage.cache_write_tokens,
                          webSearches=reply.usage.web_search_requests,
                          webFetches=reply.usage.web_fetch_requests,
                          costUsd=round(cost, 6), caller=self.caller)

    def _server_tools(self, spec: TurnSpec, reply: ModelReply, result: TurnResult) -> None:
        """What the web's server tools did inside the call: logged and shown like a tool's
        calls; the pages it cited or fetched kept for the turn's messages."""
        from ..tools import web

        uses = web.uses(reply.content)
        if not uses:
            return
        failed = dict(web.errors(reply.content))
        found = web.sources(reply.content)
        for name, given in uses:
            result.tools.append(name)
            what = given.get("query") or given.get("url") or ""
            if name in failed:
                outcome = f"ERROR {failed[name]} (the API's {name} failed; not retried)"
            else:
                outcome = ", ".join(s.url for s in found) or "done"
            self._log.append(f"{self._log_kind} {name}", preview(f"{what} -> {outcome}"))
            self._publish_tool(name, given, outcome, error=name in failed)
        seen = getattr(spec.ctx.turn, "web_sources", None)
        if seen is not None:
            seen.extend(s for s in found if s not in seen)

    def _publish_tool(self, name: str, given: dict[str, Any], result: str, *,
                      error: bool) -> None:
        if self._tool_events:
            self._bus.publish("tool", name=name, input=given, result=result, isError=error)

    async def _run_tools(self, spec: TurnSpec, calls: list[ToolCall], result: TurnResult
                         ) -> tuple[list[dict[str, Any]], bool]:
        """Run one reply's calls in order: (the tool_result blocks to send back, whether a stop
        tool ran)."""
        answers: list[dict[str, Any]] = []
        later: list[str] = []  # stop calls the caller answers when it resumes
        stopped = False
        for call in calls:
            result.tools.append(call.name)
            spec.ctx.turn.call_id = call.id
            try:
                outcome = await spec.tools.call(spec.ctx, call.name, call.input)
            finally:
                spec.ctx.turn.call_id = None
            is_stop = call.name in spec.stop_tools
            if spec.resume_answer is None or not is_stop:
                self._log_tool(call, outcome)
            if is_stop and not outcome.is_error:
                stopped = True
                if spec.resume_answer is not None:
                    later.append(call.id)
                    continue
            answers.append({"type": "tool_result", "tool_use_id": call.id,
                            "content": result_content(outcome), "is_error": outcome.is_error})
        if answers and later:  # results go back now: every call of the reply must be answered
            assert spec.resume_answer is not None
            answers += [{"type": "tool_result", "tool_use_id": cid,
                         "content": spec.resume_answer} for cid in later]
        return answers, stopped

    def _log_tool(self, call: ToolCall, outcome: ToolResult) -> None:
        self._log.append(f"{self._log_kind} {call.name}",
                         f"{preview(json.dumps(call.input, ensure_ascii=False))} -> "
                         f"{'ERROR ' if outcome.is_error else ''}{preview(outcome.content)}")
        if self._tool_events:
            self._bus.publish("tool", name=call.name, input=call.input, result=outcome.content,
                              isError=outcome.is_error)


def refused_result(block: dict[str, Any], exc: ModelUnavailableError) -> dict[str, Any]:
    """A tool result the API refused, replaced by a note the model can act on."""
    return {"type": "tool_result", "tool_use_id": block.get("tool_use_id"), "is_error": True,
            "content": f"[this result was not sent: the model API refused it ({exc})]"}


def result_content(outcome: ToolResult) -> str | list[dict[str, Any]]:
    """A tool_result's content: the clipped text, then the images it carries (an MCP tool's
    screenshot), as the Messages API takes them."""
    if not outcome.images:
        return clip(outcome.content)
    return [{"type": "text", "text": clip(outcome.content)}, *outcome.images]


def clip(text: str) -> str:
    """A tool result as the model gets it: cut at TOOL_RESULT_MAX_CHARS, saying so."""
    if len(text) <= TOOL_RESULT_MAX_CHARS:
        return text
    return text[:TOOL_RESULT_MAX_CHARS] + f"\n[cut at {TOOL_RESULT_MAX_CHARS} characters]"


def preview(text: str) -> str:
    """At most LOG_PREVIEW_CHARS of `text` for the daily log."""
    if len(text) <= LOG_PREVIEW_CHARS:
        return text
    return text[:LOG_PREVIEW_CHARS - 3] + "..."


__all__ = ["AgentRunner", "RetryPolicy", "StopRequested", "TurnResult", "TurnSpec", "clip"]
