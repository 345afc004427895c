"""Built-in permanent tasks, written once at first start. A user's edit is never overwritten and
a built-in the user deleted stays deleted: the store remembers which names were ever seeded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Builtin:
    name: str
    cron: str
    prompt: str
    action: Literal["prompt", "dream"] = "prompt"


BUILTINS = (
    Builtin(
        "morning-check-in", "43 8 * * 1-5",
        "Morning check-in. Look at today's scheduled tasks and anything left open in yesterday's "
        "log. If there is something the user should know to start the day, send one short "
        "proactive message; otherwise just Sleep."),
    Builtin(
        "daily-catch-up", "13 18 * * *",
        "Daily catch-up. Review today's log for unfinished work or anything the user asked for "
        "and did not get. Finish what you can; if something needs the user, tell them in one "
        "brief message; otherwise just Sleep."),
    Builtin(
        "dream", "17 3 * * *",
        "Nightly memory consolidation (autoDream).", action="dream"),
)
