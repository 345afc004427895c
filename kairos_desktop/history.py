"""What only grows (messages, delivered files, dream runs, activity, usage), kept out of the
store: append-only monthly files, history/<kind>/YYYY-MM.jsonl, read page by page.

Why: the store is rewritten whole on every write, so anything that grows with the assistant's
age there makes every write slower (104 ms with a year of messages). Here a write appends one
line to this month's file, whatever the age, and a read of the newest page opens only the newest
months.

Records are JSON objects with an "id". A record is never rewritten: a later change (a message
read, a dream that ended) is appended as a patch, {"patch": id, ...changes}, and merged into the
record when it is read (the last patch wins). An append first repairs a torn tail (a crash mid
write: the fragment is kept in a .torn file beside it). A line that cannot be read is reported
with its path and line and skipped; the lines after it are read as usual (`on_problem` hears of
each one once, so the home can tell the user).

A patch is written to the month file that holds its record (`update` finds it), so a month read
on its own (`month`, `page`, a `newest` page that starts at `until`) is complete. The newest
months' parsed lines are kept (CACHED_MONTHS) and an append is read incrementally: the newest
page after a write costs the new line, not the month.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .atomic import append_bytes, private_dir, repair_torn_tail

log = logging.getLogger(__name__)

Record = dict[str, Any]
MONTH_FILE = re.compile(r"^(\d{4})-(\d{2})\.jsonl$")
PATCH = "patch"
CACHED_MONTHS = 3  # parsed months kept in memory per kind: the newest are read all the time
CURSOR = re.compile(r"^(\d{4}-\d{2}):(\d+)$")


@dataclass
class Problem:
    """A line of a history file that could not be read (it is skipped, never dropped)."""

    path: Path
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


@dataclass
class _Parsed:
    """A month file's records as far as it was read: `offset` is where its next line starts."""

    inode: int
    offset: int
    lines: int
    records: list[Record]


@dataclass
class History:
    """One kind of history, e.g. History(home / "history", "messages")."""

    root: Path
    kind: str
    problems: list[Problem] = field(default_factory=list)
    on_problem: Callable[[Problem], None] | None = field(default=None, repr=False)
    _mutex: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _parsed: OrderedDict[str, _Parsed] = field(default_factory=OrderedDict, repr=False)

    @property
    def folder(self) -> Path:
        return self.root / self.kind

    def path_for(self, month: str) -> Path:
        return self.folder / f"{month}.jsonl"

    # -- writing -----------------------------------------------------------------------------

    def append(self, record: Record, *, month: str) -> None:
        """Add one record to `month` ("2026-11"); it must carry an "id"."""
        self.append_many([record], month=month)

    def append_many(self, records: Iterable[Record], *, month: str) -> None:
        lines = [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in records]
        if not lines:
            return
        path = self.path_for(month)
        with self._mutex:
            private_dir(self.folder)
            repair_torn_tail(path)
            append_bytes(path, ("\n".join(lines) + "\n").encode("utf-8"))

    def patch(self, record_id: str, changes: Record, *, month: str) -> None:
        """Record a change to an earlier record, appended to `month`: the month that holds the
        record keeps month reads whole (`update` finds it)."""
        self.append({PATCH: record_id, **changes}, month=month)

    def update(self, record_id: str, changes: Record) -> Record | None:
        """Patch the record with this id in its own month; returns it as it now reads, or None
        when there is none. Nothing is written when it already reads so."""
        found = self.locate(record_id)
        if found is None:
            return None
        month, record = found
        if all(record.get(key) == value for key, value in changes.items()):
            return record
        self.patch(record_id, changes, month=month)
        return {**record, **changes}

    # -- reading -----------------------------------------------------------------------------

    def months(self) -> list[str]:
        """Months that have a file, oldest first."""
        if not self.folder.exists():
            return []
        found = (MONTH_FILE.match(p.name) for p in self.folder.iterdir())
        return sorted(f"{m.group(1)}-{m.group(2)}" for m in found if m)

    def _lines(self, month: str) -> list[Record]:
        """The month's lines as records (patches included), read from where the last read of
        this file stopped when it only grew since (appends are the only writes)."""
        path = self.path_for(month)
        with self._mutex:
            try:
                handle = open(path, "rb")  # noqa: SIM115 - closed below
            except FileNotFoundError:
                self._parsed.pop(month, None)
                return []
            with handle:
                inode = os.fstat(handle.fileno()).st_ino
                cached = self._parsed.get(month)
                if cached is None or cached.inode != inode or \
                        os.fstat(handle.fileno()).st_size < cached.offset:
                    cached = _Parsed(inode, 0, 0, [])
                handle.seek(cached.offset)
                raw = handle.read()
            complete = raw[:raw.rfind(b"\n") + 1]  # a torn last line is not a record (yet)
            if complete:
                cached = _Parsed(inode, cached.offset + len(complete),
                                 cached.lines + complete.count(b"\n"),
                                 [*cached.records, *self._parse(path, cached.lines, complete)])
            self._parsed[month] = cached
            self._parsed.move_to_end(month)
            while len(self._parsed) > CACHED_MONTHS:
                self._parsed.popitem(last=False)
            return cached.records

    def _parse(self, path: Path, before: int, complete: bytes) -> list[Record]:
        records: list[Record] = []
        for number, line in enumerate(complete.split(b"\n")[:-1], before + 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                self._problem(path, number, f"not a JSON record ({exc.__class__.__name__})")
                continue
            if not isinstance(value, dict) or not (isinstance(value.get("id"), str)
                                                   or isinstance(value.get(PATCH), str)):
                self._problem(path, number, "not a record with an id")
                continue
            records.append(value)
        return records

    def _problem(self, path: Path, line: int, reason: str) -> None:
        problem = Problem(path, line, reason)
        if all((p.path, p.line) != (path, line) for p in self.problems):
            self.problems.append(problem)
            log.warning("history: %s; skipped", problem)
            if self.on_problem is not None:
                self.on_problem(problem)

    def newest(self, limit: int, *, where: Any = None, until: str | None = None
               ) -> list[Record]:
        """Up to `limit` records (patches merged), newest last, reading only as many months
        back as it takes, from `until` ("2026-11") back when given. `where(record)` filters."""
        pages: list[list[Record]] = []
        patches: dict[str, Record] = {}
        count = 0
        if limit <= 0:
            return []
        for month in reversed(self.months()):
            if until is not None and month > until:
                continue
            page: list[Record] = []
            for record in reversed(self._lines(month)):
                if PATCH in record:
                    # Newest first: a patch met first is the latest; an older one fills gaps.
                    target = patches.setdefault(record[PATCH], {})
                    for key, value in record.items():
                        if key != PATCH:
                            target.setdefault(key, value)
                    continue
                merged = {**record, **patches.get(record["id"], {})}
                if where is None or where(merged):
                    page.append(merged)
                    count += 1
                    if count >= limit:
                        break
            pages.append(list(reversed(page)))
            if count >= limit:
                break
        return [record for page in reversed(pages) for record in page]

    def month(self, month: str) -> list[Record]:
        """The records of one month ("2026-11"), oldest first, its own patches merged: a day's
        records are read without going back through older months."""
        return _merged(self._lines(month))

    def all(self) -> Iterator[Record]:
        """Every record, oldest first, patches merged (reads every month: for exports)."""
        yield from _merged(record for month in self.months() for record in self._lines(month))

    def find(self, record_id: str) -> Record | None:
        """The record with this id (patches merged), searched newest month first."""
        found = self.locate(record_id)
        return found[1] if found else None

    def locate(self, record_id: str) -> tuple[str, Record] | None:
        """(the month whose file holds it, the record with its patches merged), searched newest
        month first; None when no month holds it."""
        later: list[list[Record]] = []  # its patches in the months after, newest month first
        for month in reversed(self.months()):
            lines = self._lines(month)
            found = next((r for r in lines if r.get("id") == record_id), None)
            own = [r for r in lines if r.get(PATCH) == record_id]
            if found is None:
                later.append(own)
                continue
            merged = dict(found)
            for patch in [*own, *(p for month_patches in reversed(later) for p in month_patches)]:
                merged.update({k: v for k, v in patch.items() if k != PATCH})
            return month, merged
        return None

    def page(self, after: str | None, limit: int) -> tuple[list[Record], str | None]:
        """Up to `limit` records oldest first, from the start or from the cursor `after` (what
        the previous page returned), and the cursor of the next page (None: this was the
        last). Reads only the months the page covers."""
        start_month, skip = "", 0
        if after is not None:
            matched = CURSOR.match(after)
            if matched is None:
                raise ValueError(f"{after!r} is not a page cursor (YYYY-MM:N)")
            start_month, skip = matched.group(1), int(matched.group(2))
        out: list[Record] = []
        months = [m for m in self.months() if m >= start_month]
        for index, month in enumerate(months):
            records = self.month(month)
            first = skip if month == start_month else 0
            taken = records[first:first + limit - len(out)]
            out += taken
            if len(out) >= limit:
                end = first + len(taken)
                if end < len(records):
                    return out, f"{month}:{end}"
                later = months[index + 1:]
                return out, (f"{later[0]}:0" if later else None)
        return out, None

    def count(self) -> int:
        return sum(1 for _ in self.all())


def _merged(lines: Iterable[Record]) -> list[Record]:
    """The records among `lines`, oldest first, each with the patches to it merged (a later
    patch wins)."""
    patches: dict[str, Record] = {}
    records: list[Record] = []
    for record in lines:
        if PATCH in record:
            patches.setdefault(record[PATCH], {}).update(
                {k: v for k, v in record.items() if k != PATCH})
        else:
            records.append(record)
    return [{**record, **patches.get(record["id"], {})} for record in records]


def month_of(stamp: str) -> str:
    """"2026-11" of an ISO time stamp (what every record's time is written as)."""
    return stamp[:7]


def instant(stamp: str) -> datetime:
    """An ISO time stamp as an aware datetime (naive ones read as UTC); ValueError if it is
    not one."""
    parsed = datetime.fromisoformat(stamp)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def next_month(month: str) -> str:
    year, number = int(month[:4]), int(month[5:7])
    return f"{year + number // 12:04d}-{number % 12 + 1:02d}"


def stamped_before(before: str, *fields: str) -> tuple[Callable[[Record], bool], str]:
    """(`where`, `until`) for History.newest: the records whose time (the first of `fields`
    they have) is before the ISO time `before`. `until` is the month after `before`'s, for a
    record written under another UTC offset. ValueError if `before` is not a time."""
    cutoff = instant(before)

    def earlier(record: Record) -> bool:
        stamp = next((record[f] for f in fields if isinstance(record.get(f), str)), None)
        if stamp is None:
            return False
        try:
            return instant(stamp) < cutoff
        except ValueError:
            return False

    return earlier, next_month(month_of(before))
