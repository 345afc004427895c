"""memory/.consolidate-lock: its mtime is the time of the last consolidation; while a dream runs
it also holds an OS lock, so two processes can never dream at once.

Taking the lock moves the mtime to now (others' time gate then sees a fresh consolidation);
a failed or cancelled run moves it back, so a later scan retries. The file's content records the
previous mtime while a run is in progress: after a crash the next start finds it and rolls back.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import IO

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(handle: IO[str]) -> bool:
        try:
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

    def _unlock(handle: IO[str]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _try_lock(handle: IO[str]) -> bool:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            return False

    def _unlock(handle: IO[str]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class DreamLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None
        self._previous: float | None = None
        self._taken_at = 0.0

    def last_consolidated(self) -> float | None:
        """Epoch seconds of the last consolidation, None if there never was one."""
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return None
        return mtime or None

    @property
    def previous(self) -> float | None:
        """While held: the consolidation time before this run (None: never)."""
        return self._previous

    @property
    def held(self) -> bool:
        return self._handle is not None

    def try_acquire(self, now: float) -> bool:
        """Take the lock (False if another run holds it) and stamp it with `now`."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        previous = self.last_consolidated()
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held while dreaming
        if not _try_lock(handle):
            handle.close()
            return False
        self._roll_back_crashed_run(handle)
        previous = self.last_consolidated()
        self._handle, self._previous, self._taken_at = handle, previous, now
        self._write(json.dumps({"pid": os.getpid(), "previous": previous}))
        return True

    def release(self, *, success: bool) -> None:
        """End the run: keep the new mtime on success, restore the old one otherwise."""
        if self._handle is None:
            return
        self._write("")
        if not success:
            self._stamp(self._previous or 0.0)
        with contextlib.suppress(OSError):
            _unlock(self._handle)
        self._handle.close()
        self._handle = None

    def recover(self) -> bool:
        """At start: roll back a run that crashed while holding the lock. True if it did."""
        if not self.path.exists():
            return False
        with open(self.path, "a+", encoding="utf-8") as handle:
            if not _try_lock(handle):
                return False  # a run is alive
            try:
                return self._roll_back_crashed_run(handle)
            finally:
                _unlock(handle)

    def _roll_back_crashed_run(self, handle: IO[str]) -> bool:
        handle.seek(0)
        content = handle.read().strip()
        if not content:
            return False
        try:
            previous = json.loads(content).get("previous")
        except (json.JSONDecodeError, AttributeError):
            previous = None
        handle.seek(0)
        handle.truncate()
        handle.flush()
        os.utime(self.path, (previous or 0.0, previous or 0.0))
        return True

    def _write(self, text: str) -> None:
        assert self._handle is not None
        self._handle.seek(0)
        self._handle.truncate()
        self._handle.write(text)
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._stamp(self._taken_at)  # writing moved the mtime: put the consolidation time back

    def _stamp(self, when: float) -> None:
        os.utime(self.path, (when, when))
