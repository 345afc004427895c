"""Watched folders: changes in folders the user named reach the assistant as one short summary.

Why: the user wants to hear about e.g. ~/notes or ~/Downloads, but one `git pull`, unzip or editor
save fires dozens of file-system events. The model should see ONE line per burst ("12 files
changed in ~/notes, 3 new (ideas.md, todo.md, plan.md), 1 deleted (old.md)") once the folder has
been quiet for `folderDebounceSeconds`, not a stream, and never the noise of .git, build output or
editor swap files.

How: a watchdog Observer (inotify / FSEvents / ReadDirectoryChangesW, whichever the OS has) runs
in its own threads. Its handler filters ignored paths right there, so noise never crosses threads,
and hands the rest to the engine's loop with call_soon_threadsafe. On the loop, changes collect
in one batch per folder; a single debounce coroutine waits on the injected Clock (an
asyncio.Event that new changes set, or the earliest folder's quiet deadline; nothing polls) and
turns each quiet batch into one InboundItem. File names come from outside the user, so items are
marked external. A change wakes the loop only when the folder says `wake`; otherwise the item
waits in the queue for the next tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
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

from ..clock import Clock
from ..journal import DailyLog
from ..queue import InboundItem
from ..settings import WatchedFolder

log = logging.getLogger(__name__)

# Always ignored, on top of each folder's own globs. A pattern without "/" matches any single path
# component, so "build" also hides everything inside any build/ directory.
DEFAULT_IGNORE: tuple[str, ...] = (
    ".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv", "venv", "build", "dist",
    ".DS_Store", "*.swp", "*.tmp", "*~", ".#*",
)
MAX_TEXT = 600  # characters in one summary
NAMES_PER_KIND = 5  # names listed per kind before "and N more"
MAX_NAME = 60  # a longer name keeps its end (the file name), prefixed with "…"
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
CASE_INSENSITIVE = sys.platform in ("win32", "darwin")  # the default file systems there

# (kind, name, destination): kind is created | modified | deleted | moved | dir-created | gone;
# names are relative to the folder with "/" separators, directories end with "/".
Change = tuple[str, str, str]


class IgnoreRules:
    """Which paths under a folder are never reported.

    As in .gitignore: a pattern with no "/" except a trailing one ("*.log", "private/") matches
    any one component of the relative path, so a directory pattern also covers everything inside
    it. A pattern with a leading or inner "/" ("/todo.md", "drafts/*.md") matches the path
    relative to the folder, or one of its parent directories; a leading "**/" lets it start at
    any depth. Unlike git, "private/" also matches a file named private.
    """

    def __init__(self, patterns: Iterable[str]) -> None:
        component: list[str] = []
        anchored: list[str] = []
        for raw in patterns:
            pattern = raw.strip().replace("\\", "/").rstrip("/")
            deep = False
            while pattern.startswith("**/"):
                pattern, deep = pattern[3:], True
            is_anchored = "/" in pattern
            pattern = pattern.lstrip("/")
            if not pattern:
                continue
            if not is_anchored:
                component.append(fnmatch.translate(pattern))
            else:
                anchored.append(("(?:.*/)?" if deep else "") + fnmatch.translate(pattern))
        flags = re.IGNORECASE if CASE_INSENSITIVE else 0
        self._component = re.compile("|".join(component), flags) if component else None
        self._anchored = re.compile("|".join(anchored), flags) if anchored else None

    def ignores(self, relative: str) -> bool:
        """`relative`: a path below the folder, "/"-separated, without a trailing "/"."""
        parts = relative.split("/")
        if self._component is not None and any(self._component.match(p) for p in parts):
            return True
        if self._anchored is not None:
            return any(self._anchored.match("/".join(parts[:i]))
                       for i in range(1, len(parts) + 1))
        return False


def display_path(path: Path) -> str:
    """`path` as the user would write it: "~" for the home directory."""
    home = Path.home()
    try:
        rest = path.relative_to(home)
    except ValueError:
        return str(path)
    return "~" if rest == Path() else str(Path("~") / rest)


@dataclass(frozen=True)
class FolderSpec:
    """One watched folder as the watchdog thread sees it. Immutable: update() swaps in a new one,
    so the handler thread never reads a half-changed spec."""

    key: str  # the resolved absolute path: what is watched, and the folder's identity
    display: str  # the configured path with "~" for home (symlinks not resolved)
    wake: bool
    rules: IgnoreRules
    exclude: tuple[str, ...] = ()  # resolved paths never reported (the assistant's own home)

    @classmethod
    def of(cls, folder: WatchedFolder, exclude: tuple[str, ...] = ()) -> FolderSpec:
        configured = Path(folder.path).expanduser().absolute()
        # Resolved: watchdog reports real paths (macOS /tmp is /private/tmp), and inotify with
        # IN_DONT_FOLLOW would watch a symlinked folder's link instead of the folder.
        return cls(key=os.path.realpath(configured), display=display_path(configured),
                   wake=folder.wake, rules=IgnoreRules([*DEFAULT_IGNORE, *folder.ignore]),
                   exclude=exclude)

    def relative(self, path: str) -> str | None:
        """`path` relative to the folder ("/"-separated), or None when it is the folder itself,
        outside it, excluded or ignored."""
        prefix = self.key.rstrip(os.sep) + os.sep
        if not path.startswith(prefix):
            return None
        if any(path == ex or path.startswith(ex + os.sep) for ex in self.exclude):
            return None
        rest = path[len(prefix):].rstrip(os.sep)
        if os.sep != "/":
            rest = rest.replace(os.sep, "/")
        if not rest or self.rules.ignores(rest):
            return None
        return rest

    def classify(self, event: FileSystemEvent) -> list[Change]:
        """What a watchdog event means for the summary; [] for noise. Runs on watchdog's thread."""
        src = os.fsdecode(event.src_path)
        slash = "/" if event.is_directory else ""
        if isinstance(event, FileMovedEvent | DirMovedEvent):
            if event.is_synthetic:
                return []  # a moved directory's children: the directory's own move says it all
            old = self.relative(src)
            new = self.relative(os.fsdecode(event.dest_path)) if event.dest_path else None
            if old is not None and new is not None:
                return [("moved", old + slash, new + slash)]
            if new is not None:  # from an ignored name (an editor's or a download's temp file)
                return [("dir-created" if slash else "modified", new + slash, "")]
            if old is not None:  # to an ignored name: gone under its visible name
                return [("deleted", old + slash, "")]
            return []
        if isinstance(event, DirDeletedEvent) and src == self.key:
            return [("gone", "", "")]
        name = self.relative(src)
        if name is None:
            return []
        if isinstance(event, FileCreatedEvent):
            return [("created", name, "")]
        if isinstance(event, FileModifiedEvent):
            return [("modified", name, "")]
        if isinstance(event, FileDeletedEvent | DirDeletedEvent):
            return [("deleted", name + slash, "")]
        if isinstance(event, DirCreatedEvent):
            return [("dir-created", name + "/", "")]
        return []


@dataclass
class FolderBatch:
    """What changed in one folder since its last summary, each file counted once.

    Invariant: a name is in at most one of created / modified / deleted / the current names of
    moved, so the counts add up to the number of files changed. Folded in arrival order: created
    then modified is new; created then deleted is nothing; deleted then created is modified;
    created then moved is new under the new name; moved then deleted is the original deleted.
    """

    spec: FolderSpec
    first: float  # monotonic time of the first change in this batch
    last: float  # monotonic time of the latest change: the debounce runs from here
    events: int = 0
    created: dict[str, None] = field(default_factory=dict)  # dicts: sets in arrival order
    modified: dict[str, None] = field(default_factory=dict)
    deleted: dict[str, None] = field(default_factory=dict)
    moved: dict[str, str] = field(default_factory=dict)  # original name -> current name
    _moved_back: dict[str, str] = field(default_factory=dict)  # current name -> original name
    _new_dirs: set[str] = field(default_factory=set)  # directories created in this batch

    def apply(self, kind: str, name: str, dest: str = "") -> None:
        if kind == "created":
            self._created(name)
        elif kind == "modified":
            if name in self.deleted:
                del self.deleted[name]
                self.modified[name] = None
            elif not (name in self.created or name in self._moved_back):
                self.modified[name] = None
        elif kind == "deleted":
            self._deleted(name)
        elif kind == "moved":
            self._moved(name, dest)
        elif kind == "dir-created":
            # Not counted (its files report themselves), but remembered: a directory that
            # appears and vanishes, or is renamed, within the batch must not read as deleted/moved.
            self._new_dirs.add(name)

    def _created(self, name: str) -> None:
        if name in self.deleted:  # deleted, then created again: replaced
            del self.deleted[name]
            self.modified[name] = None
        elif not (name in self.modified or name in self.created or name in self._moved_back):
            self.created[name] = None

    def _deleted(self, name: str) -> None:
        if name.endswith("/"):  # a directory: what was noted inside it is gone with it
            for table in (self.created, self.modified):
                for inner in [n for n in table if n.startswith(name)]:
                    del table[inner]
            for current in [c for c in self._moved_back if c.startswith(name) and c != name]:
                self._deleted(current)
            if name in self._new_dirs:
                self._new_dirs -= {d for d in self._new_dirs if d.startswith(name)}
                return
        if name in self.created:  # appeared and vanished within the batch: nothing to tell
            del self.created[name]
        elif name in self._moved_back:  # renamed, then deleted: the original is gone
            origin = self._moved_back.pop(name)
            del self.moved[origin]
            self.deleted[origin] = None
        else:
            self.modified.pop(name, None)
            self.deleted[name] = None

    def _moved(self, old: str, new: str) -> None:
        # Whatever `new` held earlier in this batch was overwritten by the move.
        self.created.pop(new, None)
        self.modified.pop(new, None)
        was_new_dir = old in self._new_dirs
        if old.endswith("/"):
            self._rename_under(old, new)
            if was_new_dir:
                return  # a directory made in this batch: its files are new under the new name
        if old in self.created:
            del self.created[old]
            self.created[new] = None
        elif old in self._moved_back:  # renamed twice: one rename from the original
            origin = self._moved_back.pop(old)
            del self.moved[origin]
            if origin == new:  # back where it started: at most its content changed
                self.modified[new] = None
            else:
                self.moved[origin] = new
                self._moved_back[new] = origin
        else:
            self.modified.pop(old, None)
            self.moved[old] = new
            self._moved_back[new] = old

    def _rename_under(self, old: str, new: str) -> None:
        """Names inside a renamed directory follow it (watchdog's per-child moves are skipped)."""
        def renamed(name: str) -> str:
            return new + name[len(old):] if name.startswith(old) and name != old else name

        self.created = {renamed(n): None for n in self.created}
        self.modified = {renamed(n): None for n in self.modified}
        self.moved = {o: renamed(c) for o, c in self.moved.items()}
        self._moved_back = {c: o for o, c in self.moved.items()}
        self._new_dirs = {new if d == old else renamed(d) for d in self._new_dirs}

    @property
    def changed(self) -> int:
        return len(self.created) + len(self.modified) + len(self.deleted) + len(self.moved)

    def summary(self) -> dict[str, Any]:
        return {"display": self.spec.display, "changed": self.changed,
                "new": list(self.created), "modified": list(self.modified),
                "deleted": list(self.deleted), "moved": [[o, c] for o, c in self.moved.items()],
                "events": self.events}


def _shown(name: str) -> str:
    """A file name made safe for one line of a prompt: no control characters, bounded length."""
    clean = "".join(c if c.isprintable() else "?" for c in name)
    return clean if len(clean) <= MAX_NAME else "…" + clean[-(MAX_NAME - 1):]


def _listing(names: list[str], limit: int) -> str:
    if limit <= 0 or not names:
        return ""
    shown = ", ".join(names[:limit])
    rest = len(names) - limit
    return f" ({shown} and {rest} more)" if rest > 0 else f" ({shown})"


def summarize(batch: FolderBatch) -> str:
    """One human line, within MAX_TEXT characters: the counts always, as many names as fit."""
    total = batch.changed
    head = f"{total} file{'' if total == 1 else 's'} changed in {batch.spec.display}"
    kinds = [
        ("new", [_shown(n) for n in batch.created]),
        ("modified", [_shown(n) for n in batch.modified]),
        ("deleted", [_shown(n) for n in batch.deleted]),
        ("moved", [f"{_shown(o)} → {_shown(c)}" for o, c in batch.moved.items()]),
    ]
    text = head
    for limit in (NAMES_PER_KIND, 3, 1, 0):
        parts = [head] + [f"{len(names)} {word}{_listing(names, limit)}"
                          for word, names in kinds if names]
        text = ", ".join(parts)
        if len(text) <= MAX_TEXT:
            return text
    return text[:MAX_TEXT - 1] + "…"


class _Handler(FileSystemEventHandler):
    """Runs on watchdog's dispatch thread: classify, drop noise, hand the rest over."""

    def __init__(self, spec: FolderSpec,
                 deliver: Callable[[_Handler, list[Change]], None]) -> None:
        self.spec = spec  # replaced whole by update(); read once per event
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


class FolderWatcher:
    """Watches the configured folders and queues one summary per folder per quiet burst.

    start(), stop(), update() and everything that touches batches run on the engine's loop
    thread; only _deliver runs on watchdog's thread, and it only appends to the inbox.
    """

    def __init__(self, *, folders: list[WatchedFolder], put: Callable[[InboundItem], object],
                 clock: Clock, debounce_seconds: float, daily_log: DailyLog | None = None,
                 exclude: Sequence[Path | str] = ()) -> None:
        self._folders = list(folders)
        self._put = put
        self._clock = clock
        self._debounce = max(0.0, debounce_seconds)
        self._log = daily_log
        # Never report the assistant's own writes (its daily log, its store): in a watched folder
        # they would summarise themselves forever, one item per debounce.
        excluded = [Path(p) for p in exclude]
        if daily_log is not None:
            excluded.append(daily_log.logs_dir)
        self._exclude = tuple(os.path.realpath(p) for p in excluded)
        self._observer: BaseObserver | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._running = False
        self._active: dict[str, _Watch] = {}  # key -> live watch; only folders that exist
        self._batches: dict[str, FolderBatch] = {}  # key -> changes not yet summarised
        self._reported: set[str] = set()  # keys already warned about; warn again once fixed
        self._stirred = asyncio.Event()  # set by every recorded change and by update()
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
        try:
            observer = Observer()
            observer.start()
        except OSError as exc:  # e.g. the per-user inotify instance limit
            self._report(f"cannot watch folders: {exc}")
            return
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

    def update(self, folders: list[WatchedFolder], debounce_seconds: float) -> None:
        """Settings changed: watch new folders, drop removed ones (and their unsent changes),
        apply new ignore / wake values in place. Call on the loop thread. Watching a new folder
        walks its tree here (one watch per directory on Linux)."""
        self._folders = list(folders)
        self._debounce = max(0.0, debounce_seconds)
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
        self._reported &= set(desired)
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
        self._reported.discard(spec.key)
        self._active[spec.key] = _Watch(spec, handler, watch)
        log.info("watching %s", spec.display)

    def _unwatch(self, key: str) -> None:
        current = self._active.pop(key, None)
        if current is not None and self._observer is not None:
            with contextlib.suppress(KeyError, RuntimeError):
                self._observer.unschedule(current.watch)

    def _warn(self, spec: FolderSpec, message: str) -> None:
        """Log once per folder until it is fixed: a missing folder is not news at every update."""
        if spec.key in self._reported:
            return
        self._reported.add(spec.key)
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
            return  # from a watch removed since (update() or stop())
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
