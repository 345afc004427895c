"""The heartbeat loop: sleep until the deadline or an arrival, build a turn (the latest tick plus
what arrived), let the model act through tools until it calls Sleep (the agent turn of turn.py:
backoff, clipping, tool logging, usage), log everything, repeat.

Invariants:
- Inbound items are acked only after their turn is stored: a failed call or a crash replays them.
- A quiet turn (the user said nothing, the model only slept) is logged but never stored, so the
  conversation prefix, and with it the prompt cache, stays identical from one idle tick to the next.
- Every wait goes through the Clock; nothing here reads the time or sleeps on its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ..clock import Clock, add_seconds, seconds_between
from ..delivery.deliveries import Deliveries
from ..errors import ModelUnavailableError
from ..events import EventBus
from ..journal import DailyLog
from ..memory.files import MemoryFiles
from ..memory.prompt import memory_section
from ..model import ModelClient
from ..model_types import ModelReply
from ..paths import FolderPolicy
from ..queue import InboundItem, InboundQueue
from ..scheduler.runtime import Scheduler
from ..settings import Settings
from ..status import EngineStatus, State
from ..tools.base import ToolContext, ToolRegistry, TurnState
from ..transcript import SLEEP_RESULT, Transcript, repair
from ..usage import UsageLedger
from .prompts import no_key_reply, render_item, system_prompt, tick_block
from .turn import AgentRunner, StopRequested, TurnSpec

log = logging.getLogger(__name__)

# A sleep up to this long reuses a 5-minute cache entry; up to LONG_CACHE_LIMIT_S a 1-hour one.
# Longer sleeps outlive any cache entry, so paying for 1-hour writes would buy nothing.
SHORT_CACHE_LIMIT_S = 270.0
LONG_CACHE_LIMIT_S = 3_540.0


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
        self.last_interaction: datetime | None = None
        self._runner = AgentRunner(model=model, settings=settings, usage=usage, bus=bus,
                                   daily_log=daily_log, clock=clock,
                                   on_retry=self._report_outage, wait=self._wait_to_retry)

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
        self._deadline = 0.0
        self.queue.arrived.set()

    # Set by the panel page while it has the focus (cleared on blur or when its stream ends).
    panel_focused = False

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
                    await self._turn()
            except StopRequested:
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the loop must survive anything a turn throws
                log.exception("turn failed")
                self._log.append("error", f"turn failed: {exc!r}")
                self._deadline = self._clock.monotonic() + 60.0
                self._set_state("error", str(exc), add_seconds(self._clock.now(), 60))
        self._set_state("stopped")

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

    # -- a turn with the model ---------------------------------------------------------------

    def _cache_ttl(self) -> str:
        """The TTL for the prefix that must survive the coming sleep (tools, system, history)."""
        expected = self._last_sleep_s
        if expected is None:
            expected = self.clamp_sleep(None)
        if expected is None or expected > LONG_CACHE_LIMIT_S:
            return "5m"
        return "5m" if expected <= SHORT_CACHE_LIMIT_S else "1h"

    def build_request(self, turn_messages: list[dict[str, Any]], ttl: str
                      ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        """(system, tools, messages) with cache breakpoints on the last tool, the system prompt
        and the end of the stored history (all `ttl`: they must outlive the sleep), and on the
        newest block (5 minutes: it serves the next call of this turn, seconds away; a quiet
        tick's block is never sent again, so a long TTL there would be paid for nothing)."""
        settings = self._settings()
        mark = {"type": "ephemeral", "ttl": ttl}
        policy = self._policy()
        system: list[dict[str, Any]] = [{"type": "text", "text": system_prompt(
            settings, workspace=str(policy.workspace),
            readable=[str(p) for p in policy.readable_roots])}]
        if self._memory is not None:
            system.append({"type": "text", "text": self._memory_prompt(settings)})
        system[-1]["cache_control"] = mark
        tools = self.tools.definitions()
        if tools:
            tools[-1] = {**tools[-1], "cache_control": mark}
        # Shallow copies only: blocks are shared and never mutated, a marked block is a new dict.
        history = list(self.transcript.context())
        if history:
            last_msg = history[-1]
            content = list(last_msg["content"])
            content[-1] = {**content[-1], "cache_control": mark}
            history[-1] = {"role": last_msg["role"], "content": content}
        messages = repair(history + turn_messages)
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
        settings = self._settings()
        items = self.queue.pending()
        now = self._clock.now()
        if any(i.kind == "user" for i in items):
            self.mark_interaction()
        tick = tick_block(now, present=self._present(now), last_interaction=self.last_interaction)
        text = "\n\n".join([tick, *self._render_within_budget(items, settings)])
        content: list[dict[str, Any]] = [
            {"type": "tool_result", "tool_use_id": tid, "content": SLEEP_RESULT}
            for tid in self.transcript.unanswered_tool_uses()]
        content.append({"type": "text", "text": text})
        turn_messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
        for item in items:
            self._log.append(item.kind, item.text,
                             external_source=item.source if item.external else None)
        self._set_state("working")
        ctx = ToolContext(settings=settings, policy=self._policy(), deliveries=self._deliveries,
                          daily_log=self._log, clock=self._clock, turn=TurnState(),
                          scheduler=self._scheduler, memory=self._memory,
                          subscriptions=self._subscriptions)
        ttl = self._cache_ttl()
        spec = TurnSpec(request=lambda messages: self.build_request(messages, ttl),
                        tools=self.tools, ctx=ctx, max_iterations=settings.max_tool_iterations,
                        cache_ttl=ttl, stop_tools=frozenset({"Sleep"}),
                        resume_answer=SLEEP_RESULT, on_reply=self._on_reply)
        result = await self._runner.run(spec, turn_messages)
        calls = result.calls
        only_slept = all(name == "Sleep" for name in result.tools)
        if result.ended == "max_iterations":
            self._log.append("error", f"stopped after {settings.max_tool_iterations} tool "
                             "iterations without a Sleep (setting maxToolIterations)")
            turn_messages.pop()  # its results: the repair step answers the last calls next turn
        # Quiet: the model did nothing but sleep and the user said nothing. Kept only in the
        # daily log, so idle hours (and scheduled checks that found nothing to do) never grow
        # the context or move the prompt cache's prefix.
        from_user = any(i.kind == "user" or i.external for i in items)
        quiet = only_slept and not from_user
        sleep_s = self.clamp_sleep(ctx.turn.sleep_seconds)
        self._last_sleep_s = sleep_s
        if quiet:
            self._log.append("tick", f"quiet; {_sleep_words(sleep_s)}")
        else:
            self.transcript.append_turn(turn_messages, now.isoformat(timespec="seconds"))
            self._log.append("tick", f"{calls} model call(s); {_sleep_words(sleep_s)}")
            if self.transcript.compact(settings.context_budget_tokens):
                self._log.append("compaction", "older turns folded into a summary")
                self._memory_snapshot = None  # the cache is rebuilt anyway: refresh the tail
            if self._on_active_turn is not None and from_user:
                self._on_active_turn()
        self.queue.ack([i.id for i in items])
        self.status.turns += 1
        self._outage_reported = False
        if any(i.wakes for i in self.queue.pending()):
            self._deadline = 0.0  # something arrived during the turn: go again at once
            self._set_state("working")
        else:
            self._schedule_sleep(sleep_s)

    # -- hooks of the agent turn -------------------------------------------------------------

    def _on_reply(self, reply: ModelReply) -> None:
        if self.status.state != "working":  # a call went through after an outage
            self._set_state("working")
        if reply.text:
            self._log.append("thought", reply.text)

    async def _report_outage(self, exc: ModelUnavailableError, attempt: int, wait: float) -> None:
        self._log.append("error", f"model call failed (attempt {attempt}): {exc}; "
                         f"retrying in {wait:.0f} s, nothing queued is lost")
        self._set_state("offline" if exc.retryable else "error", str(exc),
                        add_seconds(self._clock.now(), wait))
        if not self._outage_reported and (attempt >= 3 or not exc.retryable):
            self._outage_reported = True
            await self._deliveries.message(
                f"I can't reach the model right now: {exc} Your messages are kept and "
                "I will answer them as soon as it works again.", "system")

    async def _wait_to_retry(self, seconds: float) -> None:
        """An arrival cuts the wait short (the retry carries it); stop() ends the turn."""
        self.queue.arrived.clear()
        await self._clock.wait(self.queue.arrived, seconds)
        if self._stopping:
            raise StopRequested


def _sleep_words(seconds: float | None) -> str:
    if seconds is None:
        return "sleeping until something arrives"
    if seconds >= 60:
        return f"sleeping {seconds / 60:.0f} min"
    return f"sleeping {seconds:.0f} s"


__all__ = ["AssistantLoop", "InboundItem"]
