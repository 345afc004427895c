"""The light tick: a wake-up that brings nothing a person sent and no scheduled prompt (a plain
tick, folder changes, PR activity) is first answered on a small bounded context, on the cheap
`heartbeatModel`, which may only Sleep or Act(reason); Act hands the wake-up to the full turn.

Why: a quiet tick on the full context re-reads the whole conversation, so an idle day cost grew
with the assistant's age (1.6M cache-read tokens a day at a full context). The light context is
bounded whatever the age: the light system prompt, the memory section, a digest of the last few
stored turns, the open tasks, then what arrived.

Invariants:
- The cached prefix (tools, then the system blocks, the last one marked) holds nothing that
  changes from one quiet tick to the next: the digest and the task list only change when a turn
  is stored or a task changes, the memory section once a day (memory/prompt.py). The tick's time
  and what arrived go in the one user message after it, never marked. Two quiet ticks send the
  same bytes up to that message, so an idle day costs the same on day 1000 as on day 1.
- What a person sent (the user, a channel, a notification reply) and the prompts of tasks the
  user or the model scheduled never go here (`goes_light`): they go straight to the full turn.
  So does any kind of item not known to be a machine event: a new source is never answered by
  the small model by mistake. The built-in check-ins do come here: they ask "is there anything
  to do?" twice a day, which on the full context cost more than all the day's ticks.
- The calls go through the one agent turn (AgentRunner): backoff, budget check, usage, logging.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from ..scheduler.describe import describe_cron
from ..tools.base import Tool, ToolContext, ToolRegistry, ToolResult
from ..tools.sleep import SLEEP_TOOL
from .prompts import light_system_prompt

if TYPE_CHECKING:
    from ..queue import InboundItem
    from ..scheduler.runtime import Scheduler
    from ..settings import Settings
    from ..transcript import Transcript, Turn

# Machine events: what may be answered on the light context. Anything else goes to the full turn.
LIGHT_KINDS = frozenset({"folder", "pr"})
# The digest of the recent conversation: its last turns, one line each; what came in and what
# the assistant told the user are each cut to this length.
DIGEST_TURNS = 5
DIGEST_PART_CHARS = 140
# The open tasks: the next ones due, their prompt cut to this length.
TASKS_LISTED = 12
TASK_PROMPT_CHARS = 100
# A decision is a tool call or two: a small output cap, and a few calls at most.
LIGHT_MAX_TOKENS = 1_024
LIGHT_MAX_ITERATIONS = 3
ACT = "Act"
# The markup the loop wraps around a turn's input (prompts.py): left out of the digest.
_TICK = re.compile(r"<tick\b[^>]*/>")
_OPEN = re.compile(r'<(message|scheduled-task|event|external|channel)\b(?:[^>]*?source="([^"]*)")?'
                   r"[^>]*>")
_CLOSE = re.compile(r"</(?:message|scheduled-task|event|external|channel)>")


def goes_light(items: Iterable[InboundItem],
               scheduler: Scheduler | None = None) -> bool:
    """True when nothing among `items` was sent by a person or scheduled by one: a plain tick
    (no items), machine events, or the prompt of a built-in check-in (the morning check-in, the
    daily catch-up: the assistant's own "anything to do?", a tick with a question). A task
    the user or the model created always goes to the full turn."""
    return all(item.kind in LIGHT_KINDS or _builtin_check(item, scheduler) for item in items)


def _builtin_check(item: InboundItem, scheduler: Scheduler | None) -> bool:
    if item.kind != "cron" or scheduler is None:
        return False
    task = scheduler.get(str(item.meta.get("taskId", "")))
    return task is not None and task.builtin is not None and task.action == "prompt"


@dataclass
class LightDecision:
    """What the light model decided: Act (with its reason), or not (it slept)."""

    act: bool = False
    reason: str = ""


class ActInput(BaseModel):
    reason: str = Field(..., min_length=1, max_length=2_000, description=(
        "What needs doing and why, in one or two sentences: the full assistant reads it with "
        "the whole conversation and acts on it."))


def light_tools(decision: LightDecision) -> ToolRegistry:
    """Exactly two tools: Sleep, and Act, which records its reason in `decision`. Their
    definitions are the same for every decision (the prompt cache keeps hitting)."""

    async def act(ctx: ToolContext, args: ActInput) -> ToolResult:
        decision.act = True
        decision.reason = " ".join(args.reason.split())
        return ToolResult("Handing over to the full turn.")

    return ToolRegistry([SLEEP_TOOL, Tool(
        name=ACT,
        description=(
            "Wake the full assistant (the main model, with the whole conversation and all its "
            "tools) to deal with this wake-up. Call it when something needs doing now: an "
            "event to act on or tell the user about, an open task or promise that is due. It "
            "costs a full turn: when nothing needs doing, call Sleep instead."),
        input_model=ActInput, handler=act)])


def light_system(settings: Settings, *, memory: str | None, transcript: Transcript,
                 scheduler: Scheduler | None, ttl: str) -> list[dict[str, Any]]:
    """The light context's system blocks: the light prompt, the memory section, then the digest
    of the recent turns and the open tasks (the last block carries the cache breakpoint; the
    memory section one too, so a new digest reuses what is before it)."""
    mark = {"type": "ephemeral", "ttl": ttl}
    blocks: list[dict[str, Any]] = [{"type": "text", "text": light_system_prompt(settings)}]
    if memory:
        blocks.append({"type": "text", "text": memory, "cache_control": mark})
    state = "\n\n".join([recent_digest(transcript), open_tasks(scheduler)])
    blocks.append({"type": "text", "text": state, "cache_control": mark})
    return blocks


def light_tool_definitions(tools: ToolRegistry, ttl: str) -> list[dict[str, Any]]:
    definitions = tools.definitions()
    definitions[-1] = {**definitions[-1], "cache_control": {"type": "ephemeral", "ttl": ttl}}
    return definitions


def recent_digest(transcript: Transcript) -> str:
    """The gist of the last stored turns, oldest first, with their absolute times: what came in,
    what the assistant told the user, which tools it used."""
    turns = transcript.turns[-DIGEST_TURNS:]
    head = "# The recent conversation (its last turns, in short; the full turn sees it all)"
    if not turns:
        return f"{head}\n(no turn stored in this session yet)"
    earlier = len(transcript.turns) - len(turns)
    lines = [head]
    if earlier or transcript.summary:
        lines.append(f"(earlier turns: {earlier} more" +
                     (", and a summary of older ones" if transcript.summary else "") + ")")
    lines += [turn_gist(turn) for turn in turns]
    return "\n".join(lines)


def turn_gist(turn: Turn) -> str:
    """One line for a stored turn: when, what came in (without the tick's markup), what the
    assistant said to the user, the tools it used."""
    came: list[str] = []
    told: list[str] = []
    tools: list[str] = []
    for message in turn.messages:
        for block in message.get("content") or []:
            kind = block.get("type")
            if message.get("role") == "user" and kind == "text":
                text = _without_tick(str(block.get("text", "")))
                if text:
                    came.append(text)
            elif kind == "tool_use":
                name = str(block.get("name", ""))
                given = block.get("input") or {}
                if name == "SendUserMessage" and isinstance(given, dict):
                    told.append(str(given.get("message", "")))
                elif name != "Sleep":
                    tools.append(name)
    parts = [f"- {turn.at}: in: {_flat(came) or '(a tick)'}"]
    if told:
        parts.append(f"told the user: {_flat(told)}")
    if tools:
        parts.append(f"used: {', '.join(sorted(set(tools)))}")
    return " | ".join(parts)


def _without_tick(text: str) -> str:
    """A turn's input without the app's markup: no tick, the user's words as they are, others'
    marked with where they came from."""
    def opening(match: re.Match[str]) -> str:
        tag, source = match.group(1), match.group(2)
        if tag == "message":
            return ""
        return "[scheduled task] " if tag == "scheduled-task" else f"[from {source or tag}] "

    return _CLOSE.sub("", _OPEN.sub(opening, _TICK.sub("", text))).strip()


def _flat(parts: list[str]) -> str:
    text = " / ".join(" ".join(p.split()) for p in parts if p.strip())
    return text if len(text) <= DIGEST_PART_CHARS else text[:DIGEST_PART_CHARS - 3] + "..."


def open_tasks(scheduler: Scheduler | None) -> str:
    """The scheduled tasks, the next due first, at most TASKS_LISTED (their prompts short)."""
    head = "# Open tasks (each one's prompt arrives by itself when it is due)"
    if scheduler is None:
        return f"{head}\n(scheduling is off)"
    tasks = [t for t in scheduler.tasks() if t.action == "prompt"]
    if not tasks:
        return f"{head}\n(none)"
    lines = [head]
    for task in tasks[:TASKS_LISTED]:
        prompt = " ".join(task.prompt.split())
        if len(prompt) > TASK_PROMPT_CHARS:
            prompt = prompt[:TASK_PROMPT_CHARS - 3] + "..."
        when = task.next_due_at or "not scheduled"
        kind = "recurring" if task.recurring else "once"
        lines.append(f"- next {when} ({describe_cron(task.cron)}, {kind}) {task.id}: {prompt}")
    if len(tasks) > TASKS_LISTED:
        lines.append(f"- and {len(tasks) - TASKS_LISTED} more")
    return "\n".join(lines)


def light_message(tick: str, arrived: list[str]) -> dict[str, Any]:
    """The one message after the cached prefix: the tick (its time) and what arrived."""
    text = "\n\n".join([tick, *arrived])
    return {"role": "user", "content": [{"type": "text", "text": text}]}


__all__ = ["ACT", "LIGHT_KINDS", "LightDecision", "goes_light", "light_message", "light_system",
           "light_tool_definitions", "light_tools", "open_tasks", "recent_digest"]
