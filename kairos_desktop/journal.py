"""The daily log: memory/logs/YYYY/MM/YYYY-MM-DD.md, one markdown list item per event.

Append-only by construction: the only write is an append (atomic.append_bytes: O_APPEND + fsync,
the file 0600 in 0700 folders: it holds what the user said); nothing in the package rewrites a
log. The one cut is a torn tail (a crash mid-write): before the next append, what follows the last
complete entry is moved to `YYYY-MM-DD.md.torn` beside the file (never lost) and a "repair" entry
says so, so the next entry is not glued onto the fragment.

Every tick (also the quiet ones), tool call, message and error goes here, so the user can always
see what the assistant did and why, and autoDream can learn from it.

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

from .atomic import append_bytes, repair_torn_tail
from .clock import Clock

MARKER = re.compile(r" <!-- ([0-9a-f]{16}) -->$")
MARKER_BYTES = re.compile(rb" <!-- [0-9a-f]{16} -->$")
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


@dataclass(frozen=True)
class _Tip:
    """Where this process left a file: its size and chain head. A file of another size was
    changed meanwhile (a crash, another DailyLog on the folder, a hand) and is read again before
    the next append; `header` is set when the file is still to be started."""

    size: int
    head: str
    header: str | None = None


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def _entry_body(when: datetime, kind: str, text: str, external_source: str | None = None) -> str:
    """An entry without its hash marker. Continuation lines are indented: no text can make a
    line that reads as an entry of its own."""
    first, *rest = (text.rstrip() or "(empty)").splitlines() or ["(empty)"]
    marker = f" [external:{external_source}]" if external_source else ""
    lines = [f"- {when:%H:%M:%S} **{kind}**{marker} {first}"]
    lines += [f"    {line}" for line in rest]
    return "\n".join(lines)


def _ends_entry(line: bytes) -> bool:
    """Where a log's complete records end, for repair_torn_tail: an entry's hash marker, or the
    header and the blank line after it. Anything after the last of these is a torn entry."""
    return MARKER_BYTES.search(line) is not None or line.startswith(b"# ") or line == b""


class DailyLog:
    def __init__(self, logs_dir: Path, clock: Clock, *, key: bytes = b"") -> None:
        self.logs_dir = logs_dir
        self._clock = clock
        self._key = key
        self._mutex = threading.Lock()
        self._tips: dict[Path, _Tip] = {}  # where this process left each file it appended to

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
        body = _entry_body(when, kind, text, external_source)
        with self._mutex:
            tip = self._tips.get(path)
            notes: list[str] = []
            if tip is None or tip.size != _size(path):
                tip, notes = self._reopen(path, when)
            text = f"{tip.header}\n\n" if tip.header else ""
            head = tip.head
            for each in [*notes, body]:
                head = self._hash(head, each)
                text += f"{each} <!-- {head} -->\n"
            size = append_bytes(path, text.encode("utf-8"))
            self._tips[path] = _Tip(size, head)
        return path

    def _reopen(self, path: Path, when: datetime) -> tuple[_Tip, list[str]]:
        """Take up a file this process did not just write: repair a torn tail first (a crash
        mid-write), so the next entry starts on a line of its own; the repair is logged as an
        entry. Returns where the chain goes on from, and the entries to write first."""
        notes: list[str] = []
        torn = repair_torn_tail(path, ends_record=_ends_entry)
        if torn is not None:
            notes.append(_entry_body(when, "repair", (
                f"the last entry was torn (a crash mid-write): its {torn.size} byte(s) were "
                f"moved to {torn.torn_path.name} beside this file")))
        if not _size(path):
            header = f"# {when:%A %d %B %Y}"
            return _Tip(0, self._hash("", header), header), notes
        return _Tip(_size(path) or 0, self._last_hash(path)), notes

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
