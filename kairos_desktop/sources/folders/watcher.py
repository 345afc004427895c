"""The watched-folders source: folders the user named, their changes summarised per quiet burst.

How: a watchdog Observer (inotify / FSEvents / ReadDirectoryChangesW, whichever the OS has) runs
in its own threads. Its handler filters ignored paths right there (rules.py), so noise never
crosses threads, and hands the rest to the engine's loop with call_soon_threadsafe. On the loop,
changes collect in one batch per folder (batch.py); a single debounce coroutine waits on the
injected Clock (an asyncio.Event that new changes set, or the earliest folder's quiet deadline;
nothing polls) and turns each quiet batch into one InboundItem. File names come from outside the
user, so items are marked external. A change wakes the loop only when the folder says `wake`;
otherwise the item waits in the queue for the next tick. Nothing is watched (no thread, no
inotify instance, not even a path resolved) before start().
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch

from ...clock import Clock
from ...journal import DailyLog
from ...queue import InboundItem
from ...settings import Settings, WatchedFolder
from ..base import Source
from .batch import FolderBatch, summarize
from .rules import Change, FolderSpec

log = logging.getLogger(__name__)

# A folder that never goes quiet (a log file appended every second) is still reported, at most
# this long after its batch began: max(MIN_MAX_BATCH_SECONDS, MAX_BATCH_DEBOUNCES × debounce).
MIN_MAX_BATCH_SECONDS = 60.0
MAX_BATCH_DEBOUNCES = 10
# Only these reach the handler (watchdog also narrows the inotify mask to them): no opened /
# closed / attribute events, no directory "modified" noise each time a child changes.
EVENT_TYPES: list[type[FileSystemEvent]] = [
    FileCreatedEvent, FileModifiedEvent, FileDeletedEvent, FileMovedEvent,
    DirCreatedEvent, DirDeletedEvent, DirMovedEvent,
]


class _Handler(FileSystemEventHandler):
    """Runs on watchdog's dispatch thread: classify, drop noise, hand the rest over."""

    def __init__(self, spec: FolderSpec,
                 deliver: Callable[[_Handler, list[Change]], None]) -> None:
        self.spec = spec  # replaced whole by apply_settings(); read once per event
        self._deliver = deliver

    def on_any_event(self, event: FileSystemEvent) -> None:
        # An exception here would end watchdog's dispatch thread, and with it every watch.
        try:
            changes = self.spec.classify(event)
            if changes:
                self._deliver(self, changes)
        except Exception:
            log.exception("watched folder %s: could not handle %r", self.spec.display, event)


@dataclass
class _Watch:
    spec: FolderSpec
    handler: _Handler
    watch: ObservedWatch


class FolderWatcher(Source):
    """Watches the configured folders and queues one summary per folder per quiet burst.

    Settings come through apply_settings() only (watchedFolders, folderDebounceSeconds).
    start(), stop(), apply_settings() and everything that touches batches run on the engine's
    loop thread; only _deliver runs on watchdog's thread, and it only appends to the inbox.
    """

    name = "folders"

    def __init__(self, *, put: Callable[[InboundItem], object], clock: Clock,
                 daily_log: DailyLog | None = None, exclude: Sequence[Path | str] = ()) -> None:
        defaults = Settings()
        self._folders: list[WatchedFolder] = list(defaults.watched_folders)
        self._put = put
        self._clock = clock
        self._debounce = defaults.folder_debounce_seconds
        self._log = daily_log
        # Never report the assistant's own writes (its daily log, its store): in a watched folder
        # they would summarise themselves forever, one item per debounce. Resolved at start().
        self._excluded = [Path(p) for p in exclude]
        if daily_log is not None:
            self._excluded.append(daily_log.logs_dir)
        self._exclude: tuple[str, ...] = ()
        self._observer: BaseObserver | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._running = False
        self._active: dict[str, _Watch] = {}  # key -> live watch; only folders that exist
        self._batches: dict[str, FolderBatch] = {}  # key -> changes not yet summarised
        # Folders warned about (key -> why), warned again only once fixed; shown in status().
        self._problems: dict[str, str] = {}
        self._error: str | None = None  # why nothing at all can be watched
        self._stirred = asyncio.Event()  # set by every recorded change and by apply_settings()
        self._inbox: list[tuple[_Handler, list[Change]]] = []  # guarded by _inbox_lock
        self._inbox_lock = threading.Lock()
        self._drain_scheduled = False  # guarded by _inbox_lock: one loop callback per burst
        # Test/status hook, called on the loop thread for every change recorded:
        # (folder key, kind, name).
        self.on_record: Callable[[str, str, str], None] | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the observer (its own threads) and the debounce coroutine on the running loop.
        Folders that do not exist are reported and skipped."""
        if self._running:
            return
        self._loop = asyncio.get_running_loop()
        self._stirred = asyncio.Event()
        self._exclude = tuple(os.path.realpath(p) for p in self._excluded)
        try:
            observer = Observer()
            observer.start()
        except OSError as exc:  # e.g. the per-user inotify instance limit
            self._error = f"cannot watch folders: {exc}"
            self._report(self._error)
            return
        self._error = None
        self._observer = observer
        self._running = True
        self._reconcile()
        self._task = self._loop.create_task(self._debounce_loop(), name="folder-debounce")

    async def stop(self) -> None:
        """Stop watching. Batches still waiting for quiet are summarised now: the queue is
        durable, so a change seen just before quitting still reaches the next run."""
        if not self._running:
            return
        self._running = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        observer = self._observer
        if observer is not None:
            observer.stop()  # also unschedules every watch
            await asyncio.to_thread(observer.join, 5.0)
        self._drain()  # changes handed over before the observer stopped
        self._observer = None
        self._active.clear()
        for key in list(self._batches):
            self._emit(key)

    def apply_settings(self, settings: Settings) -> None:
        """watchedFolders and folderDebounceSeconds, applied at once while running: new folders
        are watched, removed ones dropped (with their unsent changes), new ignore / wake values
        applied in place. Watching a new folder walks its tree here (one watch per directory
        on Linux)."""
        self._folders = list(settings.watched_folders)
        self._debounce = max(0.0, settings.folder_debounce_seconds)
        if self._running:
            self._reconcile()
            self._stirred.set()  # the debounce may now be due sooner or later

    @property
    def pending(self) -> dict[str, dict[str, Any]]:
        """Changes waiting for their folder to go quiet, by folder key (the resolved path)."""
        return {key: b.summary() for key, b in self._batches.items() if b.changed}

    @property
    def watching(self) -> list[str]:
        """Display paths of the folders being watched now."""
        return [w.spec.display for w in self._active.values()]

    def status(self) -> dict[str, Any]:
        """What is watched, what waits for quiet, and why a configured folder is not watched."""
        return {"running": self._running, "error": self._error, "watching": self.watching,
                "pending": self.pending, "notWatched": dict(self._problems),
                "debounceSeconds": self._debounce}

    # -- watches -------------------------------------------------------------------------------

    def _reconcile(self) -> None:
        desired: dict[str, FolderSpec] = {}
        for folder in self._folders:
            spec = FolderSpec.of(folder, self._exclude)
            desired.setdefault(spec.key, spec)  # the same folder twice: the first entry wins
        for key in [k for k in self._active if k not in desired]:
            self._unwatch(key)
            self._batches.pop(key, None)
            log.info("no longer watching %s", key)
        self._problems = {k: why for k, why in self._problems.items() if k in desired}
        for key, spec in desired.items():
            current = self._active.get(key)
            if current is not None:
                current.spec = current.handler.spec = spec
                if key in self._batches:
                    self._batches[key].spec = spec
            else:
                self._watch(spec)

    def _watch(self, spec: FolderSpec) -> None:
        assert self._observer is not None
        if not os.path.isdir(spec.key):
            self._warn(spec, f"watched folder {spec.display} does not exist (or is not a "
                             "folder): not watching it")
            return
        handler = _Handler(spec, self._deliver)
        try:
            watch = self._observer.schedule(handler, spec.key, recursive=True,
                                            event_filter=EVENT_TYPES)
        except OSError as exc:  # no permission, inotify watch/instance limit reached...
            self._warn(spec, f"cannot watch {spec.display}: {exc}")
            return
        self._problems.pop(spec.key, None)
        self._active[spec.key] = _Watch(spec, handler, watch)
        log.info("watching %s", spec.display)

    def _unwatch(self, key: str) -> None:
        current = self._active.pop(key, None)
        if current is not None and self._observer is not None:
            with contextlib.suppress(KeyError, RuntimeError):
                self._observer.unschedule(current.watch)

    def _warn(self, spec: FolderSpec, message: str) -> None:
        """Log once per folder until it is fixed: a missing folder is not news at every update."""
        if spec.key in self._problems:
            return
        self._problems[spec.key] = message
        self._report(message)

    def _report(self, message: str) -> None:
        log.warning("%s", message)
        if self._log is not None:
            try:
                self._log.append("warning", message)
            except OSError:
                log.exception("could not write the daily log")

    # -- watchdog thread -> loop ---------------------------------------------------------------

    def _deliver(self, handler: _Handler, changes: list[Change]) -> None:
        """Watchdog's thread. Appends to the inbox; schedules one drain per burst."""
        with self._inbox_lock:
            self._inbox.append((handler, changes))
            if self._drain_scheduled:
                return
            self._drain_scheduled = True
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: the app is exiting
            loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        with self._inbox_lock:
            inbox, self._inbox = self._inbox, []
            self._drain_scheduled = False
        for handler, changes in inbox:
            self._record(handler, changes)

    def _record(self, handler: _Handler, changes: list[Change]) -> None:
        key = handler.spec.key
        current = self._active.get(key)
        if current is None or current.handler is not handler:
            return  # from a watch removed since (apply_settings() or stop())
        now = self._clock.monotonic()
        for kind, name, dest in changes:
            if kind == "gone":
                self._unwatch(key)
                self._warn(current.spec, f"watched folder {current.spec.display} was deleted: "
                                         "no longer watching it")
            else:
                batch = self._batches.get(key)
                if batch is None:
                    batch = self._batches[key] = FolderBatch(current.spec, first=now, last=now)
                batch.apply(kind, name, dest)
                batch.events += 1
                batch.last = now
            if self.on_record is not None:
                self.on_record(key, kind, name)
        self._stirred.set()

    # -- debounce and emission -----------------------------------------------------------------

    async def _debounce_loop(self) -> None:
        while True:
            # No await between clear() and wait(): _record runs on this thread, so a change cannot
            # slip in unseen between computing the deadline and waiting for it.
            self._stirred.clear()
            now = self._clock.monotonic()
            cap = max(MIN_MAX_BATCH_SECONDS, MAX_BATCH_DEBOUNCES * self._debounce)
            next_due: float | None = None
            for key, batch in list(self._batches.items()):
                due = min(batch.last + self._debounce, batch.first + cap)
                if due <= now:
                    self._emit(key)
                else:
                    next_due = due if next_due is None else min(next_due, due)
            await self._clock.wait(self._stirred, None if next_due is None else next_due - now)

    def _emit(self, key: str) -> None:
        batch = self._batches.pop(key, None)
        if batch is None or not batch.changed:
            return  # everything cancelled out (a temp file made and removed)
        spec = batch.spec
        item = InboundItem(
            kind="folder", text=summarize(batch), priority="later",
            source=f"folder:{spec.display}",
            created_at=self._clock.now().isoformat(timespec="seconds"),
            external=True,  # file names are chosen by whoever wrote the files, not the user
            wakes=spec.wake,
            meta={"folder": spec.key, "changed": batch.changed, "new": len(batch.created),
                  "deleted": len(batch.deleted)},
        )
        try:
            self._put(item)
        except Exception:
            log.exception("could not queue the change summary for %s", spec.display)
            return
        if self._log is not None:
            try:
                self._log.append("folder", item.text, external_source=item.source)
            except OSError:
                log.exception("could not write the daily log")
