"""Does the assistant cost the same, and answer as fast, on day 1000 as on day 1?

Why: an always-on assistant lives for years, and what piles up in its home (a conversation at
its budget, tens of thousands of messages, years of daily logs) must not make an idle day dearer
or the app slower. This bench builds three homes (bench/aging_homes.py: a new one, one a year
old, one three years old) and measures the same figures on each:

  * an idle day (the real Engine in process, on a FakeClock that jumps from one deadline to the
    next, talking to FakeAnthropic on the same clock, which counts tokens as characters / 4 and
    applies the real prompt-cache rules; the model only ever Sleeps): model calls, input tokens
    (uncached + cache read + cache write) and dollars from the engine's own usage ledger, which
    prices them with the current price list;
  * send -> model request p50 / p99: a real `kairos run --headless --continue` on the home, its
    model FakeAnthropic in this process; each message goes through the control API, timed from
    just before ControlClient.send to the request reaching the fake (both time.monotonic);
  * one store write p99: the writes the engine makes all the time, on the in-process engine
    after its idle day (asleep): a message for the user (engine.outbox.add) and a model call's
    usage row (engine.usage.record), alternately;
  * start-up: from starting the `kairos run --headless` process to its control API answering
    (GET /api/status), the median of a few starts;
  * log search p95: the model's MemorySearch tool, called through the running engine's tool
    registry, for 20 queries: 8 words each written once in one log from the oldest to the
    newest, 8 common ones, 4 found nowhere (after one untimed search, and once the start's
    warm-up of the logs' index is done);
  * RSS after start: of the headless process once it sleeps after its first tick.

Targets (issue AGELESS): an idle day at a full context (every home holds a transcript at its
budget) <= 150,000 input tokens and <= $0.01; every 3-year figure within 1.5x of the day-0
figure (times under a floor, 1 ms or 10 ms for start-up, count as the floor: below it is
noise); on the 3-year home, send -> model request p99 < 50 ms, start-up < 1 s, one store write
p99 < 10 ms and log search p95 < 50 ms.

Every measurement runs on a fresh copy of the built home (on the temp folder's disk, as a home
on disk would be) that one real engine start and stop has already opened, so whatever a first
start does to an older home (a migration) is not what is timed. Times are real wall time: on a
shared machine read them with the load averages printed at the end.

Run from the repository root:  python -m bench.aging [--quick] [--check]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

# `python bench/aging.py` puts bench/ (not the repository root) on sys.path; the fake server
# lives in tests/, so make the root importable either way.
REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench import _common  # noqa: E402
from bench._common import BenchError  # noqa: E402
from bench.aging_homes import (  # noqa: E402
    COMMON,
    NOWHERE,
    PLANTED,
    SPECS,
    BuiltHome,
    HomeSpec,
    cached_home,
    copy_home,
    history_end,
    scaled,
)
from kairos_desktop.clock import FakeClock, local_zone  # noqa: E402
from kairos_desktop.delivery.notifier import ConsoleNotifier  # noqa: E402
from kairos_desktop.errors import KairosError  # noqa: E402
from kairos_desktop.events import Event  # noqa: E402
from kairos_desktop.home import Home  # noqa: E402
from kairos_desktop.model_types import Usage  # noqa: E402
from kairos_desktop.runtime import Engine  # noqa: E402
from kairos_desktop.settings import Settings, load_settings  # noqa: E402
from kairos_desktop.tools.base import ToolContext  # noqa: E402
from tests.fakes.anthropic_server import (  # noqa: E402
    FakeAnthropic,
    RecordedRequest,
    Reply,
    tool_use,
)

DAY_S = 86_400.0
IDLE_SLEEP_S = 86_400.0  # the idle model asks for a whole day; the engine clamps it
HEADLESS_SLEEP_S = 3000.0  # longer than the bench: only a message wakes it
REAL_TIME_LIMIT_S = 120.0  # for one simulated day: a hang fails the bench instead of blocking
START_TIMEOUT_S = 60.0
STEP_TIMEOUT_S = 30.0
POLL_S = 0.002

TARGET_IDLE_TOKENS = 150_000
TARGET_IDLE_USD = 0.01
TARGET_RATIO = 1.5
TARGET_SEND_P99_MS = 50.0
TARGET_STARTUP_S = 1.0
TARGET_WRITE_P99_MS = 10.0
TARGET_SEARCH_P95_MS = 50.0

now = time.monotonic  # the fake's RecordedRequest.received_at is time.monotonic()


@dataclass(frozen=True)
class Samples:
    # Enough for a p99 that is not just the largest sample: a tail of fsync or scheduling
    # jitter on a shared disk and CPU must not read as age.
    sends: int = 100
    writes: int = 200  # of each kind
    starts: int = 3


FULL = Samples()
QUICK = Samples(sends=10, writes=10, starts=1)
QUICK_SCALE = 0.1


@dataclass
class Figures:
    """What was measured on one home."""

    spec: HomeSpec
    facts: dict[str, Any]
    idle_calls: int = 0
    idle_tokens: int = 0
    idle_cache_read: int = 0
    idle_cache_write: int = 0
    idle_uncached: int = 0
    idle_usd: float = math.nan
    ledger_mismatch: str | None = None
    engine_start_s: float = math.nan
    search_ms: list[float] = field(default_factory=list)
    search_first_ms: float = math.nan
    index_wait_s: float = 0.0  # then, until the start's warm-up of the log index was done
    outbox_ms: list[float] = field(default_factory=list)
    usage_ms: list[float] = field(default_factory=list)
    startup_s: list[float] = field(default_factory=list)
    rss_bytes: int = 0
    send_ms: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what the engine or a check reported
    seconds: float = 0.0

    @property
    def write_ms(self) -> list[float]:
        return self.outbox_ms + self.usage_ms


# -- the in-process engine (a FakeClock) --------------------------------------------------------


def _idle_model(request: RecordedRequest) -> Reply:
    # An idle model: every tick ends in Sleep(max); a dream finds nothing to change.
    if "memory consolidation" in request.system_text:
        return tool_use("DreamDone", {"summary": "nothing new"})
    return tool_use("Sleep", {"seconds": IDLE_SLEEP_S})


def _engine(home: Home, clock: FakeClock, fake: FakeAnthropic) -> Engine:
    return Engine(home, clock=clock, notifier=ConsoleNotifier(io.StringIO()), api_key="bench",
                  base_url=fake.base_url)


def _watch_trouble(engine: Engine, into: list[str]) -> Callable[[], None]:
    def on_event(event: Event) -> None:
        if event.kind == "state" and event.data.get("state") in ("error", "offline"):
            into.append(f"{event.data['state']}: {event.data.get('detail', '')}")

    return engine.bus.subscribe(on_event)


async def open_once(home: Home, at: datetime) -> None:
    """One real start and stop (one tick, answered with a Sleep), as the user's first run of
    this version would: whatever a start does to an older home is done before timing."""
    clock = FakeClock(at)
    with FakeAnthropic(clock=clock.monotonic, on_empty=_idle_model) as fake:
        engine = _engine(home, clock, fake)
        await engine.start(resume=True, control_api=False)
        try:
            async with asyncio.timeout(REAL_TIME_LIMIT_S):
                await _common.settle(engine)
        finally:
            await engine.stop()


async def idle_day(home: Home, start: datetime, writes: int, figures: Figures) -> None:
    """A day of fake time from `start` with a model that only sleeps; then, on the same running
    engine (asleep), the log searches and `writes` store writes of each kind."""
    clock = FakeClock(start)
    with FakeAnthropic(clock=clock.monotonic, on_empty=_idle_model) as fake:
        engine = _engine(home, clock, fake)
        began = time.perf_counter()
        await engine.start(resume=True, control_api=False)
        figures.engine_start_s = time.perf_counter() - began
        unsubscribe = _watch_trouble(engine, figures.problems)
        try:
            async with asyncio.timeout(REAL_TIME_LIMIT_S):
                await _common.drive(engine, clock, DAY_S)
            totals = fake.totals  # exactly the calls made in the day
            ledger: dict[str, Any] = engine.usage.day(start.date().isoformat())
            figures.idle_calls = totals.requests
            figures.idle_tokens = totals.total_input_tokens
            figures.idle_cache_read = totals.cache_read_input_tokens
            figures.idle_cache_write = totals.cache_creation_input_tokens
            figures.idle_uncached = totals.input_tokens
            figures.idle_usd = float(ledger["costUsd"])
            pairs = {"calls": (ledger["calls"], totals.requests),
                     "uncached input": (ledger["input"], totals.input_tokens),
                     "cache read": (ledger["cacheRead"], totals.cache_read_input_tokens),
                     "cache write": (ledger["cacheWrite"], totals.cache_creation_input_tokens)}
            wrong = [f"{name}: ledger {mine:,} vs server {theirs:,}"
                     for name, (mine, theirs) in pairs.items() if mine != theirs]
            figures.ledger_mismatch = "; ".join(wrong) or None
            await searches(engine, figures)
            store_writes(engine, writes, figures)
        finally:
            unsubscribe()
            await engine.stop()


def queries(figures: Figures) -> list[tuple[str, bool | None]]:
    """(query, whether it must be found: True, must not: False, either: None)."""
    planted = figures.facts.get("planted", {})
    out: list[tuple[str, bool | None]] = [(w, w in planted) for w in PLANTED]
    out += [(w, None) for w in COMMON]
    out += [(w, False) for w in NOWHERE]
    return out


async def searches(engine: Engine, figures: Figures) -> None:
    """The MemorySearch tool, as the model calls it, through the engine's tool registry."""
    ctx = ToolContext(settings=engine.settings, policy=engine.policy(),
                      deliveries=engine.deliveries, daily_log=engine.daily_log,
                      clock=engine.clock, scheduler=engine.scheduler, memory=engine.memory)

    async def search(query: str) -> tuple[float, str, bool]:
        began = time.perf_counter()
        result = await engine.tools.call(ctx, "MemorySearch", {"query": query})
        return (time.perf_counter() - began) * 1000, result.content, result.is_error

    gc.collect()
    gc.disable()  # the fake's request history is this process's heap, not the engine's
    try:
        figures.search_first_ms, _, _ = await search(NOWHERE[0])
        # The searches are timed on the index as a home has it once the start's warm-up is
        # done (before that, a search reads the files, as the first one may have).
        began = time.perf_counter()
        await asyncio.to_thread(engine.memory.log_index.warm, threading.Event())
        figures.index_wait_s = time.perf_counter() - began
        for query, expected in queries(figures):
            ms, text, is_error = await search(query)
            figures.search_ms.append(ms)
            found = not text.startswith("No memory mentions")
            if is_error or (expected is not None and found != expected):
                should = "an error" if is_error else "it should " + (
                    "be there" if expected else "be nowhere")
                verb = "found" if found else "did not find"
                figures.problems.append(f"MemorySearch {query!r} {verb} it ({should}): "
                                        f"{text[:120]!r}")
    finally:
        gc.enable()


# -- the store -------------------------------------------------------------------------------


def store_writes(engine: Engine, n: int, figures: Figures) -> None:
    """The writes the running engine makes all the time, through its own services: a message
    for the user and a model call's usage row, alternately (nothing else runs meanwhile: the
    calls are synchronous and the heartbeat sleeps)."""
    usage = Usage(input_tokens=1_200, output_tokens=90, cache_read_tokens=55_000,
                  cache_write_tokens=400)
    model = engine.settings.model
    session = engine.status.session_id
    gc.collect()
    gc.disable()
    try:
        for i in range(n):
            text = f"aging bench message {i + 1} of {n}: the weekly report is ready."

            def message(text: str = text) -> None:
                engine.outbox.add(text, "normal", session_id=session)

            figures.outbox_ms.append(_common.elapsed_ms(message))
            figures.usage_ms.append(_common.elapsed_ms(
                lambda: engine.usage.record(model, usage, cache_ttl="1h")))
    finally:
        gc.enable()


# -- the real process ---------------------------------------------------------------------------


def headless(root: Path, samples: Samples, figures: Figures) -> None:
    """`kairos run --headless --continue` on root/home: start-ups, RSS, then the sends."""
    with FakeAnthropic(on_empty=tool_use("Sleep", {"seconds": HEADLESS_SLEEP_S})) as fake:
        instance = _common.HeadlessEngine(root, fake.base_url)
        exit_after = START_TIMEOUT_S * samples.starts + 60 + 5.0 * samples.sends
        try:
            for i in range(samples.starts):
                began = now()
                instance.start(exit_after=exit_after, timeout=START_TIMEOUT_S, poll=POLL_S,
                               args=["--continue"])
                figures.startup_s.append(now() - began)
                status = instance.wait_sleeping(turns=1, timeout=START_TIMEOUT_S)
                figures.rss_bytes = instance.rss_bytes()
                if i < samples.starts - 1:
                    instance.stop()
            turns = int(status["turns"])
            gc.collect()
            gc.disable()  # see bench/wake_latency.py: measure the engine, not the bench
            for i in range(samples.sends):
                text = f"aging bench message {i + 1} of {samples.sends}"
                expected = len(fake.history) + 1
                began = now()
                instance.client.send(text)
                request = _common.request_carrying(fake, expected, text, instance.check_alive,
                                                   STEP_TIMEOUT_S)
                figures.send_ms.append((request.received_at - began) * 1000)
                turns += 1
                instance.wait_sleeping(turns, timeout=STEP_TIMEOUT_S)
        except (BenchError, KairosError) as exc:
            raise BenchError(f"{exc}\n{instance.log_tail()}") from None
        finally:
            gc.enable()
            instance.stop()


def import_seconds() -> tuple[float, float]:
    """For reading start-up: `python -c pass` and importing what `kairos run --headless` loads
    (the engine and the control API), each in a fresh process, the best of three."""
    def best(code: str) -> float:
        times = []
        for _ in range(3):
            began = now()
            subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True,
                           capture_output=True)
            times.append(now() - began)
        return min(times)

    return best("pass"), best("import kairos_desktop.cli, kairos_desktop.runtime, "
                              "kairos_desktop.control.server")


# -- one home -----------------------------------------------------------------------------------


def bench_settings() -> dict[str, Any]:
    """What the copies change from the defaults: no daily budget (dailyBudgetUsd), which a full
    context reaches within the sends and would stall them, or cut an idle day short (its
    dollars are the figure to hold against a budget)."""
    return {"dailyBudgetUsd": None} if "daily_budget_usd" in Settings.model_fields else {}


def measure_home(built: BuiltHome, samples: Samples, work: Path) -> Figures:
    """Open a copy once (as a first start of this version would), then measure fresh copies of
    it: the idle day, searches and writes in process, the rest on the real process."""
    began = time.perf_counter()
    figures = Figures(spec=built.spec, facts=built.facts)
    base = copy_home(built.root, work / "base", bench_settings())
    asyncio.run(open_once(base, built.end - timedelta(minutes=1)))

    def fresh(name: str) -> Home:
        return copy_home(base.root, work / name)

    asyncio.run(idle_day(fresh("idle"), built.end, samples.writes, figures))
    fresh("headless")
    headless(work / "headless", samples, figures)
    shutil.rmtree(work, ignore_errors=True)
    figures.seconds = time.perf_counter() - began
    return figures


def measure(specs: Sequence[HomeSpec], samples: Samples, *, cache_dir: Path | None = None,
            rebuild: bool = False, progress: Callable[[str], None] = lambda _: None,
            ) -> tuple[list[BuiltHome], list[Figures]]:
    """Build (or take from the cache) every home of `specs`, then measure each in turn."""
    zone = local_zone(None)
    end = history_end(zone)
    homes: list[BuiltHome] = []
    for spec in specs:
        progress(f"building the {spec.name} home (or taking it from the cache)...")
        homes.append(cached_home(spec, end, cache_dir, rebuild=rebuild))
    results = []
    with tempfile.TemporaryDirectory(prefix="kairos-aging-") as tmp:
        for i, built in enumerate(homes):
            progress(f"measuring the {built.spec.name} home...")
            results.append(measure_home(built, samples, Path(tmp) / str(i)))
    return homes, results


# -- the table ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    label: str
    value: Callable[[Figures], float]
    fmt: Callable[[float], str]
    limit: float | None = None  # the absolute target ("<" unless at_most)
    at_most: bool = False  # "<=" instead of "<"
    on: str = "oldest"  # which homes the absolute target is for: "oldest" or "full"
    # For times: below it a difference is noise, not age, so the ratio counts a smaller figure
    # as the floor (a tenth of the time's limit).
    floor: float = 0.0

    @property
    def target_text(self) -> str:
        """The absolute target (see the legend under the table), plus the ratio for all."""
        ratio = f"{TARGET_RATIO:g}x"
        if self.limit is None:
            return ratio
        mark = "*" if self.on == "full" else ""
        return f"{'<=' if self.at_most else '<'} {self.fmt(self.limit)}{mark}, {ratio}"


def _ms(v: float) -> str:
    return f"{v:.1f} ms" if v < 100 else f"{v:,.0f} ms"


def _usd(v: float) -> str:
    return f"${v:.4f}"


def _p(samples: list[float], p: float) -> float:
    return _common.percentile(samples, p)


ROWS = (
    Row("idle day: model calls", lambda f: f.idle_calls, lambda v: f"{v:,.0f}"),
    Row("idle day: input tokens", lambda f: f.idle_tokens, lambda v: f"{v:,.0f}",
        TARGET_IDLE_TOKENS, at_most=True, on="full"),
    Row("idle day: USD at list prices", lambda f: f.idle_usd, _usd,
        TARGET_IDLE_USD, at_most=True, on="full"),
    Row("send -> model request p50", lambda f: _p(f.send_ms, 50), _ms,
        floor=TARGET_SEND_P99_MS / 10),
    Row("send -> model request p99", lambda f: _p(f.send_ms, 99), _ms, TARGET_SEND_P99_MS,
        floor=TARGET_SEND_P99_MS / 10),
    Row("one store write p99", lambda f: _p(f.write_ms, 99), _ms, TARGET_WRITE_P99_MS,
        floor=TARGET_WRITE_P99_MS / 10),
    Row("start-up: process -> control API", lambda f: _p(f.startup_s, 50),
        lambda v: f"{v:.2f} s", TARGET_STARTUP_S, floor=TARGET_STARTUP_S / 10),
    Row("log search p95 (MemorySearch)", lambda f: _p(f.search_ms, 95), _ms,
        TARGET_SEARCH_P95_MS, floor=TARGET_SEARCH_P95_MS / 10),
    Row("RSS after start", lambda f: f.rss_bytes / 2**20, lambda v: f"{v:.0f} MB"),
    Row("Engine.start() in process", lambda f: f.engine_start_s, lambda v: f"{v:.2f} s",
        floor=TARGET_STARTUP_S / 10),
)


def judge(row: Row, results: list[Figures]) -> list[str]:
    """Why `row` misses its targets (empty: it meets them)."""
    misses = []
    values = [row.value(f) for f in results]
    if any(math.isnan(v) for v in values):
        misses.append("not measured")
    oldest = results[-1]
    if row.limit is not None:
        homes = [f for f in results if f.spec.conversation] if row.on == "full" else [oldest]
        for f in homes:
            v = row.value(f)
            if v > row.limit or (v == row.limit and not row.at_most):
                misses.append(f"{f.spec.name} {row.fmt(v)} {'>' if row.at_most else '>='} "
                              f"{row.fmt(row.limit)}")
    if len(results) > 1:
        first, last = row.value(results[0]), row.value(oldest)
        low, high = max(first, row.floor), max(last, row.floor)
        if high > TARGET_RATIO * low:
            ratio = high / low if low else math.inf
            misses.append(f"{oldest.spec.name} is {ratio:,.1f}x {results[0].spec.name}")
    return misses


def report(homes: list[BuiltHome], results: list[Figures], *, load: tuple[float, ...],
           imports: tuple[float, float] | None = None, note: str = "") -> tuple[str, bool]:
    names = [f.spec.name for f in results]
    oldest = names[-1] if len(names) > 1 else "oldest"
    model = load_settings(homes[0].root / "settings.json").settings.model
    width = 34
    lines = [f"kairos aging bench: homes aged {' / '.join(names)}, history up to "
             f"{homes[0].end:%Y-%m-%d %H:%M %Z}, model {model}" + (f" {note}" if note else ""),
             "", "the homes:"]
    facts = [("messages (outbox + user)", lambda b: f"{b.facts['messages']:,} + "
              f"{b.facts['userMessages']:,}"),
             ("daily logs (entries)", lambda b: f"{b.facts['logDays']:,} "
              f"({b.facts['logEntries']:,})"),
             ("conversation (turns)", lambda b: f"{b.facts['contextTokens']:,} tok "
              f"({b.facts['turns']})"),
             ("tasks, topics", lambda b: f"{b.facts['tasks']}, {b.facts['topics']}"),
             ("home size", lambda b: f"{b.facts['homeBytes'] / 2**20:.1f} MB"),
             ("built in", lambda b: f"{b.facts['buildSeconds']:.1f} s"
              + ("" if b.build_s else " (cached)"))]
    for label, show in facts:
        lines.append(f"  {label:<{width - 2}}" + "".join(f"{show(b):>16}" for b in homes))
    lines += ["", f"{'figure':<{width}}" + "".join(f"{n:>16}" for n in names)
              + f"   {'target':<22} verdict"]
    all_ok = True
    reasons: list[str] = []
    for row in ROWS:
        misses = judge(row, results)
        all_ok &= not misses
        cells = "".join(f"{row.fmt(row.value(f)):>16}" for f in results)
        lines.append(f"{row.label:<{width}}{cells}   {row.target_text:<22} "
                     f"{_common.verdict(not misses)}")
        reasons += [f"  {row.label}: {m}" for m in misses]
    full = [f.spec.name for f in results if f.spec.conversation]
    lines += [f"targets: the limit is for the {oldest} home (* for every home with a full "
              f"context: {', '.join(full) or 'none'}); {TARGET_RATIO:g}x: the {oldest} figure "
              f"within {TARGET_RATIO:g}x of the {names[0]} one (a time under a tenth of its "
              "limit counts as that tenth: below it a difference is noise, not age)",
              "", "details:"]
    for f in results:
        lines.append(f"  {f.spec.name}: idle day {f.idle_cache_read:,} cache read + "
                     f"{f.idle_cache_write:,} cache write + {f.idle_uncached:,} uncached")
        lines.append(f"    send -> request ms: n={len(f.send_ms)} "
                     f"min {min(f.send_ms, default=0):.1f} median {_p(f.send_ms, 50):.1f}"
                     f" p95 {_p(f.send_ms, 95):.1f}"
                     f" max {max(f.send_ms, default=0):.1f}; start-ups "
                     + ", ".join(f"{s:.2f}" for s in f.startup_s) + " s")
        lines.append(f"    writes p50/p99 ms: Outbox.add {_p(f.outbox_ms, 50):.1f}/"
                     f"{_p(f.outbox_ms, 99):.1f}, UsageLedger.record {_p(f.usage_ms, 50):.1f}/"
                     f"{_p(f.usage_ms, 99):.1f}; search median {_p(f.search_ms, 50):.1f} ms, "
                     f"first {f.search_first_ms:.1f} ms (the index's warm-up then done "
                     f"{f.index_wait_s:.1f} s later); measured in {f.seconds:.0f} s")
        if f.ledger_mismatch:
            lines.append(f"    WARNING: the usage ledger disagrees with the server: "
                         f"{f.ledger_mismatch}")
        for problem in dict.fromkeys(f.problems):
            lines.append(f"    WARNING: {problem}")
    if imports is not None:
        lines.append(f"  for start-up: `python -c pass` {imports[0]:.2f} s, importing the CLI, "
                     f"the engine and the control API {imports[1]:.2f} s (fresh processes)")
    lines.append("")
    if all_ok:
        lines.append("PASS: every target met")
    else:
        lines.append("FAIL: missed")
        lines += reasons
    lines.append(f"(load averages {', '.join(f'{x:.2f}' for x in load)} on "
                 f"{os.cpu_count()} cores: before the bench, then after)")
    return "\n".join(lines), all_ok


# -- command line -------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.aging",
        description="Build homes aged 0 days, 1 year and 3 years and measure what an idle day "
                    "costs and how fast the app is on each.")
    parser.add_argument("--quick", action="store_true",
                        help=f"homes at {QUICK_SCALE:g} of their age and fewer samples")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when a target is missed (default: always exit 0)")
    parser.add_argument("--scale", type=float, default=None,
                        help="the aged homes' history times this (default 1; --quick: "
                             f"{QUICK_SCALE:g})")
    parser.add_argument("--sends", type=int, default=None, help="messages per home "
                        f"(default {FULL.sends}; --quick: {QUICK.sends})")
    parser.add_argument("--writes", type=int, default=None, help="store writes of each kind "
                        f"per home (default {FULL.writes}; --quick: {QUICK.writes})")
    parser.add_argument("--starts", type=int, default=None, help="process start-ups per home "
                        f"(default {FULL.starts}; --quick: {QUICK.starts})")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="where built homes are kept (default: <temp>/kairos-bench-aging)")
    parser.add_argument("--rebuild", action="store_true", help="build the homes afresh")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _common.unwind_on_sigterm()
    base = QUICK if args.quick else FULL
    samples = Samples(sends=base.sends if args.sends is None else args.sends,
                      writes=base.writes if args.writes is None else args.writes,
                      starts=base.starts if args.starts is None else args.starts)
    scale = args.scale if args.scale is not None else (QUICK_SCALE if args.quick else 1.0)
    if samples.sends < 1 or samples.writes < 1 or samples.starts < 1 or not 0 < scale <= 1:
        print("aging: --sends, --writes and --starts must be at least 1, and --scale between "
              "0 and 1", file=sys.stderr)
        return 2
    load = os.getloadavg()
    specs = [scaled(spec, scale) for spec in SPECS]
    try:
        homes, results = measure(specs, samples, cache_dir=args.cache_dir,
                                 rebuild=args.rebuild,
                                 progress=lambda text: print(text, file=sys.stderr, flush=True))
    except (BenchError, KairosError) as exc:
        print(f"aging: could not measure: {exc}", file=sys.stderr)
        return 1
    note = f"(--scale {scale:g})" if scale != 1 else ""
    imports = import_seconds()
    text, ok = report(homes, results, load=(*load, *os.getloadavg()), imports=imports,
                      note=note)
    print(text, flush=True)
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
