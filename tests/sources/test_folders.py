"""Watched folders: a burst of writes becomes one summary once the folder is quiet, noise never
reaches the queue, and a change wakes the loop only when the folder asks for it.

Real files in tmp_path, a real watchdog observer and a real queue on a real store; only time is
fake. Waiting is event-driven: the watcher's on_record hook says when a change was recorded, and
`settle` uses the order in which the OS reports one folder's events (a marker file touched and
removed last is recorded last) to know that every earlier change has arrived.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from kairos_desktop.clock import FakeClock
from kairos_desktop.journal import DailyLog
from kairos_desktop.queue import InboundItem, InboundQueue
from kairos_desktop.settings import Settings, WatchedFolder
from kairos_desktop.sources.folders import (
    FolderBatch,
    FolderSpec,
    FolderWatcher,
    IgnoreRules,
    display_path,
    summarize,
)
from kairos_desktop.store import Store
from tests.waiting import until

DEBOUNCE = 2.0
_markers = itertools.count()
# watchdog's inotify backend warns (harmlessly) when `mkdir -p` makes it add a subdirectory's
# watch twice: once while walking the new parent, once for the child's own creation event.
pytestmark = pytest.mark.filterwarnings("ignore:Callback with id:RuntimeWarning")


class Harness:
    def __init__(self, tmp_path: Path, clock: FakeClock, folders: list[WatchedFolder],
                 daily_log: DailyLog, exclude: list[Path]) -> None:
        self.clock = clock
        (tmp_path / "home").mkdir(exist_ok=True)
        self.queue = InboundQueue(Store(tmp_path / "home" / "store.json"))
        self.queue.bind(asyncio.get_running_loop())
        self.items: list[InboundItem] = []
        self.seen: list[tuple[str, str]] = []
        self._put_arrived = asyncio.Event()
        self._recorded = asyncio.Event()
        self.watcher = FolderWatcher(put=self._put, clock=clock, daily_log=daily_log,
                                     exclude=exclude)
        self.watcher.apply_settings(settings_for(folders))
        self.watcher.on_record = self._on_record

    def _put(self, item: InboundItem) -> None:
        self.queue.put(item)
        self.items.append(item)
        self._put_arrived.set()

    def _on_record(self, _key: str, kind: str, name: str) -> None:
        self.seen.append((kind, name))
        self._recorded.set()

    async def until_recorded(self, predicate: Callable[[], bool], what: str) -> None:
        try:
            async with asyncio.timeout(3.0):
                while not predicate():
                    self._recorded.clear()
                    await self._recorded.wait()
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}; seen {self.seen}") from None

    async def settle(self, folder: Path) -> None:
        """Return once every change made in `folder` so far is recorded. The marker cancels
        out (created, then deleted within the batch), so it never shows in a summary."""
        marker = folder / f"zz-marker-{next(_markers)}"
        marker.touch()
        marker.unlink()
        await self.until_recorded(lambda: ("deleted", marker.name) in self.seen,
                                  f"the deletion of {marker.name}")

    async def quiet(self) -> list[InboundItem]:
        """Let the debounce run out; return the items it put."""
        count = len(self.items)
        self._put_arrived.clear()
        self.clock.advance(DEBOUNCE)
        async with asyncio.timeout(3.0):
            while len(self.items) == count:
                await self._put_arrived.wait()
                self._put_arrived.clear()
        return self.items[count:]


@pytest.fixture
def daily_log(tmp_path: Path, clock: FakeClock) -> DailyLog:
    return DailyLog(tmp_path / "home" / "logs", clock)


@pytest.fixture
async def harness(tmp_path: Path, clock: FakeClock,
                  daily_log: DailyLog) -> AsyncIterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(*folders: WatchedFolder, exclude: list[Path] | None = None) -> Harness:
        h = Harness(tmp_path, clock, list(folders), daily_log, exclude or [])
        made.append(h)
        return h

    yield make
    for h in made:
        await h.watcher.stop()


def settings_for(folders: list[WatchedFolder]) -> Settings:
    return Settings(watched_folders=folders, folder_debounce_seconds=DEBOUNCE)


def folder(path: Path, **options: object) -> WatchedFolder:
    path.mkdir(parents=True, exist_ok=True)
    return WatchedFolder(path=str(path), **options)  # type: ignore[arg-type]


async def test_a_burst_of_writes_gives_one_summary_after_the_debounce(
        tmp_path: Path, harness: Callable[..., Harness], daily_log: DailyLog) -> None:
    notes = tmp_path / "notes"
    h = harness(folder(notes))
    await h.watcher.start()
    for i in range(20):
        (notes / f"note-{i:02}.md").write_text(f"idea {i}\n" * 50)
    await h.settle(notes)
    assert h.watcher.pending[os.path.realpath(notes)]["changed"] == 20

    h.clock.advance(DEBOUNCE - 0.1)  # not quiet long enough yet
    assert h.items == []
    items = await h.quiet()

    assert len(items) == 1
    item = items[0]
    shown = display_path(notes)
    assert item.text == (f"20 files changed in {shown}, 20 new (note-00.md, note-01.md, "
                         "note-02.md, note-03.md, note-04.md and 15 more)")
    assert (item.kind, item.priority, item.source, item.external, item.wakes) == (
        "folder", "later", f"folder:{shown}", True, False)
    assert item.meta == {"folder": os.path.realpath(notes), "changed": 20, "new": 20,
                         "deleted": 0}
    assert h.watcher.pending == {}
    assert [i.id for i in h.queue.pending()] == [item.id]
    assert f"**folder** [external:folder:{shown}] 20 files changed" in daily_log.read(
        h.clock.now().date())


async def test_each_new_change_restarts_the_debounce(
        tmp_path: Path, harness: Callable[..., Harness]) -> None:
    notes = tmp_path / "notes"
    h = harness(folder(notes))
    await h.watcher.start()
    (notes / "a.md").write_text("a")
    await h.settle(notes)
    h.clock.advance(1.5)
    (notes / "b.md").write_text("b")
    await h.settle(notes)
    h.clock.advance(1.5)  # 3.0 s after a.md, 1.5 s after b.md: still not quiet
    # The debounce re-arms on b.md's time (a few loop turns).
    await until(lambda: h.clock.deadlines == [3.5], "the debounce to re-arm at 3.5 s", 3.0)
    assert h.items == []

    h.clock.advance(0.5)
    await until(lambda: h.items, "the summary", 3.0)
    assert [i.meta["new"] for i in h.items] == [2]


async def test_modified_deleted_and_renamed_files_are_named(
        tmp_path: Path, harness: Callable[..., Harness]) -> None:
    docs = tmp_path / "docs"
    folder(docs)
    for name in ("plan.md", "old.md", "draft.md"):
        (docs / name).write_text("before")
    h = harness(WatchedFolder(path=str(docs)))
    await h.watcher.start()

    (docs / "plan.md").write_text("after")
    (docs / "old.md").unlink()
    (docs / "draft.md").rename(docs / "final.md")
    (docs / "new.md").write_text("x")
    (docs / "new.md").write_text("y")  # created then modified: still new
    await h.settle(docs)
    [item] = await h.quiet()

    assert item.text == (f"4 files changed in {display_path(docs)}, 1 new (new.md), "
                         "1 modified (plan.md), 1 deleted (old.md), 1 moved (draft.md → final.md)")
    assert item.meta == {"folder": os.path.realpath(docs), "changed": 4, "new": 1,
                         "deleted": 1}


async def test_ignored_paths_produce_nothing(
        tmp_path: Path, harness: Callable[..., Harness]) -> None:
    repo = tmp_path / "repo"
    h = harness(folder(repo, ignore=["*.log", "private/"]))
    await h.watcher.start()
    for noise in (".git/objects/ab/cdef", "build/out.o", "notes.md.swp", "src/__pycache__/m.pyc",
                  "web/node_modules/pkg/index.js", "app.log", "private/diary.md", "x.tmp",
                  "backup~", ".#lock"):
        path = repo / noise
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("noise")
    (repo / "kept.md").write_text("signal")
    await h.settle(repo)

    recorded = {name for _, name in h.seen if not name.startswith("zz-marker")}
    assert recorded <= {"kept.md", "src/", "web/"}  # new directories: remembered, not counted
    [item] = await h.quiet()
    assert item.text == f"1 file changed in {display_path(repo)}, 1 new (kept.md)"


async def test_a_change_wakes_the_loop_only_when_the_folder_says_so(
        tmp_path: Path, harness: Callable[..., Harness]) -> None:
    quiet_dir, loud_dir = tmp_path / "quiet", tmp_path / "loud"
    h = harness(folder(quiet_dir), folder(loud_dir, wake=True))
    await h.watcher.start()

    (quiet_dir / "a.txt").write_text("a")
    await h.settle(quiet_dir)
    [item] = await h.quiet()
    assert item.wakes is False
    assert not h.queue.arrived.is_set()  # waits in the queue for the next tick
    assert len(h.queue) == 1

    (loud_dir / "b.txt").write_text("b")
    await h.settle(loud_dir)
    [item] = await h.quiet()
    assert item.wakes is True
    assert h.queue.arrived.is_set()


async def test_a_missing_folder_is_skipped_with_a_clear_warning(
        tmp_path: Path, harness: Callable[..., Harness], daily_log: DailyLog,
        caplog: pytest.LogCaptureFixture) -> None:
    there = tmp_path / "there"
    missing = tmp_path / "missing"
    h = harness(WatchedFolder(path=str(missing)), folder(there))
    with caplog.at_level(logging.WARNING, logger="kairos_desktop.sources.folders"):
        await h.watcher.start()

    message = f"watched folder {display_path(missing)} does not exist (or is not a folder): " \
              "not watching it"
    assert message in caplog.messages
    assert f"**warning** {message}" in daily_log.read(h.clock.now().date())
    assert h.watcher.watching == [display_path(there)]

    (there / "ok.md").write_text("still watched")
    await h.settle(there)
    [item] = await h.quiet()
    assert item.meta["new"] == 1


async def test_new_settings_watch_a_folder_added_at_runtime_and_drop_a_removed_one(
        tmp_path: Path, harness: Callable[..., Harness]) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    h = harness(folder(first))
    await h.watcher.start()
    assert h.watcher.watching == [display_path(first)]

    h.watcher.apply_settings(settings_for([folder(second, wake=True)]))
    assert h.watcher.watching == [display_path(second)]
    (first / "unwatched.md").write_text("not reported")
    (second / "added.md").write_text("reported")
    await h.settle(second)
    [item] = await h.quiet()
    assert item.text == f"1 file changed in {display_path(second)}, 1 new (added.md)"
    assert item.wakes is True
    assert all(name != "unwatched.md" for _, name in h.seen)


async def test_the_assistants_own_log_is_never_reported(
        tmp_path: Path, harness: Callable[..., Harness], daily_log: DailyLog) -> None:
    # The whole tmp_path, the assistant's home (store and daily log) included: each summary is
    # queued and logged, and a watcher that saw those writes would summarise them again, one
    # item per debounce forever. The daily log is excluded by default, the home when asked.
    h = harness(WatchedFolder(path=str(tmp_path)), exclude=[tmp_path / "home"])
    await h.watcher.start()
    (tmp_path / "todo.md").write_text("x")
    await h.settle(tmp_path)
    assert len(await h.quiet()) == 1
    assert daily_log.read(h.clock.now().date()) and len(h.queue) == 1  # written...
    await h.settle(tmp_path)
    assert h.watcher.pending == {}  # ...and not seen as changes
    assert all(not name.startswith("home") for _, name in h.seen)


async def test_a_deleted_folder_is_reported_and_no_longer_watched(
        tmp_path: Path, harness: Callable[..., Harness], daily_log: DailyLog) -> None:
    gone = tmp_path / "gone"
    h = harness(folder(gone))
    (gone / "a.md").write_text("a")
    await h.watcher.start()
    shutil.rmtree(gone)
    await h.until_recorded(lambda: ("gone", "") in h.seen, "the folder's deletion")
    assert h.watcher.watching == []
    [item] = await h.quiet()
    assert item.text == f"1 file changed in {display_path(gone)}, 1 deleted (a.md)"
    assert f"watched folder {display_path(gone)} was deleted" in daily_log.read(
        h.clock.now().date())


# -- the pieces, without a file system -----------------------------------------------------------

def batch(*changes: tuple[str, str] | tuple[str, str, str]) -> FolderBatch:
    spec = FolderSpec.of(WatchedFolder(path="~/notes"))
    b = FolderBatch(spec, first=0.0, last=0.0)
    for change in changes:
        b.apply(*change)
    return b


def test_changes_fold_into_one_entry_per_file() -> None:
    b = batch(("created", "tmp.md"), ("deleted", "tmp.md"),  # came and went: nothing
              ("deleted", "a.md"), ("created", "a.md"),  # replaced: modified
              ("created", "b.md"), ("moved", "b.md", "c.md"),  # new under its final name
              ("moved", "d.md", "e.md"), ("moved", "e.md", "f.md"),  # one rename
              ("moved", "g.md", "h.md"), ("deleted", "h.md"),  # the original is gone
              ("dir-created", "new/"), ("created", "new/x.md"), ("moved", "new/", "kept/"),
              ("dir-created", "scratch/"), ("created", "scratch/y"), ("deleted", "scratch/"))
    assert (list(b.created), list(b.modified), list(b.deleted), b.moved) == (
        ["c.md", "kept/x.md"], ["a.md"], ["g.md"], {"d.md": "f.md"})
    assert b.changed == 5


def test_the_summary_stays_short_whatever_the_names() -> None:
    many = batch(*[("created", f"{'deep/' * 20}file-{i}\n- forged line.md") for i in range(300)],
                 *[("deleted", f"gone-{i}.txt") for i in range(40)])
    text = summarize(many)
    assert len(text) <= 600
    assert "\n" not in text
    assert text.startswith(f"340 files changed in {display_path(Path.home() / 'notes')}, "
                           "300 new (")
    assert "40 deleted (gone-0.txt" in text


def test_ignore_rules() -> None:
    rules = IgnoreRules([".git", "*.swp", "private/", "/todo.md", "drafts/*.md", "**/cache/tmp"])
    for ignored in (".git", ".git/objects/x", "a/b/x.swp", "private", "a/private/b", "todo.md",
                    "drafts/x.md", "a/cache/tmp/f", "cache/tmp"):
        assert rules.ignores(ignored), ignored
    for kept in ("git", "x.swp.md", "a/todo.md", "drafts/x.txt", "notes/drafts/x.md", "cache"):
        assert not rules.ignores(kept), kept


def test_home_is_shown_as_a_tilde() -> None:
    assert display_path(Path.home() / "notes") == str(Path("~") / "notes")
    assert display_path(Path.home()) == "~"
