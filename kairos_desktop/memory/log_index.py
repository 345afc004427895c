"""A search index beside the daily logs, so searching them costs the same in year three as on
day one.

The logs stay the source of truth (verify reads them, never this): the index is a cache in
memory/logs/.index (sqlite, FTS5 with the trigram tokenizer, so a search is the same
case-insensitive substring match as reading the files). Before each search it catches up with
the files: an unchanged log is skipped on its size and mtime; a log that only grew (they are
append-only) has just its new lines added; any other change (a repaired torn tail, an edit) and
that file is indexed again. A missing or unreadable index is rebuilt, and a corrupt one is
reported with its path and rebuilt. Queries shorter than three characters (below what trigrams
can match) fall back to reading the files, and so does a search while the index is far behind
(the first start after an upgrade onto years of logs): a start catches it up in the background
(warm), and each search adds a batch.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import BinaryIO

from ..journal import MARKER

log = logging.getLogger(__name__)

INDEX_NAME = ".index"
SCHEMA_VERSION = 1
LINE_CHARS = 300  # what a hit shows of its line, as the plain search did
TAIL_CHECK_BYTES = 64  # the bytes before the indexed end that must be unchanged to append
# Logs indexed per hold of the lock: by the warm-up in the background, or by a search, which
# reads the files instead when more than this is left (reading three years of them takes tens
# to hundreds of milliseconds; indexing them, about ten seconds).
WARM_BATCH = 30
WARM_PAUSE_S = 0.005  # between two batches of the warm-up


# What the index knows of one log: size, mtime_ns, bytes indexed, the tail check, lines.
FileEntry = tuple[int, int, int, bytes, int]


@dataclass(frozen=True)
class LogHit:
    path: Path
    line: int
    text: str


class LogIndex:
    """The index of every daily log under `logs_dir` (memory/logs/YYYY/MM/YYYY-MM-DD.md)."""

    def __init__(self, logs_dir: Path) -> None:
        self.logs_dir = logs_dir
        self.path = logs_dir / INDEX_NAME
        self._db: sqlite3.Connection | None = None
        self._known: dict[str, FileEntry] | None = None
        self._mutex = threading.Lock()

    # -- searching ---------------------------------------------------------------------------

    def search(self, needle: str, limit: int) -> list[LogHit]:
        """Lines containing `needle` (case-insensitive), newest day first, in line order."""
        needle = needle.strip()
        if not needle or not self.logs_dir.exists():
            return []
        if len(needle) < 3:  # trigrams match three characters or more
            return list(_scan(self._log_files(), needle, limit))
        phrase = '"' + needle.replace('"', '""') + '"'
        with self._mutex:
            try:
                rows = self._query(phrase, limit)
            except sqlite3.DatabaseError as exc:  # broken since it was opened: start over
                log.warning("the log search index %s is corrupt (%s); rebuilding it",
                            self.path, exc)
                self._reset()
                rows = self._query(phrase, limit)
        if rows is None:  # far behind (years of logs, no index yet): read the files this time
            return list(_scan(self._log_files(), needle, limit))
        hits = [LogHit(self.logs_dir / path, rowid % 1_000_000, text)
                for rowid, path, text in rows]
        # Newest day first, each day's lines in their order (rowid = day, then line).
        hits.sort(key=lambda h: (-_day_number(h.path), h.line))
        return hits

    def warm(self, stop: threading.Event, batch: int = WARM_BATCH) -> None:
        """Catch the index up with the logs, `batch` files at a time until done or `stop` is
        set: what a start runs in a background thread, so the first search after an upgrade
        (years of logs, no index yet) does not wait for all of them. A search meanwhile waits
        for one batch at most, then reads the files itself while the index is behind; a
        failure is logged and left to the next search."""
        while not stop.is_set():
            with self._mutex:
                try:
                    done = self._catch_up(self._open(), limit=batch)
                except (sqlite3.DatabaseError, OSError) as exc:
                    log.warning("could not bring the log search index %s up to date (%s); "
                                "the next search tries again", self.path, exc)
                    self._reset()
                    return
            if done:
                return
            # Let a search waiting for the lock have it: a lock is not fair, and this thread
            # would otherwise take it back at once, batch after batch.
            time.sleep(WARM_PAUSE_S)

    def close(self) -> None:
        with self._mutex:
            if self._db is not None:
                self._db.close()
                self._db = None
            self._known = None

    def _query(self, phrase: str, limit: int) -> list[tuple[int, str, str]] | None:
        """The index's hits, once it has caught up (a batch of logs at most: the day's log
        that grew, a few more); None when more is left than a search should wait for, which
        the warm-up (or the next searches, a batch each) indexes meanwhile."""
        db = self._open()
        if not self._catch_up(db, limit=WARM_BATCH):
            return None
        rows: list[tuple[int, str, str]] = db.execute(
            "SELECT rowid, path, text FROM lines WHERE lines MATCH ? "
            "ORDER BY rowid DESC LIMIT ?", (phrase, limit)).fetchall()
        return rows

    def _reset(self) -> None:
        self._known = None
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        self._discard()

    # -- keeping up with the files -----------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        if self._db is not None:
            return self._db
        try:
            db = self._connect()
        except sqlite3.DatabaseError as exc:
            log.warning("the log search index %s is corrupt (%s); rebuilding it", self.path, exc)
            self._discard()
            db = self._connect()
        self._db = db
        return db

    def _connect(self) -> sqlite3.Connection:
        self.logs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)  # it holds what the logs say
        os.close(fd)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                db.executescript(
                    "DROP TABLE IF EXISTS files; DROP TABLE IF EXISTS lines;"
                    "CREATE TABLE files (path TEXT PRIMARY KEY, size INTEGER, mtime INTEGER,"
                    " indexed INTEGER, tail BLOB, lines INTEGER);"
                    "CREATE VIRTUAL TABLE lines USING fts5(path UNINDEXED, text,"
                    " tokenize='trigram');"
                    f"PRAGMA user_version = {SCHEMA_VERSION};")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("SELECT count(*) FROM files").fetchone()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _discard(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                Path(f"{self.path}{suffix}").unlink()

    def _log_files(self) -> list[Path]:
        return sorted(self.logs_dir.glob("*/*/*.md"))

    def _listing(self) -> dict[str, os.stat_result]:
        """Every log's relative path and stat (os.scandir: a few ms for three years)."""
        found: dict[str, os.stat_result] = {}
        with os.scandir(self.logs_dir) as years:
            for year in years:
                if not year.is_dir() or year.name.startswith("."):
                    continue
                with os.scandir(year.path) as months:
                    for month in months:
                        if not month.is_dir():
                            continue
                        with os.scandir(month.path) as days:
                            for day in days:
                                if day.name.endswith(".md") and day.is_file():
                                    found[f"{year.name}/{month.name}/{day.name}"] = day.stat()
        return found

    def _catch_up(self, db: sqlite3.Connection, limit: int | None = None) -> bool:
        """Index what changed since the last catch-up (at most `limit` files when given);
        True when the index is up to date."""
        if self._known is None:  # what the index holds, read once; kept current below
            self._known = {path: (size, mtime, indexed, tail, lines)
                           for path, size, mtime, indexed, tail, lines in
                           db.execute("SELECT path, size, mtime, indexed, tail, lines FROM files")}
        known = self._known
        listing = self._listing()
        indexed = 0
        for rel in sorted(listing):
            stat = listing[rel]
            entry = known.get(rel)
            if entry is not None and entry[0] == stat.st_size and entry[1] == stat.st_mtime_ns:
                continue
            if limit is not None and indexed >= limit:
                return False
            indexed += 1
            try:
                known[rel] = self._index_file(db, self.logs_dir / rel, rel, stat, entry)
            except OSError as exc:  # a log that cannot be read is skipped, and said
                log.warning("cannot index %s: %s", self.logs_dir / rel, exc)
        for gone in set(known) - set(listing):
            db.execute("BEGIN")
            db.execute("DELETE FROM lines WHERE path = ?", (gone,))
            db.execute("DELETE FROM files WHERE path = ?", (gone,))
            db.execute("COMMIT")
            del known[gone]
        return True

    def _index_file(self, db: sqlite3.Connection, file: Path, rel: str, stat: os.stat_result,
                    entry: FileEntry | None) -> FileEntry:
        day = _day_number(file)
        with open(file, "rb") as handle:
            start, first_line = 0, 1
            if entry is not None:
                _, _, indexed, tail, lines = entry
                if stat.st_size >= indexed and _tail(handle, indexed) == tail:
                    start, first_line = indexed, lines + 1  # it only grew: add the new lines
            handle.seek(start)
            data = handle.read()
        end = data.rfind(b"\n") + 1  # a torn last line waits until it is whole (or repaired)
        text = data[:end].decode("utf-8", errors="replace")
        rows = [(day * 1_000_000 + number, rel, MARKER.sub("", raw).strip()[:LINE_CHARS])
                for number, raw in enumerate(text.splitlines(), first_line)]
        indexed_to = start + end
        with open(file, "rb") as handle:
            new_tail = _tail(handle, indexed_to)
        db.execute("BEGIN")
        if start == 0:
            db.execute("DELETE FROM lines WHERE path = ?", (rel,))
        db.executemany("INSERT INTO lines(rowid, path, text) VALUES (?, ?, ?)", rows)
        done: FileEntry = (stat.st_size, stat.st_mtime_ns, indexed_to, new_tail,
                           first_line - 1 + len(rows))
        db.execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)", (rel, *done))
        db.execute("COMMIT")
        return done


def _tail(handle: BinaryIO, end: int) -> bytes:
    """The bytes just before `end`: if they are unchanged, what came before is too (the logs
    are append-only; anything else is caught by verify, and re-indexed here)."""
    begin = max(0, end - TAIL_CHECK_BYTES)
    handle.seek(begin)
    return handle.read(end - begin)


def _day_number(path: Path) -> int:
    try:
        return date.fromisoformat(path.stem).toordinal()
    except ValueError:
        return 0


def _scan(files: list[Path], needle: str, limit: int) -> Iterator[LogHit]:
    """The plain search: read the files, newest first."""
    wanted = needle.lower()
    found = 0
    for path in reversed(files):
        text = path.read_text(encoding="utf-8", errors="replace")
        if wanted not in text.lower():
            continue
        for number, raw in enumerate(text.splitlines(), 1):
            line = MARKER.sub("", raw)
            if wanted in line.lower():
                yield LogHit(path, number, line.strip()[:LINE_CHARS])
                found += 1
                if found >= limit:
                    return
