"""Moving what only grows out of an older store.json, once, on the first start of this version.

Before, store.json held every message, the user's messages, delivered-file records, dream runs,
activity rows and every day's usage: each write rewrote all of it (349 ms at three years). Now
those live in append-only monthly files (history.py). `migrate` moves them there so that nothing
is lost:

1. store.json is copied to store.json.pre-migration;
2. each table's records are written, month by month, to a staging folder (history/.migrating/);
   a month file that already exists (records written since) is merged: the moved records first,
   in the store's order, then what the file held; an id already there is not written again, so
   a migration that stopped half way is finished, never doubled;
3. the staged files are checked against the store (every id, once, in the store's order, each
   record equal), moved into place and checked again;
4. only then are the moved tables dropped from the store, in one write, and the pre-migration
   copy deleted.

Anything that fails before step 4 leaves store.json as it was (the copy stays beside it) and
raises MigrationError saying why; the next start tries again.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .atomic import atomic_write_bytes, private_dir, repair_torn_tail
from .clock import Clock
from .delivery import inbox, outbox, user_messages
from .errors import KairosError
from .history import PATCH, month_of
from .memory import activity, dream_snapshots
from .store import Store
from .usage import DAYS_KIND, day_row
from .usage import TABLE as USAGE_TABLE

Record = dict[str, Any]
PRE_MIGRATION_SUFFIX = ".pre-migration"
STAGING = ".migrating"


class MigrationError(KairosError):
    """The store could not be migrated; it was left as it was (the message says why)."""


@dataclass(frozen=True)
class Move:
    """One table of the old store and where its records go."""

    table: str
    kind: str
    stamp: Callable[[Record], str | None]  # the time that picks a record's month
    ident: Callable[[Record, int], str]  # its id (given its position in the table)
    keep: Callable[[Record], bool] = lambda _: False  # rows that stay in the store


def _field(*names: str) -> Callable[[Record], str | None]:
    def stamp(record: Record) -> str | None:
        for name in names:
            value = record.get(name)
            if isinstance(value, str) and len(value) >= 7:
                return value
        return None

    return stamp


def _own_id(record: Record, position: int) -> str:
    value = record.get("id")
    return value if isinstance(value, str) and value else f"legacy-{position}"


def moves(today: str) -> list[Move]:
    return [
        Move(outbox.TABLE, outbox.KIND, _field("createdAt", "at"), _own_id),
        Move(user_messages.TABLE, user_messages.KIND, _field("createdAt", "at"), _own_id),
        Move(inbox.TABLE, inbox.KIND, _field("deliveredAt"), _own_id),
        Move(dream_snapshots.DREAMS_TABLE, dream_snapshots.KIND, _field("startedAt"), _own_id),
        Move(activity.TABLE, activity.KIND, _field("date"),
             lambda r, _: activity.activity_id(str(r.get("session")), str(r.get("date")))),
        Move(USAGE_TABLE, DAYS_KIND, _field("date"), lambda r, _: day_row(r)["id"],
             keep=lambda r: str(r.get("date", "")) >= today),
    ]


@dataclass
class Report:
    """What a migration moved: records per kind, and the store's size before and after."""

    moved: dict[str, int] = field(default_factory=dict)
    bytes_before: int = 0
    bytes_after: int = 0

    def __str__(self) -> str:
        what = ", ".join(f"{count:,} {kind.replace('_', ' ')}" for kind, count in
                         self.moved.items() if count)
        return (f"moved {what or 'nothing'} from store.json to history/ (store.json "
                f"{self.bytes_before:,} -> {self.bytes_after:,} bytes)")


def pending(store: Store) -> bool:
    """Whether the store still holds a table that moves (cheap: the store is in memory). Past
    days' usage rows alone do not count: the ledger moves those on a day's first call."""
    tables = store.tables()
    return any(m.table in tables for m in moves("") if m.table != USAGE_TABLE)


def migrate(store: Store, clock: Clock) -> Report | None:
    """Move the growing tables out of `store` (see the module docstring). None when there was
    nothing to move; MigrationError (the store untouched) when it could not be done."""
    today = clock.now().date().isoformat()
    if not pending(store):
        return None
    try:
        return _migrate(store, today)
    except MigrationError:
        raise
    except (OSError, ValueError, TypeError) as exc:
        raise MigrationError(f"{exc.__class__.__name__}: {exc}") from exc


def _migrate(store: Store, today: str) -> Report:
    path = store.path
    copy = path.with_name(path.name + PRE_MIGRATION_SUFFIX)
    report = Report(bytes_before=path.stat().st_size)
    atomic_write_bytes(copy, path.read_bytes(), mode=0o600)
    root = store.history_dir
    staging = root / STAGING
    plans: list[tuple[Move, list[Record]]] = []
    try:
        shutil.rmtree(staging, ignore_errors=True)
        for move in moves(today):
            records = _records(move, store.all(move.table))
            plans.append((move, records))
            _stage(move, records, root / move.kind, staging / move.kind)
        for move, records in plans:
            _verify(records, staging / move.kind, root / move.kind, f"the staged {move.kind}")
        for move, _ in plans:
            _put_in_place(staging / move.kind, root / move.kind)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for move, records in plans:
        _verify(records, None, root / move.kind, f"{root / move.kind}")
        report.moved[move.kind] = len(records)

    def drop(db: Any) -> None:  # one write
        for move, _ in plans:
            if move.table not in db.tables():
                continue
            table = db.table(move.table, cache_size=0)
            gone = [doc.doc_id for doc in table.all() if not move.keep(dict(doc))]
            if len(gone) == len(table):
                db.drop_table(move.table)
            elif gone:
                table.remove(doc_ids=gone)

    store.transact(drop)
    report.bytes_after = path.stat().st_size
    copy.unlink(missing_ok=True)
    return report


def _records(move: Move, rows: list[Record]) -> list[Record]:
    """The table's rows that move, in its order, each with its id: a row repeated exactly is
    kept once; a different row with an id already taken gets "<id>~<n>"."""
    out: list[Record] = []
    taken: dict[str, Record] = {}
    for position, row in enumerate(rows):
        record = {k: v for k, v in row.items() if k != "_id"}
        if move.keep(record):
            continue
        ident = move.ident(record, int(row.get("_id", position)))
        if ident in taken and taken[ident] == {**record, "id": ident}:
            continue
        n = 1
        base = ident
        while ident in taken:
            n += 1
            ident = f"{base}~{n}"
        record["id"] = ident
        taken[ident] = record
        out.append(record)
    return out


def _months(move: Move, records: list[Record]) -> list[str]:
    """Each record's month: its stamp's, never earlier than the record before it (so the
    store's order is the files' order), the first stamped one's for those before it."""
    first = next((s for s in (move.stamp(r) for r in records) if s), None)
    current = month_of(first) if first else "0000-01"
    out = []
    for record in records:
        stamp = move.stamp(record)
        if stamp and month_of(stamp) > current:
            current = month_of(stamp)
        out.append(current)
    return out


def _encode(record: Record) -> bytes:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def _raw(path: Path) -> list[tuple[Record, bytes]]:
    """A month file's complete lines that are JSON objects, as written (patches unmerged)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    out = []
    for line in data[:data.rfind(b"\n") + 1].split(b"\n")[:-1]:
        with contextlib.suppress(ValueError):
            value = json.loads(line)
            if isinstance(value, dict):
                out.append((value, line + b"\n"))
    return out


def _stage(move: Move, records: list[Record], live: Path, staged: Path) -> None:
    """Write the month files of `move` that need records to `staged`: the store's records of
    the month in its order, then the lines of the live file that are not among them (records
    written since, and patches)."""
    by_month: dict[str, list[Record]] = {}
    for record, month in zip(records, _months(move, records), strict=True):
        by_month.setdefault(month, []).append(record)
    for month, wanted in sorted(by_month.items()):
        live_path = live / f"{month}.jsonl"
        repair_torn_tail(live_path)
        lines = _raw(live_path)
        present = {r.get("id") for r, _ in lines if PATCH not in r}
        if all(r["id"] in present for r in wanted):
            continue
        mine = {r["id"]: r for r in wanted}
        # Kept: what was written since, patches, and a record that only shares an id (the
        # check below then refuses the move rather than drop either).
        rest = [raw for r, raw in lines if PATCH in r or mine.get(r.get("id")) != r]
        private_dir(staged)
        atomic_write_bytes(staged / f"{month}.jsonl",
                           b"".join(_encode(r) for r in wanted) + b"".join(rest), mode=0o600)


def _verify(records: list[Record], staged: Path | None, live: Path, where: str) -> None:
    """Every record of the store, once, in its order and equal, in the month files (the staged
    ones, else the live ones)."""
    months = {p.name for p in live.glob("*.jsonl")}
    if staged is not None:
        months |= {p.name for p in staged.glob("*.jsonl")}
    found: dict[str, list[Record]] = {}
    order: list[str] = []
    for name in sorted(months):
        path = staged / name if staged is not None and (staged / name).exists() else live / name
        for record, _ in _raw(path):
            if PATCH in record or not isinstance(record.get("id"), str):
                continue
            found.setdefault(record["id"], []).append(record)
            order.append(record["id"])
    for record in records:
        copies = found.get(record["id"], [])
        if len(copies) != 1:
            raise MigrationError(f"{where} holds {len(copies)} record(s) with id "
                                 f"{record['id']!r} after the move, not one")
        if copies[0] != record:
            raise MigrationError(f"{where}: the record {record['id']!r} reads back different")
    wanted = {r["id"] for r in records}
    if [i for i in order if i in wanted] != [r["id"] for r in records]:
        raise MigrationError(f"{where} does not hold the records in the store's order")


def _put_in_place(staged: Path, target: Path) -> None:
    if not staged.exists():
        return
    private_dir(target)
    for path in sorted(staged.glob("*.jsonl")):
        os.replace(path, target / path.name)
    with contextlib.suppress(OSError):
        staged.rmdir()
