"""The heartbeat loop: sleep until the deadline or an arrival, build a turn (the latest tick plus
what arrived), let the model act through tools until it calls Sleep (the agent turn of turn.py:
backoff, clipping, tool logging, usage), log everything, repeat.

A wake-up with nothing a person sent and no scheduled prompt goes first to the light tick
(light.py: a small bounded context on heartbeatModel, Sleep or Act); Act runs the full turn with
its reason in the tick. A full turn that leaves the context past its budget has its oldest turns
summarised by the model (compaction.py).

Invariants:
- Inbound items are acked only once their turn is stored, and the stored record carries their
  ids: a failed call or a crash before it replays them, a crash after it (before the ack) does
  not (resume.py skips what the latest transcript already holds). A turn is stored as soon as
  a reply that acts comes back, before its tools run; each delivery is written with its call's
  id. A kill before the store replays the turn (nothing of it reached the user); a kill after
  it leaves calls without results, which the next start answers from what they left
  (resume.py): a message is never answered twice, nor believed sent when it was not.
- One item the API refuses for its own content never blocks the rest: the turn is tried again
  without it (the largest first, then all it carried), and what it could not carry is set aside
  (queue.py's held list), kept, and the user is told what was refused and what to do. When even
  a turn without them is refused, the conversation itself is the problem: nothing is set aside.
- Every failed call sets the state with a detail naming what failed; the user is told at once
  when the turn carries their message, else after the third attempt.
- A quiet turn (the user said nothing, the model only slept) is logged but never stored, so the
  conversation prefix, and with it the prompt cache, stays identical from one idle tick to the next.
  A quiet light tick stores nothing either, and its own prefix is byte-identical between ticks.
  Every call of a turn sends the prefix as it was when the turn began, however the turn is stored.
- Every wait goes through the Clock; nothing here reads the time or sleeps on its own.
"""

from __future__ import annotations

import asyncio
import functools
import html
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..budget import BudgetExceededError
from ..clock import Clock, add_seconds, seconds_between
from ..delivery.deliveries import Deliveries
from ..errors import ModelUnavailableError
from ..events import EventBus
from ..journal import DailyLog
from ..memory.files import MemoryFiles
from ..memory.prompt import memory_section
from ..model_types import ModelReply
from ..paths import FolderPolicy
from ..queue import HeldItem, InboundItem, InboundQueue
from ..scheduler.runtime import Scheduler
from ..settings import Settings
from ..status import EngineStatus, State
from ..tools.base import ToolContext, ToolRegistry, TurnState
from ..transcript import SLEEP_RESULT, Transcript, acting_calls, extend
from ..usage import UsageLedger
from . import light, resume
from .compaction import Compactor, compaction_runner
from .prompts import no_key_reply, render_item, server_instructions, system_prompt, tick_block
from .turn import AgentRunner, RetryPolicy, StopRequested, TurnResult, TurnSpec

if TYPE_CHECKING:
    from ..model import ModelClient

log = logging.getLogger(__name__)

# A sleep up to this long reuses a 5-minute cache entry; up to LONG_CACHE_LIMIT_S a 1-hour one.
# Longer sleeps outlive any cache entry, so paying for 1-hour writes would buy nothing.
SHORT_CACHE_LIMIT_S = 270.0
LONG_CACHE_LIMIT_S = 3_540.0
# After a turn fails for a reason of our own (a bug), and after the API refuses the conversation.
TURN_FAILED_RETRY_S = 60.0
CONTEXT_REFUSED_RETRY_S = 600.0
# The result of a call that ran as the turn reached maxToolIterations: never sent, not kept.
NOT_READ = ("This call ran, but the turn stopped at its limit of tool calls (setting "
            "maxToolIterations) before its result was read; the result was not kept.")
# A held item's text above this many characters is handed back to the user as a file.
HELD_FILE_MIN_CHARS = 2_000
# The light tick waits out an outage like a turn, but gives up on what retrying cannot mend (a
# heartbeatModel the API does not know): that wake-up goes to the full turn instead.
LIGHT_RETRY = RetryPolicy(give_up_non_retryable=True)
# Failures of the light tick that name heartbeatModel itself: the user is told what to set.
LIGHT_MODEL_FAULTS = ("unknown model", "not allowed")


class _HandOver(Exception):
    """Raised by the light tick's retry wait when a person's message or a scheduled prompt
    arrived meanwhile: the wake-up goes to the full turn at once, with it."""


@dataclass
class _TurnState:
    """One attempt at a turn: what it sends, what was set aside, how much of it is stored."""

    items: list[InboundItem]  # everything the turn consumes (sent and set aside)
    set_aside: list[InboundItem] = field(default_factory=list)
    refusal: ModelUnavailableError | None = None  # why they were set aside
    stored: int = 0  # how many of the turn's messages are in the transcript
    settled: bool = False  # its items acked (and the set-aside ones held)
    # It answers calls a stop cut short (resume.py): stored even if it only sleeps, or every
    # later tick would find those calls unanswered and resume them again.
    resumes: bool = False

    @property
    def sent(self) -> list[InboundItem]:
        aside = {i.id for i in self.set_aside}
        return [i for i in self.items if i.id not in aside]


class AssistantLoop:
    def __init__(self, *, settings: Callable[[], Settings], clock: Clock, queue: InboundQueue,
                 transcript: Transcript, model: Callable[[], ModelClient | None],
                 tools: ToolRegistry,
                 policy: Callable[[], FolderPolicy], deliveries: Deliveries, daily_log: DailyLog,
                 usage: UsageLedger, bus: EventBus, status: EngineStatus,
                 scheduler: Scheduler | None = None, memory: MemoryFiles | None = None,
                 on_active_turn: Callable[[], None] | None = None,
                 subscriptions: Any = None) -> None:
        self._settings = settings
        self._clock = clock
        self.queue = queue
        self.transcript = transcript
        self._model = model  # read at each turn: a key saved meanwhile applies next turn
        self.tools = tools
        self._policy = policy
        self._deliveries = deliveries
        self._log = daily_log
        self._usage = usage
        self._bus = bus
        self.status = status
        self._scheduler = scheduler
        self._memory = memory
        self._on_active_turn = on_active_turn
        self._subscriptions = subscriptions
        self._memory_snapshot: tuple[tuple[object, ...], str] | None = None
        self._stopping = False
        self.paused = False
        self._resumed = asyncio.Event()
        self._deadline: float | None = 0.0  # monotonic; 0 = tick at once; None = until arrival
        self._last_sleep_s: float | None = None
        self._outage_reported = False  # the user was told of this outage; reset by a turn
        self._turn_has_user = False  # the turn in progress carries a user's message
        self._failed_turns = 0  # turns in a row that ended in an exception of our own
        self._told_over_budget: set[str] = set()  # user messages given the budget's reply
        self.last_interaction: datetime | None = None
        self._runner = AgentRunner(model=model, settings=settings, usage=usage, bus=bus,
                                   daily_log=daily_log, clock=clock,
                                   on_retry=self._report_outage, wait=self._wait_to_retry)
        # The light tick and the compaction run through the same agent turn, each with its own
        # runner: its retry policy and its name in the usage history.
        self._light_runner = AgentRunner(model=model, settings=settings, usage=usage, bus=bus,
                                         daily_log=daily_log, clock=clock, retry=LIGHT_RETRY,
                                         on_retry=self._report_outage,
                                         wait=self._wait_light_retry, log_kind="light tool",
                                         tool_events=False, caller="light")
        self._compactor = Compactor(compaction_runner(
            model=model, settings=settings, usage=usage, bus=bus, daily_log=daily_log,
            clock=clock), daily_log)
        self._light_failed_for: str | None = None  # the heartbeatModel the user was told of

    # -- control -----------------------------------------------------------------------------

    def stop(self) -> None:
        self._stopping = True
        self.queue.arrived.set()
        self._resumed.set()

    def pause(self) -> None:
        """No ticks and no model calls until resume(); arrivals stay queued."""
        self.paused = True
        self.queue.arrived.set()  # a sleeping loop wakes to show the paused state

    def resume(self) -> None:
        self.paused = False
        self._deadline = 0.0
        self._resumed.set()

    def wake_now(self) -> None:
        """Tick at once: cuts a sleep or a backoff wait short, and gives up a hung call."""
        self._deadline = 0.0
        self.queue.arrived.set()
        self.nudge()

    def nudge(self) -> None:
        """The user wants attention (a wake, a message): a model call in flight that shows no
        sign of life is given up and tried again at once (a backoff wait ends on the arrival)."""
        self._runner.nudge()
        self._light_runner.nudge()

    # Set by the panel page while it has the focus (cleared on blur or when its stream ends).
    panel_focused = False
    # Set by the composition root: (server, instructions) of the running MCP servers, in a
    # stable order; each becomes a block of the system prompt (prompts.server_instructions).
    instructions: Callable[[], list[tuple[str, str]]] | None = None

    def mark_interaction(self) -> None:
        self.last_interaction = self._clock.now()
        self.status.last_interaction = self.last_interaction.isoformat(timespec="seconds")

    def _set_state(self, state: State, detail: str = "", until: datetime | None = None) -> None:
        self.status.state = state
        self.status.detail = detail
        self.status.sleeping_until = until.isoformat(timespec="seconds") if until else None
        self._bus.publish("state", **self.status.to_dict())

    # -- the loop ----------------------------------------------------------------------------

    async def run(self) -> None:
        resume.skip_stored_items(self.queue, self.transcript, self._log)
        while not self._stopping:
            await self._sleep()
            if self._stopping:
                break
            if self.paused:
                self._set_state("paused", "paused by the user")
                self._resumed.clear()
                await self._clock.wait(self._resumed, None)
                continue
            self.queue.arrived.clear()
            try:
                if self._model() is None:
                    await self._turn_without_model()
                else:
                    self._usage.check()  # at the daily budget's cap, no turn: see below
                    await self._turn()
            except BudgetExceededError as exc:
                await self._turn_over_budget(exc)
            except StopRequested:
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the loop must survive anything a turn throws
                log.exception("turn failed")
                await self._turn_failed(exc)
        self._set_state("stopped")

    async def _turn_failed(self, exc: Exception) -> None:
        """A turn ended in an exception of our own: retry in a minute, say what it was (never
        an empty detail), and tell the user once when it held their message or keeps failing."""
        what = f"the turn failed ({_describe(exc)})"
        self._failed_turns += 1
        self._log.append("error", f"{what}; trying again in {TURN_FAILED_RETRY_S:.0f} s, "
                         "nothing queued is lost")
        self._deadline = self._clock.monotonic() + TURN_FAILED_RETRY_S
        self._set_state("error", what, add_seconds(self._clock.now(), TURN_FAILED_RETRY_S))
        if not self._outage_reported and (self._turn_has_user or self._failed_turns >= 3):
            self._outage_reported = True
            await self._deliveries.message(
                f"Something went wrong on my side: {what}. What you sent is kept; I will try "
                f"again in {TURN_FAILED_RETRY_S:.0f} s (`kairos logs` has the details).",
                "system")

    async def _sleep(self) -> None:
        if self._deadline is None:
            timeout = None
        else:
            timeout = max(0.0, self._deadline - self._clock.monotonic())
        if timeout == 0.0:
            return
        await self._clock.wait(self.queue.arrived, timeout)

    def _schedule_sleep(self, seconds: float | None) -> None:
        """After a model turn: sleep `seconds`, or until an arrival when None."""
        if seconds is None:
            self._deadline = None
            self._set_state("sleeping")
            return
        self._deadline = self._clock.monotonic() + seconds
        self._set_state("sleeping", "", add_seconds(self._clock.now(), seconds))

    def clamp_sleep(self, requested: float | None) -> float | None:
        """Seconds to sleep for a Sleep request (None: no Sleep was called); None = until an
        arrival (maxSleepDurationMs = -1)."""
        settings = self._settings()
        if settings.max_sleep_duration_ms == -1:
            return None
        low = settings.min_sleep_duration_ms / 1000
        high = settings.max_sleep_duration_ms / 1000
        if requested is None:
            return high
        return max(low, min(requested, high))

    def present(self) -> bool:
        """The user interacted within the presence window, or has the panel in focus."""
        return self._present(self._clock.now())

    def _present(self, now: datetime) -> bool:
        if self.panel_focused:
            return True
        if self.last_interaction is None:
            return False
        window = self._settings().presence_window_minutes * 60
        return seconds_between(self.last_interaction, now) <= window

    # -- a turn without a key ----------------------------------------------------------------

    async def _turn_without_model(self) -> None:
        settings = self._settings()
        items = self.queue.pending()
        for item in items:
            if item.kind == "user":
                self.mark_interaction()
                self._log.append("user", item.text)
                await self._deliveries.message(no_key_reply(settings.assistant_name), "system")
            elif item.kind == "cron":  # no model to act on it: the prompt is the reminder
                self._log.append("reminder", item.text)
                await self._deliveries.message(f"Reminder: {item.text}", "proactive")
            else:
                self._log.append(item.kind, item.text, external_source=item.source
                                 if item.external else None)
        self.queue.ack([i.id for i in items])
        self._deadline = None

    # -- a turn over the daily budget --------------------------------------------------------

    async def _turn_over_budget(self, exc: BudgetExceededError) -> None:
        """No model call until the budget reopens (local midnight) or the user raises it (that
        wakes the loop). A user's message gets the budget's reply once and stays queued: it is
        answered when the budget allows. A scheduled prompt is delivered as written, as without
        a key; other events wait in the queue."""
        answered, reminded = 0, []
        for item in self.queue.pending():
            if item.kind == "user" and item.id not in self._told_over_budget:
                self._told_over_budget.add(item.id)
                self.mark_interaction()
                self._log.append("user", item.text)
                await self._deliveries.message(exc.reply, "system")
                answered += 1
            elif item.kind == "cron":
                self._log.append("reminder", item.text)
                await self._deliveries.message(f"Reminder: {item.text}", "proactive")
                reminded.append(item.id)
        self.queue.ack(reminded)
        if self.status.state != "budget" or answered or reminded:
            self._log.append("budget", f"{exc}; {answered} message(s) answered with the "
                             f"budget's reply, {len(reminded)} reminder(s) delivered as written")
        seconds = max(seconds_between(self._clock.now(), exc.reopens_at), 1.0)
        self._deadline = self._clock.monotonic() + seconds
        self._set_state("budget", f"daily budget reached: ${exc.spent_usd:,.2f} spent of "
                        f"${exc.cap_usd:,.2f}; no model call until midnight or a raise",
                        exc.reopens_at)

    # -- a turn with the model ---------------------------------------------------------------

    def _cache_ttl(self) -> str:
        """The TTL for the prefix that must survive the coming sleep (tools, system, history)."""
        expected = self._last_sleep_s
        if expected is None:
            expected = self.clamp_sleep(None)
        if expected is None or expected > LONG_CACHE_LIMIT_S:
            return "5m"
        return "5m" if expected <= SHORT_CACHE_LIMIT_S else "1h"

    def build_request(self, turn_messages: list[dict[str, Any]], ttl: str,
                      history: list[dict[str, Any]] | None = None
                      ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        """(system, tools, messages) with cache breakpoints on the last tool, the system prompt
        and the end of the stored history (all `ttl`: they must outlive the sleep), and on the
        newest block (5 minutes: it serves the next call of this turn, seconds away; a quiet
        tick's block is never sent again, so a long TTL there would be paid for nothing).
        `history`: the stored conversation as the turn began (default: as it is now)."""
        settings = self._settings()
        mark = {"type": "ephemeral", "ttl": ttl}
        policy = self._policy()
        system: list[dict[str, Any]] = [{"type": "text", "text": system_prompt(
            settings, workspace=str(policy.workspace),
            readable=[str(p) for p in policy.readable_roots])}]
        servers = server_instructions(self.instructions()) if self.instructions else None
        if servers:
            system.append({"type": "text", "text": servers})
        if self._memory is not None:
            system.append({"type": "text", "text": self._memory_prompt(settings)})
        system[-1]["cache_control"] = mark
        tools = self.tools.definitions()
        if tools:
            tools[-1] = {**tools[-1], "cache_control": mark}
        # Shallow copies only: blocks are shared and never mutated, a marked block is a new dict.
        history = list(self.transcript.context() if history is None else history)
        if history:
            last_msg = history[-1]
            content = list(last_msg["content"])
            content[-1] = {**content[-1], "cache_control": mark}
            history[-1] = {"role": last_msg["role"], "content": content}
        messages = extend(history, turn_messages)  # history is a repaired context
        last_msg = messages[-1]
        content = list(last_msg["content"])
        if "cache_control" not in content[-1]:
            content[-1] = {**content[-1], "cache_control": {"type": "ephemeral", "ttl": "5m"}}
        messages[-1] = {"role": last_msg["role"], "content": content}
        return system, tools, messages

    def _memory_prompt(self, settings: Settings) -> str:
        """The memory section, rebuilt only when the day or MEMORY.md changes (see
        memory/prompt.py: per-tick changes would defeat the prompt cache)."""
        assert self._memory is not None
        today = self._clock.now().date()
        index = self._memory.index_path
        key = (today, index.stat().st_mtime_ns if index.exists() else 0,
               settings.memory_prompt_tokens)
        if self._memory_snapshot is None or self._memory_snapshot[0] != key:
            text = memory_section(self._memory, self._log, today,
                                  budget_tokens=settings.memory_prompt_tokens)
            self._memory_snapshot = (key, text)
        return self._memory_snapshot[1]

    @staticmethod
    def _render_within_budget(items: list[InboundItem], settings: Settings) -> list[str]:
        """Everything from the user and the scheduler, and what outside sources brought up to
        sourceBudgetChars; the rest of the outside events is counted, not pasted (the daily log
        has them all)."""
        rendered: list[str] = []
        budget = settings.source_budget_chars
        held: dict[str, int] = {}
        for item in items:
            text = render_item(item)
            if item.external:
                if len(text) > budget:
                    held[item.source] = held.get(item.source, 0) + 1
                    continue
                budget -= len(text)
            rendered.append(text)
        if held:
            listing = ", ".join(f"{n} from {source}" for source, n in held.items())
            rendered.append(f"<events-held-back count=\"{sum(held.values())}\">More outside "
                            f"events arrived than fit in one turn: {listing}. They are in the "
                            "daily log (MemorySearch / MemoryRead).</events-held-back>")
        return rendered

    async def _turn(self) -> None:
        """A wake-up: on the light context first when nothing a person sent nor a scheduled
        prompt is in it (light.py); on the full context when one is, or when the light tick
        hands over (Act)."""
        items = self.queue.pending()
        logged = self._log_items(items, set())
        reason: str | None = None
        # A turn a crash cut short (a call without its result) is resumed on the full context.
        interrupted = bool(acting_calls(self.transcript.unanswered_tool_uses()))
        if self._settings().light_tick and not interrupted \
                and light.goes_light(items, self._scheduler):
            try:
                reason = await self._light_tick(items, self._clock.now())
            except _HandOver:
                reason = None  # a person's message arrived meanwhile: it goes in the full turn
            else:
                if reason is None:
                    return  # quiet: slept on the light context
        await self._full_turn(logged, reason)

    def _log_items(self, items: list[InboundItem], logged: set[str]) -> set[str]:
        """Log what arrived (once per item, whatever context answers it)."""
        for item in items:
            if item.id not in logged:
                self._log.append(item.kind, item.text,
                                 external_source=item.source if item.external else None)
        return logged | {i.id for i in items}

    # -- the light tick ----------------------------------------------------------------------

    async def _light_tick(self, items: list[InboundItem], now: datetime) -> str | None:
        """Answer the wake-up on the light context (heartbeatModel, Sleep or Act). Returns the
        reason to run the full turn, or None when it slept (its items acked, nothing stored,
        the next sleep scheduled). Raises _HandOver when a person's item arrives during a
        retry wait, what a turn raises at the daily budget's cap or when stopping."""
        settings = self._settings()
        model_id = settings.heartbeat_model_id
        self._turn_has_user = False
        self._set_state("working")
        ttl = self._cache_ttl()
        memory = self._memory_prompt(settings) if self._memory is not None else None
        system = light.light_system(settings, memory=memory, transcript=self.transcript,
                                    scheduler=self._scheduler, ttl=ttl)
        decision = light.LightDecision()
        tools = light.light_tools(decision)
        definitions = light.light_tool_definitions(tools, ttl)
        tick = tick_block(now, present=self._present(now), last_interaction=self.last_interaction)
        first = light.light_message(tick, self._render_within_budget(items, settings))
        ctx = ToolContext(settings=settings, policy=self._policy(), deliveries=self._deliveries,
                          daily_log=self._log, clock=self._clock, turn=TurnState(),
                          scheduler=self._scheduler, memory=self._memory,
                          subscriptions=self._subscriptions)
        spec = TurnSpec(
            request=lambda messages: (system, definitions, messages), tools=tools, ctx=ctx,
            max_iterations=light.LIGHT_MAX_ITERATIONS, cache_ttl=ttl,
            stop_tools=frozenset({"Sleep", light.ACT}), resume_answer=SLEEP_RESULT,
            model=model_id, max_tokens=light.LIGHT_MAX_TOKENS, on_reply=self._on_light_reply)
        try:
            result = await self._light_runner.run(spec, [first])
        except ModelUnavailableError as exc:
            if exc.retryable and not exc.refused:
                raise
            return await self._light_failed(exc, settings)
        self._light_failed_for = None
        if decision.act:
            self._log.append("tick", f"light tick on {model_id}: acting ({decision.reason})")
            return decision.reason
        if result.ended == "max_iterations":
            reason = (f"the heartbeat model ({model_id}) called neither Sleep nor Act in "
                      f"{light.LIGHT_MAX_ITERATIONS} calls")
            self._log.append("tick", f"light tick: {reason}; handing over to the full turn")
            return reason
        self._settle(_TurnState(items), now.isoformat(timespec="seconds"))
        sleep_s = self.clamp_sleep(ctx.turn.sleep_seconds)
        self._last_sleep_s = sleep_s
        self._log.append("tick", f"quiet; {_sleep_words(sleep_s)} (light tick on {model_id})")
        self.status.turns += 1
        self._outage_reported = False
        self._failed_turns = 0
        self._told_over_budget.clear()
        if any(i.wakes for i in self.queue.pending()):
            self._deadline = 0.0  # something arrived during the tick: go again at once
            self._set_state("working")
        else:
            self._schedule_sleep(sleep_s)
        return None

    async def _light_failed(self, exc: ModelUnavailableError, settings: Settings) -> str:
        """The light call was refused (what arrived: the full turn sets it aside) or cannot work
        as set up: this wake-up goes to the full turn (which reports a bad key or no credit
        itself). A heartbeatModel the API does not know or allow is told once per value."""
        model_id = settings.heartbeat_model_id
        self._log.append("error", f"the light tick on {model_id} failed ({exc}); this wake-up "
                         f"goes to the full turn on {settings.model}")
        if exc.kind in LIGHT_MODEL_FAULTS and self._light_failed_for != model_id:
            self._light_failed_for = model_id
            answer = f"{exc.status} ({exc.kind})" if exc.status else exc.kind
            await self._deliveries.message(
                f"The heartbeat model {model_id} (setting heartbeatModel) cannot be used: the "
                f"model API answered {answer}. Until it is fixed, every quiet wake-up goes to "
                f"the main model ({settings.model}), which costs more. Set another with "
                "`kairos settings set heartbeatModel <model id>`, or `kairos settings set "
                "heartbeatModel same` to use the main model for it.", "system")
        return f"the heartbeat model could not decide ({exc.kind})"

    def _on_light_reply(self, reply: ModelReply) -> None:
        if self.status.state != "working":  # a call went through after an outage
            self._set_state("working")
        if reply.text:
            self._log.append("thought", f"(light tick) {reply.text}")

    async def _wait_light_retry(self, seconds: float) -> None:
        """The light tick's wait between attempts: as a turn's, and when what arrived meanwhile
        is for the full turn (a person's message, a scheduled prompt), it goes there at once."""
        await self._wait_to_retry(seconds)
        if not light.goes_light(self.queue.pending(), self._scheduler):
            raise _HandOver

    # -- the full turn -----------------------------------------------------------------------

    async def _full_turn(self, logged: set[str], act_reason: str | None) -> None:
        """The turn on the full context and the main model, with everything queued (what
        arrived during a light tick too); `act_reason`: why the light tick handed over."""
        settings = self._settings()
        now = self._clock.now()
        state = _TurnState(self.queue.pending())
        self._log_items(state.items, logged)
        self._turn_has_user = any(i.kind == "user" for i in state.items)
        if self._turn_has_user:
            self.mark_interaction()
        self._set_state("working")
        ttl = self._cache_ttl()
        history = list(self.transcript.context())  # every call of the turn sends this prefix
        cut = self.transcript.unanswered_tool_uses()
        unanswered = resume.resume_answers(cut, self._deliveries, self._log,
                                           ran=not self.transcript.tools_pending)
        state.resumes = bool(acting_calls(cut))
        while True:
            turn_messages = [self._first_message(now, state, unanswered, act_reason)]
            ctx = ToolContext(settings=settings, policy=self._policy(),
                              deliveries=self._deliveries, daily_log=self._log,
                              clock=self._clock, turn=TurnState(), scheduler=self._scheduler,
                              memory=self._memory, subscriptions=self._subscriptions)
            spec = TurnSpec(
                request=lambda messages: self.build_request(messages, ttl, history),
                tools=self.tools, ctx=ctx, max_iterations=settings.max_tool_iterations,
                cache_ttl=ttl, stop_tools=frozenset({"Sleep"}), resume_answer=SLEEP_RESULT,
                on_reply=self._on_reply,
                before_tools=functools.partial(self._before_tools, state=state,
                                               turn_messages=turn_messages, now=now))
            try:
                result: TurnResult | None = await self._runner.run(spec, turn_messages)
            except BudgetExceededError:
                if state.stored:  # the model acted: keep what it did, results included
                    self._store_progress(state, turn_messages, now)
                raise
            except ModelUnavailableError as exc:
                if not exc.refused:
                    raise
                if len(turn_messages) == 1:  # its first call: what it carries is refused
                    if await self._set_aside(state, exc):
                        continue
                    return
                # Refused later on (tool results the runner already replaced by a note): the
                # model did act on what arrived, so the turn is kept as far as it went.
                self._log.append("error", f"the turn was stopped half way: {exc}")
                if self._turn_has_user:
                    await self._deliveries.message(
                        f"I had to stop half way through your message: {exc}. What I did so "
                        "far is kept; ask again in other words if something is missing.",
                        "system")
                result = None
            break
        await self._end_turn(state, turn_messages, result, ctx, now)

    def _first_message(self, now: datetime, state: _TurnState,
                       unanswered: list[dict[str, Any]],
                       act_reason: str | None = None) -> dict[str, Any]:
        """The turn's user message: the results of the calls the last turn left unanswered
        (the Sleep it ended on), the tick (with the light tick's reason when it handed over),
        what arrived (within the sources' budget), and a note for what was set aside."""
        settings = self._settings()
        tick = tick_block(now, present=self._present(now), last_interaction=self.last_interaction,
                          act_reason=act_reason)
        parts = [tick, *self._render_within_budget(state.sent, settings)]
        if state.set_aside and state.refusal is not None:
            kinds = ", ".join(sorted({i.kind for i in state.set_aside}))
            parts.append(
                f'<set-aside count="{len(state.set_aside)}" kinds="{kinds}">The model API '
                f"refused what arrived ({html.escape(str(state.refusal), quote=False)}), so "
                "it was set aside. The user has been told and can retry or drop it; do not "
                "tell them again.</set-aside>")
        content: list[dict[str, Any]] = list(unanswered)
        content.append({"type": "text", "text": "\n\n".join(parts)})
        return {"role": "user", "content": content}

    async def _set_aside(self, state: _TurnState, exc: ModelUnavailableError) -> bool:
        """The turn's first call was refused: set aside the largest item it still sends (then
        all of them) and go again (True). With nothing left to set aside, the conversation
        itself is refused: it waits for a fix, nothing is set aside (False)."""
        remaining = state.sent
        if not remaining:
            state.set_aside = []
            await self._context_refused(exc)
            return False
        if state.set_aside:
            picked = remaining
        else:
            picked = [max(remaining, key=lambda i: len(render_item(i)))]
        state.set_aside = [*state.set_aside, *picked]
        state.refusal = exc
        words = ", ".join(f"{i.kind} {i.id} ({len(i.text):,} characters)" for i in picked)
        self._log.append("error", f"the model API refused the turn: {exc}; trying again "
                         f"without {words}")
        return True

    async def _context_refused(self, exc: ModelUnavailableError) -> None:
        what = f"the model API refuses the conversation itself, not what arrived: {exc}"
        self._log.append("error", f"{what}; nothing was set aside, trying again in "
                         f"{CONTEXT_REFUSED_RETRY_S / 60:.0f} min")
        self._deadline = self._clock.monotonic() + CONTEXT_REFUSED_RETRY_S
        self._set_state("error", what, add_seconds(self._clock.now(), CONTEXT_REFUSED_RETRY_S))
        if not self._outage_reported:
            self._outage_reported = True
            await self._deliveries.message(
                f"I can't work right now: {what}. What you sent is kept in the queue. Check "
                "the model setting (`kairos settings set model ...`), or start a new session "
                "(restart without --continue); I try again every "
                f"{CONTEXT_REFUSED_RETRY_S / 60:.0f} minutes.", "system")

    def _store_progress(self, state: _TurnState, turn_messages: list[dict[str, Any]],
                        now: datetime, *, tools_pending: bool = False) -> None:
        """Store the turn's messages not stored yet; the first time, with the ids of its items,
        then ack them and hold what was set aside (one store transaction). `tools_pending`:
        the tools of the last reply have not run yet (the next start may find them cut)."""
        new = turn_messages[state.stored:]
        at = now.isoformat(timespec="seconds")
        if new or not state.settled:
            self.transcript.append_turn(
                new, at, items=None if state.settled else [i.id for i in state.items],
                continues=state.stored > 0, tools_pending=tools_pending)
            state.stored = len(turn_messages)
        if not state.settled:
            self._settle(state, at)

    def _settle(self, state: _TurnState, at: str) -> None:
        held = [self._held(item, state, at) for item in state.set_aside]
        self.queue.settle(ack=[i.id for i in state.sent], hold=held)
        state.settled = True
        for each in held:
            self._log.append("held", f"{each.item.kind} {each.item.id} set aside: "
                             f"{each.reason}")
            self._bus.publish("held", **each.view())

    @staticmethod
    def _held(item: InboundItem, state: _TurnState, at: str) -> HeldItem:
        assert state.refusal is not None
        reason = str(state.refusal)
        if len(state.set_aside) > 1:
            reason += (f" (set aside with {len(state.set_aside) - 1} other item(s) of the same "
                       "turn: the refusal could not be pinned on one; retry them one by one)")
        return HeldItem(item, reason, at, state.refusal.status)

    async def _end_turn(self, state: _TurnState, turn_messages: list[dict[str, Any]],
                        result: TurnResult | None, ctx: ToolContext, now: datetime) -> None:
        settings = self._settings()
        calls = result.calls if result is not None else 0
        tools = result.tools if result is not None else ["(stopped)"]
        if result is not None and result.ended == "max_iterations":
            self._log.append("error", f"stopped after {settings.max_tool_iterations} tool "
                             "iterations without a Sleep (setting maxToolIterations)")
            # Its last results were never sent (a result the API refuses must never enter the
            # history): the calls are answered by a note instead, so the next turn does not
            # take them for calls a crash cut short.
            turn_messages[-1] = {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": b["tool_use_id"], "content": NOT_READ}
                for b in turn_messages[-1]["content"] if b.get("type") == "tool_result"]}
        # Quiet: the model did nothing but sleep and the user said nothing. Kept only in the
        # daily log, so idle hours (and scheduled checks that found nothing to do) never grow
        # the context or move the prompt cache's prefix.
        from_user = any(i.kind == "user" or i.external for i in state.items)
        quiet = (all(name == "Sleep" for name in tools) and not from_user
                 and not state.set_aside and state.stored == 0 and not state.resumes)
        sleep_s = self.clamp_sleep(ctx.turn.sleep_seconds)
        self._last_sleep_s = sleep_s
        if quiet:
            self._settle(state, now.isoformat(timespec="seconds"))
            self._log.append("tick", f"quiet; {_sleep_words(sleep_s)}")
        else:
            self._store_progress(state, turn_messages, now)
            self._log.append("tick", f"{calls} model call(s); {_sleep_words(sleep_s)}")
            if self._on_active_turn is not None and from_user:
                self._on_active_turn()
        # Past the context budget, the oldest turns are summarised by the model (once per turn;
        # a failure keeps everything and the next turn tries again).
        if await self._compactor.compact(self.transcript, settings, ctx,
                                         now.isoformat(timespec="seconds")):
            self._memory_snapshot = None  # the cache is rebuilt anyway: refresh the tail
        self.status.turns += 1
        self._outage_reported = False
        self._failed_turns = 0
        self._told_over_budget.clear()
        if state.set_aside:
            await self._tell_held(state)
        if any(i.wakes for i in self.queue.pending()):
            self._deadline = 0.0  # something arrived during the turn: go again at once
            self._set_state("working")
        else:
            self._schedule_sleep(sleep_s)

    async def _tell_held(self, state: _TurnState) -> None:
        """Say what was refused and what to do. A user's long text is handed back as a file
        in the inbox (attached to the message), so nothing they wrote is out of reach."""
        held_now = {h.item.id: h for h in self.queue.held()}
        for item in state.set_aside:
            held = held_now.get(item.id)
            if held is None:  # retried or dropped already (the panel, `kairos queue`)
                continue
            with_file = item.kind == "user" and len(item.text) >= HELD_FILE_MIN_CHARS
            keep = ("Its full text is attached as a file in your inbox: send me a shorter "
                    "part of it, or save it in a folder I may read and tell me where. "
                    if with_file else "")
            text = (f"I could not take {_item_words(item)}: {held.reason}. It is kept, set "
                    f"aside, as held item {item.id}; everything else goes on. {keep}To try it "
                    f"again as it is: `kairos queue retry {item.id}` (or Retry in the panel); "
                    f"to let it go: `kairos queue drop {item.id}`.")
            record: dict[str, Any] | None = None
            if with_file:
                try:
                    record = await self._deliveries.message(
                        text, "system", [str(self._held_text_file(item))])
                except Exception as exc:  # a full inbox must not hide the refusal
                    self._log.append("error", f"could not hand the held text back as a file: "
                                     f"{exc}")
            if record is None:
                record = await self._deliveries.message(text.replace(keep, ""), "system")
            for path in record.get("attachments") or []:
                self.queue.note_held_file(item.id, str(path))

    def _held_text_file(self, item: InboundItem) -> Path:
        """The held text in the workspace (0600), from where it is copied into the inbox."""
        folder = self._policy().workspace / "held"
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = folder / f"held-{item.id}.txt"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(item.text)
        return path

    # -- hooks of the agent turn -------------------------------------------------------------

    def _on_reply(self, reply: ModelReply) -> None:
        if self.status.state != "working":  # a call went through after an outage
            self._set_state("working")
        if reply.text:
            self._log.append("thought", reply.text)

    def _before_tools(self, state: _TurnState, turn_messages: list[dict[str, Any]],
                      now: datetime) -> None:
        """A reply's tools are about to run: first store the turn up to that reply (and ack
        what it consumed), so a kill from here on never hands it to the model again, and the
        next start answers its calls from what they left (resume.py) instead of running
        the turn again (a message answered twice). Its results wait for the next call to be
        accepted (a result the API refuses must never enter the history); a kill before this
        point replays the turn, when nothing of it reached the user yet. A batch that only
        sleeps on a turn nobody spoke in may still be quiet: not stored yet."""
        last = turn_messages[-1]
        acts = last["role"] == "assistant" and bool(acting_calls(last["content"]))
        spoken = any(i.kind == "user" or i.external for i in state.items) or state.set_aside
        if acts or spoken or state.stored:
            self._store_progress(state, turn_messages, now, tools_pending=True)

    async def _report_outage(self, exc: ModelUnavailableError, attempt: int, wait: float) -> None:
        detail = str(exc) or exc.kind
        self._log.append("error", f"model call failed (attempt {attempt}, {exc.kind}): "
                         f"{detail}; retrying in {wait:.0f} s, nothing queued is lost")
        self._set_state("offline" if exc.retryable else "error", detail,
                        add_seconds(self._clock.now(), wait))
        if self._outage_reported:
            return
        if exc.retryable and not self._turn_has_user and attempt < 3:
            return
        self._outage_reported = True
        if exc.retryable:
            then = (f"What you sent is kept, and I will answer as soon as it works again "
                    f"(next try in {_duration_words(wait)}; `kairos wake` tries at once).")
        else:
            then = ("What you sent is kept; this needs a fix on your side, and I try again "
                    f"every {_duration_words(wait)}.")
        await self._deliveries.message(f"I can't answer right now: {detail}. {then}", "system")

    async def _wait_to_retry(self, seconds: float) -> None:
        """An arrival cuts the wait short (the retry carries it); stop() ends the turn."""
        self.queue.arrived.clear()
        await self._clock.wait(self.queue.arrived, seconds)
        if self._stopping:
            raise StopRequested


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else repr(exc)


def _duration_words(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds:.0f} seconds"


def _item_words(item: InboundItem) -> str:
    """An item as the user knows it: their message of 14:02, the scheduled task abc..."""
    at = f" of {item.created_at[11:16]}" if len(item.created_at) >= 16 else ""
    size = f", {len(item.text):,} characters" if len(item.text) >= HELD_FILE_MIN_CHARS else ""
    if item.kind == "user":
        return f"your message{at}{size}"
    if item.kind == "cron":
        return f"the scheduled task {item.meta.get('taskId', '')}'s prompt{at}{size}".replace(
            "task 's", "task's")
    return f"a {item.kind} event from {item.source}{at}{size}"


def _sleep_words(seconds: float | None) -> str:
    if seconds is None:
        return "sleeping until something arrives"
    if seconds >= 60:
        return f"sleeping {seconds / 60:.0f} min"
    return f"sleeping {seconds:.0f} s"


__all__ = ["AssistantLoop", "InboundItem"]
