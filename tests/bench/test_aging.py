"""bench/aging.py on tiny homes: the builder makes what it says (so the figures are about the
homes they claim to be), and every figure is measured. Figures are printed by the bench, never
asserted here: timings on a shared machine are not a test."""

from __future__ import annotations

import math
import random
from datetime import datetime
from pathlib import Path

import pytest

from bench.aging import ROWS, Samples, measure, report
from bench.aging_homes import (
    HomeSpec,
    avoided_days,
    build_home,
    cached_home,
    history_end,
    planted_days,
    write_logs,
)
from kairos_desktop.clock import FakeClock, local_zone
from kairos_desktop.delivery.outbox import TABLE as OUTBOX_TABLE
from kairos_desktop.delivery.outbox import Outbox
from kairos_desktop.home import Home
from kairos_desktop.journal import DailyLog
from kairos_desktop.memory.files import INDEX_MAX_BYTES, INDEX_MAX_LINES, MemoryFiles
from kairos_desktop.migration import migrate
from kairos_desktop.scheduler.runtime import Scheduler
from kairos_desktop.settings import Settings
from kairos_desktop.store import Store
from kairos_desktop.transcript import Transcript, latest_session_id
from kairos_desktop.views import USER_MESSAGES

BUDGET = 5_000


def _end() -> datetime:
    return history_end(local_zone(), datetime(2026, 12, 2, 15, 0, tzinfo=local_zone()))


def test_an_aged_home_holds_what_the_builder_says(tmp_path: Path) -> None:
    end = _end()
    spec = HomeSpec("40 days", 40, 300, conversation=True, topics=3,
                    context_budget_tokens=BUDGET)
    facts = build_home(spec, tmp_path / "home", end)
    home = Home(tmp_path / "home")

    # A conversation at its budget, as the engine will resume it.
    session = latest_session_id(home.sessions_dir)
    assert session is not None
    transcript = Transcript.open(home.sessions_dir, session)
    assert 0.9 * BUDGET <= transcript.context_tokens() <= BUDGET
    assert len(transcript.turns) == facts["turns"] > 3
    assert all(t.at < end.isoformat() for t in transcript.turns)

    # 300 messages in today's store shape, read back through the real classes.
    store = Store(home.store_file)
    outbox, users = store.all(OUTBOX_TABLE), store.all(USER_MESSAGES)
    assert len(outbox) + len(users) == 300 and outbox and users
    scratch = Outbox(Store(tmp_path / "scratch.json"), FakeClock(end))
    shape = set(scratch.add("x", "normal", session_id="s"))
    assert {k for k in outbox[0] if k != "_id"} == shape - {"at"}  # written before "at"
    # The first start of this version moves them out of the store, every one.
    assert migrate(store, FakeClock(end)) is not None
    assert Outbox(store, FakeClock(end)).recent(1000) == [
        {k: v for k, v in m.items() if k != "_id"} for m in outbox]

    # 40 days of logs whose hash chain holds, about 40 entries a day.
    log = DailyLog(home.logs_dir, FakeClock(end), key=home.log_key())
    checks = log.verify_all()
    assert len(checks) == 40 and all(c.intact for c in checks), [str(c) for c in checks]
    assert 30 <= sum(c.entries for c in checks) / 40 <= 55

    # 50 durable tasks, none due on the day before, the measured day or the one after.
    scheduler = Scheduler(store=store, clock=FakeClock(end), settings=Settings,
                          zone=local_zone())
    scheduler.load(seed_builtins=False)
    tasks = scheduler.tasks()
    assert len(tasks) == 50
    avoided = set(avoided_days(end))
    assert not [t for t in tasks
                if datetime.fromisoformat(str(t.next_due_at)).date() in avoided]

    # MEMORY.md at its limits, and every planted word in the log of its day.
    index = (home.memory_dir / "MEMORY.md").read_text(encoding="utf-8")
    assert INDEX_MAX_LINES - 5 <= len(index.splitlines()) <= INDEX_MAX_LINES
    assert INDEX_MAX_BYTES - 1024 <= len(index.encode()) <= INDEX_MAX_BYTES
    files = MemoryFiles(home.memory_dir)
    for word, day in planted_days(40, end.date()).items():
        hits = files.search(word)
        assert [h.path for h in hits] == [f"logs/{day:%Y}/{day:%m}/{day}.md"], word
    assert set(facts) >= {"messages", "userMessages", "logEntries", "contextTokens"}


def test_parking_old_months_writes_the_logs_a_straight_build_writes(tmp_path: Path) -> None:
    end, zone = _end(), local_zone()
    for name, park in (("parked", True), ("straight", False)):
        log = DailyLog(tmp_path / name, FakeClock(end), key=b"k" * 32)
        write_logs(log, random.Random(7), 35, end.date(), zone, park=park)
    parked = {p.relative_to(tmp_path / "parked"): p.read_bytes()
              for p in (tmp_path / "parked").rglob("*") if p.is_file()}
    straight = {p.relative_to(tmp_path / "straight"): p.read_bytes()
                for p in (tmp_path / "straight").rglob("*") if p.is_file()}
    assert len(parked) == 36  # 35 days (October parked on 1 December) and the anchor
    assert parked == straight
    assert not (tmp_path / ".aging-parked-logs").exists()


@pytest.mark.timeout(180)  # two homes, each with a real `kairos run --headless`
def test_the_bench_measures_every_figure_on_tiny_homes(tmp_path: Path) -> None:
    specs = [HomeSpec("day 0", 0, 0, conversation=False, topics=3),
             HomeSpec("5 days", 5, 100, conversation=True, topics=3,
                      context_budget_tokens=BUDGET)]
    homes, results = measure(specs, Samples(sends=2, writes=2, starts=1),
                             cache_dir=tmp_path / "cache")
    for figures in results:
        assert figures.problems == [] and figures.ledger_mismatch is None
        for row in ROWS:
            assert math.isfinite(row.value(figures)), (figures.spec.name, row.label)
        assert figures.idle_calls > 0 and figures.rss_bytes > 0
        assert len(figures.send_ms) == 2 and len(figures.startup_s) == 1
    # The aged home's conversation is in every idle tick's prompt; the new one has none.
    assert results[1].idle_tokens > results[0].idle_tokens
    text, _ = report(homes, results, load=(0.0, 0.0, 0.0))
    for row in ROWS:
        assert row.label in text
    # Built once, then taken from the cache.
    again = cached_home(specs[1], homes[1].end, tmp_path / "cache")
    assert again.build_s == 0.0 and again.root == homes[1].root
