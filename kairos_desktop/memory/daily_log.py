"""The daily log: memory/logs/YYYY/MM/YYYY-MM-DD.md, one markdown list item per event.

Append-only by construction: the only write is open(..., "a") + fsync; nothing in the package
rewrites or truncates a log. Every tick (also the quiet ones), tool call, message and error goes
here, so the user can always see what the assistant did and why, and autoDream can learn from it.
"""

from __future__ import annotations

import os
import threading
from datetime import date, datetime
from pathlib import Path

from ..clock import Clock


class DailyLog:
    def __init__(self, logs_dir: Path, clock: Clock) -> None:
        self.logs_dir = logs_dir
        self._clock = clock
        self._mutex = threading.Lock()

    def path_for(self, day: date) -> Path:
        return self.logs_dir / f"{day:%Y}" / f"{day:%m}" / f"{day:%Y-%m-%d}.md"

    def append(self, kind: str, text: str, *, external_source: str | None = None,
               at: datetime | None = None) -> Path:
        """Add one entry. Text from outside the user (a channel, a PR, a file) is marked with its
        source so a later reader can tell it from the user's own words."""
        when = at or self._clock.now()
        path = self.path_for(when.date())
        first, *rest = (text.rstrip() or "(empty)").splitlines() or ["(empty)"]
        marker = f" [external:{external_source}]" if external_source else ""
        lines = [f"- {when:%H:%M:%S} **{kind}**{marker} {first}"]
        lines += [f"    {line}" for line in rest]
        entry = "\n".join(lines) + "\n"
        with self._mutex:
            path.parent.mkdir(parents=True, exist_ok=True)
            is_new = not path.exists()
            with open(path, "a", encoding="utf-8") as handle:
                if is_new:
                    handle.write(f"# {when:%A %d %B %Y}\n\n")
                handle.write(entry)
                handle.flush()
                os.fsync(handle.fileno())
        return path

    def read(self, day: date) -> str:
        path = self.path_for(day)
        return path.read_text(encoding="utf-8") if path.exists() else ""
