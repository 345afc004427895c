"""The store: tinydb on an atomic storage, behind one lock.

tinydb's own JSONStorage rewrites store.json in place, so a kill mid-write leaves half a file.
AtomicJSONStorage writes a temp file, fsyncs it and renames it over the old one: a reader (or the
next start after a crash) sees the old store or the new one, never a broken one. All access goes
through Store, which serialises it with one lock (tinydb is not thread-safe).

The store holds only small operational state (tasks, the queue and held items, subscriptions,
notices, today's usage, meta), so a write costs the same on day 1000 as on day 1. What only grows
(messages, delivered files, dream runs, activity, past usage) lives in append-only monthly files
beside it, history/<kind>/ (history.py), one History per kind: `Store.history(kind)`.

So an unreadable store.json (not JSON, not an object, or empty: a 0-byte file is never one of
ours, since no write of ours leaves one) means something else changed it: it is refused with
UnreadableStoreError, which says why, and never read as an empty store.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Table

from .atomic import atomic_write_text
from .errors import StoreCorruptError
from .history import History, Problem

T = TypeVar("T")


class UnreadableStoreError(StoreCorruptError):
    """store.json cannot be read; `reason` says why in words ("it is empty (0 bytes)")."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path} {reason}. It was left untouched; move it aside to start with "
                         "an empty store, or restore it from a backup.")
        self.path = path
        self.reason = reason


class AtomicJSONStorage(Storage):
    """Keeps the last data it read or wrote, reused while the file on disk is the same one
    (inode, size, mtime): tinydb reads the whole storage on every operation."""

    def __init__(self, path: str | Path, **_: Any) -> None:
        self.path = Path(path)
        self._cache: dict[str, dict[str, Any]] | None = None
        self._cache_key: tuple[int, int, int] | None = None
        # Inside a batch, writes stay in memory and reach the file once, at commit.
        self._batch_depth = 0
        self._dirty = False

    def _file_key(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def read(self) -> dict[str, dict[str, Any]] | None:
        if self._batch_depth and self._dirty:
            return self._cache
        key = self._file_key()
        if key is None:
            return None
        if self._cache is not None and key == self._cache_key:
            return self._cache
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        if not raw.strip():
            # A kill mid-write leaves the old file or the new one, never an empty one.
            raise UnreadableStoreError(
                self.path, f"is empty ({len(raw):,} bytes): something other than kairos cut it "
                "short, since kairos replaces it whole")
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise UnreadableStoreError(self.path, f"is not text ({exc})") from exc
        except json.JSONDecodeError as exc:
            raise UnreadableStoreError(self.path, f"is not valid JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise UnreadableStoreError(self.path, "does not hold a JSON object")
        self._cache, self._cache_key = data, key
        return data

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        # tinydb mutated `data` (possibly the cached object) before calling: if the write
        # fails, the next read must come from the file again.
        self._cache = self._cache_key = None
        if self._batch_depth:
            self._cache, self._dirty = data, True
            return
        self._flush(data)

    def _flush(self, data: dict[str, dict[str, Any]]) -> None:
        atomic_write_text(self.path, json.dumps(data, ensure_ascii=False, separators=(",", ":")))
        self._cache, self._cache_key = data, self._file_key()

    def begin(self) -> None:
        self._batch_depth += 1

    def commit(self) -> None:
        self._batch_depth -= 1
        if self._batch_depth == 0 and self._dirty:
            self._dirty = False
            data, self._cache = self._cache, None
            assert data is not None
            self._flush(data)

    def rollback(self) -> None:
        self._batch_depth = 0
        self._dirty = False
        self._cache = self._cache_key = None  # the file still holds the last committed state

    def close(self) -> None:
        pass


class Store:
    """Tables: inbound (queued input), held, scheduled_tasks, subscriptions, notices, usage
    (today's rows), meta. What grows is in `history(kind)`.

    Every method takes the store's lock; documents go in and come out as plain dicts.
    """

    def __init__(self, path: Path, *, owner: bool = False) -> None:
        """`owner`: this process holds the home lock, so temp files of writes that a kill
        interrupted are leftovers (never the store itself) and are dropped."""
        self.path = path
        self.lock = threading.RLock()
        if owner:
            for leftover in path.parent.glob(f".{path.name}.*.tmp"):
                leftover.unlink(missing_ok=True)
        self._db = TinyDB(path, storage=AtomicJSONStorage)
        self._db.storage.read()  # fail now, with the clear message, if the file is corrupt
        self._histories: dict[str, History] = {}
        self.on_history_problem: Callable[[History, Problem], None] | None = None

    @property
    def history_dir(self) -> Path:
        return self.path.parent / "history"

    def history(self, kind: str) -> History:
        """The append-only history of `kind` beside the store (history/<kind>/YYYY-MM.jsonl):
        one object per kind, so every reader shares its cache and its problems."""
        with self.lock:
            found = self._histories.get(kind)
            if found is None:
                found = self._histories[kind] = History(self.history_dir, kind)
                found.on_problem = lambda problem, h=found: self._history_problem(h, problem)
            return found

    def histories(self) -> list[History]:
        with self.lock:
            return list(self._histories.values())

    def _history_problem(self, history: History, problem: Problem) -> None:
        if self.on_history_problem is not None:
            self.on_history_problem(history, problem)

    def tables(self) -> set[str]:
        with self.lock:
            return set(self._db.tables())

    def _table(self, name: str) -> Table:
        return self._db.table(name, cache_size=0)

    def insert(self, table: str, doc: dict[str, Any]) -> int:
        with self.lock:
            return self._table(table).insert(doc)

    def all(self, table: str) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(d, _id=d.doc_id) for d in self._table(table).all()]

    def find(self, table: str, **fields: Any) -> list[dict[str, Any]]:
        with self.lock:
            docs = self._table(table).search(
                lambda d: all(d.get(k) == v for k, v in fields.items())
            )
            return [dict(d, _id=d.doc_id) for d in docs]

    def update(self, table: str, changes: dict[str, Any], **fields: Any) -> int:
        with self.lock:
            ids = self._table(table).update(
                changes, lambda d: all(d.get(k) == v for k, v in fields.items())
            )
            return len(ids)

    def upsert(self, table: str, doc: dict[str, Any], **fields: Any) -> None:
        with self.lock:
            self._table(table).upsert(
                doc, lambda d: all(d.get(k) == v for k, v in fields.items())
            )

    def remove(self, table: str, **fields: Any) -> int:
        with self.lock:
            ids = self._table(table).remove(
                lambda d: all(d.get(k) == v for k, v in fields.items())
            )
            return len(ids)

    def transact(self, fn: Callable[[TinyDB], T]) -> T:
        """Run `fn` on the database as one transaction: every write it makes, in any table,
        reaches the file in ONE atomic replace at the end, or none does if it raises."""
        storage: AtomicJSONStorage = self._db.storage  # type: ignore[assignment]
        with self.lock:
            storage.begin()
            try:
                result = fn(self._db)
            except BaseException:
                storage.rollback()
                raise
            storage.commit()
            return result

    def close(self) -> None:
        with self.lock:
            self._db.close()

    @staticmethod
    def quarantine(path: Path, now: datetime) -> Path:
        """Move a corrupt store aside (nothing is deleted, nor an earlier one overwritten) so a
        fresh one can start."""
        stem = f"{path.name}.corrupt-{now.strftime('%Y%m%dT%H%M%S')}"
        target, n = path.with_name(stem), 1
        while target.exists():
            n += 1
            target = path.with_name(f"{stem}-{n}")
        path.rename(target)
        return target
