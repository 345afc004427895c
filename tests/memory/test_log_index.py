"""The daily logs' search index: the same hits as reading the files, kept up with every append,
rebuilt when it is broken."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import stat
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from kairos_desktop.clock import FakeClock
from kairos_desktop.journal import DailyLog
from kairos_desktop.memory.files import MemoryFiles
from kairos_desktop.memory.log_index import WARM_BATCH, LogIndex, _scan
from tests.fakes.anthropic_server import tool_use
from tests.waiting import until


@pytest.fixture
def memory(tmp_path: Path, clock: FakeClock) -> MemoryFiles:
    files = MemoryFiles(tmp_path / "memory")
    log = DailyLog(files.logs_dir, clock, key=b"k")
    start = clock.now() - timedelta(days=20)
    for day in range(20):
        at = start + timedelta(days=day)
        log.append("user", f"day {day}: book the dentist for Eva", at=at)
        log.append("tool MemoryWrite", f"{{'topic': 'family'}} -> wrote {day}", at=at)
        log.append("message (normal)", "Done.\nSecond line with Lyon", at=at + timedelta(hours=1))
    return files


def plain(files: MemoryFiles, needle: str, limit: int = 100) -> list[tuple[str, int, str]]:
    found = _scan(sorted(files.logs_dir.glob("*/*/*.md")), needle, limit)
    return [(str(h.path), h.line, h.text) for h in found]


def indexed(files: MemoryFiles, needle: str, limit: int = 100) -> list[tuple[str, int, str]]:
    return [(str(h.path), h.line, h.text) for h in files.log_index.search(needle, limit)]


@pytest.mark.parametrize("needle", ["dentist", "DENTIST", "day 7:", "lyon", "'topic'", "Eva",
                                    "no such words", "7:"])
def test_the_index_finds_what_reading_the_files_finds(memory: MemoryFiles, needle: str) -> None:
    assert indexed(memory, needle) == plain(memory, needle)


def test_hits_come_newest_day_first_and_in_line_order(memory: MemoryFiles) -> None:
    hits = memory.log_index.search("dentist", 3)
    days = [h.path.stem for h in hits]
    assert days == sorted(days, reverse=True) and len(set(days)) == 3
    assert "day 19" in hits[0].text


def test_an_entry_appended_after_a_search_is_found_by_the_next(
        memory: MemoryFiles, clock: FakeClock) -> None:
    assert indexed(memory, "pharmacy") == []
    DailyLog(memory.logs_dir, clock, key=b"k").append("user", "call the pharmacy")
    hits = memory.log_index.search("pharmacy", 10)
    assert [h.text for h in hits] and "call the pharmacy" in hits[0].text
    assert indexed(memory, "dentist") == plain(memory, "dentist")  # nothing else lost


def test_a_log_changed_in_place_is_indexed_again(memory: MemoryFiles) -> None:
    memory.log_index.search("dentist", 100)
    target = sorted(memory.logs_dir.glob("*/*/*.md"))[5]
    target.write_text(target.read_text().replace("dentist", "barber"))
    assert indexed(memory, "barber") == plain(memory, "barber") != []
    assert indexed(memory, "dentist") == plain(memory, "dentist")


def test_a_deleted_log_leaves_the_index(memory: MemoryFiles) -> None:
    memory.log_index.search("dentist", 100)
    sorted(memory.logs_dir.glob("*/*/*.md"))[0].unlink()
    assert indexed(memory, "dentist") == plain(memory, "dentist")
    assert len(indexed(memory, "dentist")) == 19


def test_a_corrupt_index_is_reported_with_its_path_and_rebuilt(
        memory: MemoryFiles, caplog: pytest.LogCaptureFixture) -> None:
    memory.log_index.search("dentist", 100)
    memory.log_index.close()
    path = memory.logs_dir / ".index"
    path.write_bytes(b"this is not a database" * 100)
    fresh = MemoryFiles(memory.root)
    with caplog.at_level(logging.WARNING):
        assert indexed(fresh, "dentist") == plain(fresh, "dentist") != []
    assert str(path) in caplog.text and "rebuilding" in caplog.text


def test_the_index_is_private(memory: MemoryFiles) -> None:
    memory.log_index.search("dentist", 1)
    mode = stat.S_IMODE((memory.logs_dir / ".index").stat().st_mode)
    assert mode == 0o600


def test_memory_search_reads_topics_then_the_logs_through_the_index(
        memory: MemoryFiles, tmp_path: Path) -> None:
    memory.write_topic("family", "# Family\nEva sees the dentist on Tuesdays\n")
    hits = memory.search("dentist", limit=5)
    assert hits[0].path == "topics/family.md"
    assert [h.path.startswith("logs/") for h in hits[1:]] == [True] * 4
    assert (memory.logs_dir / ".index").exists()


def test_a_torn_last_line_is_indexed_once_it_is_whole(memory: MemoryFiles) -> None:
    newest = sorted(memory.logs_dir.glob("*/*/*.md"))[-1]
    with open(newest, "ab") as handle:
        handle.write(b"- 23:59:00 **user** half a thought about zebras")
    assert indexed(memory, "zebras") == []
    with open(newest, "ab") as handle:
        handle.write(b" and giraffes\n")
    assert [t for _, _, t in indexed(memory, "zebras")] == [
        "- 23:59:00 **user** half a thought about zebras and giraffes"]


def test_a_fresh_index_is_used_in_a_new_process(memory: MemoryFiles) -> None:
    memory.log_index.search("dentist", 1)
    memory.log_index.close()
    again = LogIndex(memory.logs_dir)
    assert [h.line for h in again.search("dentist", 100)] == \
        [line for _, line, _ in plain(memory, "dentist")]


def _indexed_logs(index: LogIndex) -> int:
    index.close()
    return _files_in_index(index)


def test_warming_up_indexes_every_log_in_batches_and_a_stop_ends_it_between_two(
        memory: MemoryFiles) -> None:
    stop = threading.Event()
    batches: list[int] = []
    index = memory.log_index
    real = index._catch_up

    def one_batch(db: Any, limit: int | None = None) -> bool:
        batches.append(limit or 0)
        if len(batches) == 2:
            stop.set()  # the app stops during the second batch
        return real(db, limit)

    index._catch_up = one_batch  # type: ignore[method-assign]
    index.warm(stop, batch=7)
    assert batches == [7, 7]  # the third batch never starts
    assert _indexed_logs(index) == 14
    index._catch_up = real  # type: ignore[method-assign]
    index.warm(threading.Event(), batch=7)  # no stop: to the end
    assert _indexed_logs(index) == 20
    assert indexed(memory, "dentist") == plain(memory, "dentist")


async def test_a_start_brings_the_index_up_to_date_before_any_search(
        make_engine: Any, fake: Any, clock: FakeClock, home: Any) -> None:
    # An upgrade onto a home with logs and no index: the app indexes them in the background,
    # so the model's first MemorySearch does not wait for all of them.
    old = DailyLog(home.logs_dir, clock, key=home.log_key())
    for day in range(1, 41):
        old.append("user", f"note {day}: the boiler code is 4471",
                   at=clock.now() - timedelta(days=day))
    fake.on_empty = tool_use("Sleep", {"seconds": 3000})
    engine = make_engine()
    await engine.start(control_api=False)
    logs = len(list(home.logs_dir.glob("*/*/*.md")))
    assert logs == 41  # today's too (the start wrote it)
    await until(lambda: _files_in_index(engine.memory.log_index) >= 40,
                "the index to hold every old log", timeout=30)


def _files_in_index(index: LogIndex) -> int:
    if not index.path.exists():
        return 0
    with contextlib.closing(sqlite3.connect(index.path)) as db:
        try:
            return int(db.execute("SELECT count(*) FROM files").fetchone()[0])
        except sqlite3.OperationalError:  # not created yet
            return 0


def test_a_search_far_behind_the_logs_reads_them_and_the_index_catches_up_a_batch_at_a_time(
        tmp_path: Path, clock: FakeClock) -> None:
    # The first search after an upgrade onto more logs than one batch: it answers from the
    # files (the same hits) instead of waiting for the whole index, which it extends by one
    # batch; the warm-up (or later searches) does the rest.
    files = MemoryFiles(tmp_path / "memory")
    log = DailyLog(files.logs_dir, clock, key=b"k")
    for day in range(WARM_BATCH + 15):
        log.append("user", f"day {day}: water the ficus", at=clock.now() - timedelta(days=day))
    first = indexed(files, "ficus")
    assert first == plain(files, "ficus") and len(first) == WARM_BATCH + 15
    assert _files_in_index(files.log_index) == WARM_BATCH
    files.log_index.warm(threading.Event())
    assert _files_in_index(files.log_index) == WARM_BATCH + 15
    assert indexed(files, "ficus") == first
