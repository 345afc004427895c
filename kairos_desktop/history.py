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
with its path and line and skipped; the lines after it are read as usual.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .atomic import append_bytes, private_dir, repair_torn_tail

log = logging.getLogger(__name__)

Record = dict[str, Any]
MONTH_FILE = re.compile(r"^(\d{4})-(\d{2})\.jsonl$")
PATCH = "patch"


@dataclass
class Problem:
    """A line of a history file that could not be read (it is skipped, never dropped)."""

    path: Path
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


@dataclass
class History:
    """One kind of history, e.g. History(home / "history", "messages")."""

    root: Path
    kind: str
    problems: list[Problem] = field(default_factory=list)
    _mutex: threading.Lock = field(default_factory=threading.Lock, repr=False)

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
        """Record a change to an earlier record (appended to `month`, usually the current one)."""
        self.append({PATCH: record_id, **changes}, month=month)

    # -- reading -----------------------------------------------------------------------------

    def months(self) -> list[str]:
        """Months that have a file, oldest first."""
        if not self.folder.exists():
            return []
        found = (MONTH_FILE.match(p.name) for p in self.folder.iterdir())
        return sorted(f"{m.group(1)}-{m.group(2)}" for m in found if m)

    def _lines(self, month: str) -> list[Record]:
        path = self.path_for(month)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return []
        records: list[Record] = []
        complete = raw[:raw.rfind(b"\n") + 1]  # a torn last line is not a record (yet)
        for number, line in enumerate(complete.splitlines(), 1):
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

    def newest(self, limit: int, *, where: Any = None) -> list[Record]:
        """Up to `limit` records (patches merged), newest last, reading only as many months
        back as it takes. `where(record)` filters."""
        pages: list[list[Record]] = []
        patches: dict[str, Record] = {}
        count = 0
        for month in reversed(self.months()):
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
        patches: dict[str, Record] = {}
        records: list[Record] = []
        for record in self._lines(month):
            if PATCH in record:
                patches.setdefault(record[PATCH], {}).update(
                    {k: v for k, v in record.items() if k != PATCH})
            else:
                records.append(record)
        return [{**record, **patches.get(record["id"], {})} for record in records]

    def all(self) -> Iterator[Record]:
        """Every record, oldest first, patches merged (reads every month: for exports)."""
        patches: dict[str, Record] = {}
        records: list[Record] = []
        for month in self.months():
            for record in self._lines(month):
                if PATCH in record:
                    patches.setdefault(record[PATCH], {}).update(
                        {k: v for k, v in record.items() if k != PATCH})
                else:
                    records.append(record)
        for record in records:
            yield {**record, **patches.get(record["id"], {})}

    def find(self, record_id: str) -> Record | None:
        """The record with this id (patches merged), searched newest month first."""
        found = self.newest(1, where=lambda r: r["id"] == record_id)
        return found[0] if found else None

    def count(self) -> int:
        return sum(1 for _ in self.all())


def month_of(stamp: str) -> str:
    """"2026-11" of an ISO time stamp (what every record's time is written as)."""
    return stamp[:7]
