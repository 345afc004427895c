"""The memory section of the system prompt: MEMORY.md and the tail of yesterday's and today's
logs, within a token budget.

It is a snapshot: the loop rebuilds it when the day changes or MEMORY.md changes, never per tick,
so that the system prompt (and the prompt cache behind it) stays the same between idle ticks.
Tick lines and hash markers are left out: they tell the model nothing.
"""

from __future__ import annotations

from datetime import date, timedelta

from ..journal import MARKER, DailyLog
from .files import MemoryFiles

CHARS_PER_TOKEN = 4


def _entries(text: str) -> list[str]:
    entries: list[str] = []
    for line in text.splitlines():
        if line.startswith("- "):
            entries.append(line)
        elif line.startswith("    ") and entries:
            entries[-1] += "\n" + line
    # Idle ticks and the dream's own tool calls say nothing the model needs to remember.
    return [MARKER.sub("", e) for e in entries
            if "**tick**" not in e and "**dream tool " not in e]


def memory_section(files: MemoryFiles, log: DailyLog, today: date, *,
                   budget_tokens: int) -> str:
    budget = budget_tokens * CHARS_PER_TOKEN
    index = files.read_index().strip()
    if len(index) > budget // 2:
        index = index[: budget // 2] + "\n[index cut to fit the prompt budget]"
    parts = ["# Your memory",
             "## MEMORY.md (index of topics in memory/topics/; read a topic with MemoryRead)",
             index or "(empty: nothing consolidated yet)",
             "## Recent log (yesterday and today, oldest first; a snapshot taken at the start "
             "of the day, search the logs for later entries)"]
    room = budget - sum(len(p) + 1 for p in parts) - len("(nothing yet)")
    tail: list[str] = []
    for day in (today, today - timedelta(days=1)):
        dated = [f"- {day.isoformat()} {e[2:]}" for e in _entries(log.read(day))]
        for entry in reversed(dated):
            if len(entry) + 1 > room:
                break
            tail.append(entry)
            room -= len(entry) + 1
        else:
            continue
        break
    parts.append("\n".join(reversed(tail)) or "(nothing yet)")
    return "\n".join(parts)
