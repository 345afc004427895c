"""The daily log: memory/logs/YYYY/MM/YYYY-MM-DD.md, one markdown list item per event.

Append-only by construction: the only write is an append (atomic.append_bytes: O_APPEND + fsync,
the file 0600 in 0700 folders: it holds what the user said); nothing in the package rewrites or
truncates a log. Every tick (also the quiet ones), tool call, message and error goes
here, so the user can always see what the assistant did and why, and autoDream can learn from it.

Tamper evidence: every entry ends with an HTML comment holding a keyed hash (HMAC-SHA256 with a
per-home secret) chained to the entry before it, starting from the file's header. Editing,
inserting or deleting an entry breaks the chain from that entry on; `verify` names the first
broken one. Continuation lines are indented, so text from outside cannot forge an entry line.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import threading
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from .atomic import append_bytes
from .clock import Clock

MARKER = re.compile(r" <!-- ([0-9a-f]{16}) -->$")
TAIL_BYTES = 8192


@dataclass
class LogCheck:
    path: Path
    intact: bool
    line: int | None = None
    reason: str = ""
    entries: int = 0

    def __str__(self) -> str:
        if self.intact:
            return f"{self.path}: intact ({self.entries} entries)"
        return f"{self.path}:{self.line}: {self.reason}"


class DailyLog:
    def __init__(self, logs_dir: Path, clock: Clock, *, key: bytes = b"") -> None:
        self.logs_dir = logs_dir
        self._clock = clock
        self._key = key
        self._mutex = threading.Lock()
        self._heads: dict[Path, str] = {}  # the last hash of each file this process appended to

    def path_for(self, day: date) -> Path:
        return self.logs_dir / f"{day:%Y}" / f"{day:%m}" / f"{day:%Y-%m-%d}.md"

    def _hash(self, previous: str, body: str) -> str:
        digest = hmac.new(self._key, f"{previous}\n{body}".encode(), hashlib.sha256)
        return digest.hexdigest()[:16]

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
        body = "\n".join(lines)
        with self._mutex:
            header = None if path.exists() else f"# {when:%A %d %B %Y}"
            previous = self._heads.get(path)
            if previous is None:
                previous = self._hash("", header) if header else self._last_hash(path)
            entry_hash = self._hash(previous, body)
            text = f"{header}\n\n" if header else ""
            append_bytes(path, f"{text}{body} <!-- {entry_hash} -->\n".encode())
            self._heads[path] = entry_hash
        return path

    def _last_hash(self, path: Path) -> str:
        """The chain head of an existing file: its last entry's hash (or the header's)."""
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - TAIL_BYTES))
            tail = handle.read().decode("utf-8", errors="replace").splitlines()
        for line in reversed(tail):
            found = MARKER.search(line)
            if found:
                return found.group(1)
        with open(path, encoding="utf-8") as handle:
            return self._hash("", handle.readline().rstrip("\n"))

    def read(self, day: date) -> str:
        path = self.path_for(day)
        return path.read_text(encoding="utf-8") if path.exists() else ""

    def verify(self, path: Path) -> LogCheck:
        """Walk the chain; the first entry whose hash does not follow is reported."""
        lines = path.read_text(encoding="utf-8").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if not lines or not lines[0].startswith("# "):
            return LogCheck(path, False, 1, "the header line is missing or changed")
        previous = self._hash("", lines[0])
        entries = 0
        i = 1
        while i < len(lines):
            line = lines[i]
            if line == "" and i == 1:
                i += 1
                continue
            if not line.startswith("- "):
                return LogCheck(path, False, i + 1, "a line that belongs to no entry "
                                "(inserted, or an entry was split)")
            start = i
            block = [line]
            while i + 1 < len(lines) and lines[i + 1].startswith("    "):
                i += 1
                block.append(lines[i])
            found = MARKER.search(block[-1])
            if not found:
                return LogCheck(path, False, start + 1, "an entry without its hash "
                                "(inserted or edited)")
            block[-1] = block[-1][:found.start()]
            expected = self._hash(previous, "\n".join(block))
            if not hmac.compare_digest(expected, found.group(1)):
                return LogCheck(path, False, start + 1, "this entry does not match its hash "
                                "(edited, inserted, or an entry before it was removed)")
            previous = found.group(1)
            entries += 1
            i += 1
        return LogCheck(path, True, entries=entries)

    def verify_all(self) -> list[LogCheck]:
        return [self.verify(p) for p in sorted(self.logs_dir.rglob("*.md"))]
