"""How the scheduler holds up with 10,000 durable tasks: next due, add, delete, start, firing.

Why: durable tasks live in store.json (tinydb on AtomicJSONStorage, so every write rewrites the
whole file through a temp file, fsync and rename) and in an in-memory heap. Nobody types 10,000
tasks by hand, but a script, an integration or months of forgotten one-shots can get there, and
the scheduler must stay invisible when they do. The targets, at 10,000 tasks:
  * next_due() (what the timer and the status line ask all the time): under 1 ms;
  * create(..., durable=True) and delete(id), each with its fsync'd store write: under 20 ms
    (judged on the p95 of --ops calls, real wall time);
  * start-up (a fresh Store + InboundQueue + Scheduler + load(), as an engine start does): under
    1 s, both "warm" (the derived nextSlotAt/nextDueAt/zone already stored) and "cold" (docs
    without them, e.g. the first start after an upgrade or in another zone: load() computes them
    with croniter and writes them back).
It also reports, without targets: fire_due() with --fire tasks due at once, tasks() (what
CronList reads), the RSS of a fresh process before and after loading, and the store size.

The tasks come from a fixed seed (varied 5-field expressions, recurring and one-shot, prompts of
50-200 characters) and the scheduler runs on a FakeClock at a fixed aware START (Europe/Paris), so
every run sees the same tasks and due times; only the timings (time.perf_counter) are real. The
initial store is written with ONE Store.transact doing insert_multiple (one file write), not
create() in a loop, which would rewrite the whole file once per task. When a target is missed the
bench prints where the time goes (the parts of one store write, croniter vs the rest for a cold
start) and a short cProfile of the missed operation.

Run from the repository root:  python -m bench.scheduler [--tasks N] [--ops N] [--fire N] [--check]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

# `python bench/scheduler.py` puts bench/ (not the repository root) on sys.path; make the root
# importable either way, like the other benches.
REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench import _common  # noqa: E402
from kairos_desktop.atomic import atomic_write_bytes  # noqa: E402
from kairos_desktop.clock import FakeClock  # noqa: E402
from kairos_desktop.queue import InboundQueue  # noqa: E402
from kairos_desktop.scheduler.rules import due_time, validate_cron  # noqa: E402
from kairos_desktop.scheduler.runtime import TABLE, Scheduler  # noqa: E402
from kairos_desktop.scheduler.task import CronTask  # noqa: E402
from kairos_desktop.settings import Settings  # noqa: E402
from kairos_desktop.store import Store  # noqa: E402

ZONE = ZoneInfo("Europe/Paris")
START = datetime(2026, 11, 23, 9, 0, 0, tzinfo=ZONE)
SEED = 20_261_123
DERIVED = ("nextSlotAt", "nextDueAt", "zone")  # what load() computes when a doc lacks it
SETTINGS = Settings(max_scheduled_tasks=100_000)  # the default limit (50) would refuse the bench
ONE_SHOT_SHARE = 0.15
TARGET_NEXT_DUE_MS = 1.0
TARGET_WRITE_MS = 20.0
TARGET_START_S = 1.0
NEXT_DUE_CALLS = 1_000
PROFILE_OPS = 10  # creates and deletes profiled when that target is missed
PROFILE_COLD_TASKS = 2_000  # a cold load is profiled on a subset: cProfile slows it down a lot
PROFILE_ROWS = 8

OPENERS = ("Remind me to", "Check whether", "Summarise", "Look at", "Ask me about", "Draft",
           "Review", "Tell me if", "Collect", "Prepare")
WORDS = ("the", "weekly", "report", "for", "team", "and", "send", "it", "to", "Alice", "before",
         "lunch", "open", "pull", "requests", "on", "the", "main", "repository", "invoices",
         "due", "this", "month", "water", "plants", "in", "office", "calendar", "conflicts",
         "with", "dentist", "backup", "status", "of", "laptop", "newsletter", "draft", "notes",
         "from", "yesterday's", "meeting", "budget", "spreadsheet", "flight", "prices", "Lyon")


# -- the tasks ---------------------------------------------------------------------------------


def _prompt(rng: random.Random) -> str:
    target = rng.randint(50, 200)
    words = [rng.choice(OPENERS)]
    while len(" ".join(words)) < target:
        words.append(rng.choice(WORDS))
    return " ".join(words)[: target - 1].rstrip() + "."


def _cron(rng: random.Random) -> tuple[str, bool]:
    """A 5-field expression and whether it recurs, in the mix a heavy user might have."""
    m, h = rng.randrange(60), rng.randrange(24)
    if rng.random() < ONE_SHOT_SHARE:  # a one-shot pins a date in the next 90 days
        when = START + timedelta(minutes=rng.randrange(15, 90 * 24 * 60))
        return f"{when.minute} {when.hour} {when.day} {when.month} *", False
    forms = [
        (30, f"{m} {h} * * *"),  # daily
        (20, f"{m} {h} * * 1-5"),  # weekdays
        (10, f"{m} {h} * * {rng.randrange(7)}"),  # weekly
        (5, f"{m} {h} * * 1,3,5"),
        (8, f"{m} {h} {rng.randint(1, 28)} * *"),  # monthly
        (3, f"{m} {h} {rng.randint(1, 28)} {rng.randint(1, 12)} *"),  # yearly
        (7, f"{m} 9-18 * * 1-5"),  # hourly in working hours
        (5, f"{m} * * * *"),  # hourly
        (5, f"{m} */{rng.choice((2, 3, 4, 6, 8, 12))} * * *"),
        (2, f"*/{rng.choice((5, 10, 15, 20, 30))} * * * *"),
    ]
    return rng.choices([f for _, f in forms], weights=[w for w, _ in forms])[0], True


def make_tasks(n: int, seed: int) -> list[CronTask]:
    """n durable tasks created at START, without derived times (load() fills those in)."""
    rng = random.Random(seed)
    ids: set[str] = set()
    valid: dict[str, str] = {}
    tasks = []
    for _ in range(n):
        expr, recurring = _cron(rng)
        if expr not in valid:
            valid[expr] = validate_cron(expr)  # what create() would accept
        task_id = f"{rng.getrandbits(32):08x}"
        while task_id in ids:
            task_id = f"{rng.getrandbits(32):08x}"
        ids.add(task_id)
        tasks.append(CronTask(id=task_id, cron=valid[expr], prompt=_prompt(rng),
                              created_at=START.isoformat(timespec="seconds"),
                              recurring=recurring, durable=True))
    return tasks


def cold_docs(tasks: list[CronTask]) -> list[dict[str, Any]]:
    docs = []
    for task in tasks:
        doc = task.to_doc()
        for key in DERIVED:
            doc.pop(key, None)
        docs.append(doc)
    return docs


def write_store(path: Path, docs: list[dict[str, Any]]) -> float:
    """One Store.transact with insert_multiple: the whole table reaches the file in one write."""
    began = time.perf_counter()
    store = Store(path, owner=True)
    store.transact(lambda db: db.table(TABLE, cache_size=0).insert_multiple(docs))
    store.close()
    return time.perf_counter() - began


# -- measuring ---------------------------------------------------------------------------------


@dataclass
class Stats:
    samples: list[float]  # milliseconds, or seconds for start-ups

    def percentile(self, p: float) -> float:
        return _common.percentile(self.samples, p)

    @property
    def median(self) -> float:
        return self.percentile(50)

    @property
    def p95(self) -> float:
        return self.percentile(95)

    @property
    def max(self) -> float:
        return max(self.samples) if self.samples else math.nan


@dataclass
class Started:
    store: Store
    queue: InboundQueue
    scheduler: Scheduler


def start(path: Path, clock: FakeClock) -> Started:
    """What an engine start does with the store, minus everything unrelated to tasks."""
    store = Store(path, owner=True)
    queue = InboundQueue(store)
    scheduler = Scheduler(store=store, clock=clock, settings=lambda: SETTINGS, zone=ZONE,
                          queue=queue)
    scheduler.load(seed_builtins=False)
    return Started(store, queue, scheduler)


def timed_start(path: Path, clock: FakeClock) -> tuple[float, Started]:
    began = time.perf_counter()
    started = start(path, clock)
    return time.perf_counter() - began, started


_ms = _common.elapsed_ms



def _vm_kb(name: str) -> int:
    """VmRSS / VmHWM from /proc in KiB; the peak RSS from getrusage where there is no /proc."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{name}:"):
                return int(line.split()[1])
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # bytes on macOS, KiB on Linux


def rss_child(path: Path) -> None:
    """Run in a fresh process: RSS before and after loading the store, and that load's time."""
    gc.collect()
    before = _vm_kb("VmRSS")
    began = time.perf_counter()
    started = start(path, FakeClock(START))
    load_s = time.perf_counter() - began
    after = _vm_kb("VmRSS")
    print(json.dumps({"before_kb": before, "after_kb": after, "peak_kb": _vm_kb("VmHWM"),
                      "load_s": load_s, "tasks": len(started.scheduler.tasks())}))


def measure_rss(path: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--rss-child",
                           str(path)], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def profile_rows(profile: cProfile.Profile, per: int, rows: int = PROFILE_ROWS) -> list[str]:
    return _common.profile_rows(profile, per, rows, calls_width=11)


@dataclass
class Result:
    n: int
    ops: int
    recurring: int = 0
    prompt_mean: float = 0.0
    build_s: float = 0.0
    cold_bytes: int = 0
    warm_bytes: int = 0
    after_bytes: int = 0
    cold: Stats = field(default_factory=lambda: Stats([]))
    derive_s: float = 0.0  # due_time() for every task: the croniter part of a cold start
    warm: Stats = field(default_factory=lambda: Stats([]))
    next_due_first_ms: float = 0.0
    next_due: Stats = field(default_factory=lambda: Stats([]))
    tasks_ms: Stats = field(default_factory=lambda: Stats([]))
    create: Stats = field(default_factory=lambda: Stats([]))
    delete: Stats = field(default_factory=lambda: Stats([]))
    fire_wanted: int = 0
    fire_ms: float = 0.0
    fired: int = 0
    fire_catch_up: int = 0
    fire_span_s: float = 0.0
    rss: dict[str, Any] = field(default_factory=dict)
    anatomy: dict[str, float] = field(default_factory=dict)
    profiles: dict[str, list[str]] = field(default_factory=dict)
    real_s: float = 0.0

    @property
    def next_due_ok(self) -> bool:
        return max(self.next_due.max, self.next_due_first_ms) < TARGET_NEXT_DUE_MS

    @property
    def create_ok(self) -> bool:
        return self.create.p95 < TARGET_WRITE_MS

    @property
    def delete_ok(self) -> bool:
        return self.delete.p95 < TARGET_WRITE_MS

    @property
    def warm_ok(self) -> bool:
        return self.warm.max < TARGET_START_S

    @property
    def cold_ok(self) -> bool:
        return self.cold.max < TARGET_START_S

    @property
    def ok(self) -> bool:
        return (self.next_due_ok and self.create_ok and self.delete_ok and self.warm_ok
                and self.cold_ok)


def write_anatomy(path: Path, scratch: Path, runs: int = 5) -> dict[str, float]:
    """The parts of one store write at this size, done the way AtomicJSONStorage does them."""
    data = json.loads(path.read_text(encoding="utf-8"))
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    blob = text.encode("utf-8")
    parts = {
        "json.dumps": Stats([_ms(lambda: json.dumps(data, ensure_ascii=False,
                                                    separators=(",", ":")))
                             for _ in range(runs)]).median,
        "encode": Stats([_ms(lambda: text.encode("utf-8")) for _ in range(runs)]).median,
        "atomic write (temp file, fsync, rename, dir fsync)": Stats(
            [_ms(lambda: atomic_write_bytes(scratch, blob)) for _ in range(runs)]).median,
        "same bytes, plain write without fsync": Stats(
            [_ms(lambda: scratch.write_bytes(blob)) for _ in range(runs)]).median,
    }
    scratch.unlink(missing_ok=True)
    return parts


def run(args: argparse.Namespace) -> Result:
    began = time.perf_counter()
    result = Result(n=args.tasks, ops=args.ops, fire_wanted=args.fire)
    tasks = make_tasks(args.tasks, SEED)
    result.recurring = sum(t.recurring for t in tasks)
    result.prompt_mean = sum(len(t.prompt) for t in tasks) / len(tasks)
    with tempfile.TemporaryDirectory(prefix="kairos-scheduler-bench-", dir=args.dir) as tmp:
        root = Path(tmp)
        path = root / "store.json"
        cold_path = root / "cold" / "store.json"
        cold_path.parent.mkdir()
        result.build_s = write_store(cold_path, cold_docs(tasks))
        cold_bytes = cold_path.read_bytes()
        result.cold_bytes = len(cold_bytes)
        clock = FakeClock(START)

        # Cold start: every doc lacks its derived times; load() computes and writes them back,
        # which leaves a warm store.json behind.
        for _ in range(args.cold_runs):
            path.write_bytes(cold_bytes)
            elapsed, started = timed_start(path, clock)
            result.cold.samples.append(elapsed)
            started.store.close()
        began_derive = time.perf_counter()
        for task in tasks:  # what load() does per task, minus the store write
            due_time(task.id, task.cron, recurring=task.recurring, anchor=START)
        result.derive_s = time.perf_counter() - began_derive
        result.warm_bytes = path.stat().st_size

        # Warm starts: everything derived is already stored.
        started = None
        for _ in range(args.warm_runs):
            if started is not None:
                started.store.close()
            elapsed, started = timed_start(path, clock)
            result.warm.samples.append(elapsed)
        assert started is not None
        result.rss = measure_rss(path)
        scheduler = started.scheduler
        # As `kairos run` does after start: what lives as long as the process leaves the collector.
        gc.collect()
        gc.freeze()

        result.next_due_first_ms = _ms(scheduler.next_due)
        result.next_due = Stats([_ms(scheduler.next_due) for _ in range(NEXT_DUE_CALLS)])
        result.tasks_ms = Stats([_ms(scheduler.tasks) for _ in range(5)])

        rng = random.Random(SEED + 1)
        for _ in range(args.ops):
            expr, recurring = _cron(rng)
            prompt = _prompt(rng)
            result.create.samples.append(_ms(lambda e=expr, p=prompt, r=recurring:
                                             scheduler.create(e, p, recurring=r, durable=True)))
        victims = rng.sample(sorted(t.id for t in scheduler.tasks()), args.ops)
        for task_id in victims:
            result.delete.samples.append(_ms(lambda i=task_id: scheduler.delete(i)))
        result.next_due.samples.append(_ms(scheduler.next_due))  # drops the stale heap entries
        result.after_bytes = path.stat().st_size

        if not (result.create_ok and result.delete_ok) or args.profile:
            result.anatomy = write_anatomy(path, root / "scratch.json")
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(PROFILE_OPS):
                expr, recurring = _cron(rng)
                scheduler.create(expr, _prompt(rng), recurring=recurring, durable=True)
            profile.disable()
            result.profiles[f"create(durable=True), {PROFILE_OPS} calls"] = profile_rows(
                profile, PROFILE_OPS)
            profile = cProfile.Profile()
            victims = rng.sample(sorted(t.id for t in scheduler.tasks()), PROFILE_OPS)
            profile.enable()
            for task_id in victims:
                scheduler.delete(task_id)
            profile.disable()
            result.profiles[f"delete(), {PROFILE_OPS} calls"] = profile_rows(profile, PROFILE_OPS)

        # Many due at once: move the clock to the due time of the fire-th earliest task.
        if args.fire:
            dues = sorted(datetime.fromisoformat(t.next_due_at) for t in scheduler.tasks()
                          if t.next_due_at is not None)
            moment = dues[min(args.fire, len(dues)) - 1]
            result.fire_span_s = (moment - START).total_seconds()
            clock.set_time(moment)
            began_fire = time.perf_counter()
            result.fired = len(scheduler.fire_due())
            result.fire_ms = (time.perf_counter() - began_fire) * 1000
            result.fire_catch_up = sum(1 for item in started.queue.pending()
                                       if item.meta.get("catchUp"))
        started.store.close()
        gc.unfreeze()

        if not result.cold_ok or args.profile:
            subset = cold_docs(tasks[:PROFILE_COLD_TASKS])
            sub_path = root / "profile" / "store.json"
            sub_path.parent.mkdir()
            write_store(sub_path, subset)
            profile = cProfile.Profile()
            profile.enable()
            start(sub_path, FakeClock(START)).store.close()
            profile.disable()
            result.profiles[f"cold load() of {len(subset):,} tasks (one call)"] = profile_rows(
                profile, 1)
    result.real_s = time.perf_counter() - began
    return result


# -- the report --------------------------------------------------------------------------------


def report(r: Result) -> str:
    nd = r.next_due
    lines = [
        f"kairos scheduler bench: {r.n:,} durable tasks (seed {SEED}), FakeClock at "
        f"{START.isoformat()} ({ZONE.key}), real wall time",
        f"  tasks: {r.recurring:,} recurring, {r.n - r.recurring:,} one-shot; prompts 50-200 "
        f"chars (mean {r.prompt_mean:.0f}); maxScheduledTasks {SETTINGS.max_scheduled_tasks:,}",
        f"  initial store: one Store.transact(insert_multiple) in {r.build_s * 1000:.0f} ms",
        f"  store.json: {r.warm_bytes:,} bytes with derived times ({r.cold_bytes:,} without; "
        f"{r.after_bytes:,} after the adds and deletes)",
        "",
        f"  {'figure':<52} {'median':>10} {'p95':>10} {'max':>10}  {'target':<14} verdict",
    ]

    def row(label: str, stats: Stats, unit: str, target: str, verdict: str) -> None:
        lines.append(f"  {label:<52} {stats.median:>8.3f}{unit} {stats.p95:>8.3f}{unit} "
                     f"{stats.max:>8.3f}{unit}  {target:<14} {verdict}")

    row(f"next_due(), {len(nd.samples):,} calls", nd, "ms", "< 1 ms (max)",
        _common.verdict(r.next_due_ok))
    lines.append(f"  {'  first call after load':<52} {r.next_due_first_ms:>8.3f}ms")
    row(f"create(..., durable=True), {r.ops} calls", r.create, "ms", "< 20 ms (p95)",
        _common.verdict(r.create_ok))
    row(f"delete(id), {r.ops} calls", r.delete, "ms", "< 20 ms (p95)", _common.verdict(r.delete_ok))
    row(f"start-up, warm (derived times stored), {len(r.warm.samples)} run(s)", r.warm, " s",
        "< 1 s (max)", _common.verdict(r.warm_ok))
    row(f"start-up, cold (no nextDueAt: croniter), {len(r.cold.samples)} run(s)", r.cold, " s",
        "< 1 s (max)", _common.verdict(r.cold_ok))
    row("tasks() (what CronList reads), 5 calls", r.tasks_ms, "ms", "-", "-")
    if r.fire_wanted:
        lines.append(
            f"  {f'fire_due(), {r.fired} tasks due at once':<52} {r.fire_ms:>8.1f}ms "
            f"({r.fire_ms / max(r.fired, 1):.1f} ms per task; clock moved "
            f"{r.fire_span_s:.0f} s, {r.fire_catch_up} catch-ups)  no target")
    if r.rss:
        mib = 1024
        lines.append(
            f"  {'RSS of a fresh process, before / after load':<52} "
            f"{r.rss['before_kb'] / mib:>8.1f}MB {r.rss['after_kb'] / mib:>8.1f}MB  "
            f"(+{(r.rss['after_kb'] - r.rss['before_kb']) / mib:.1f} MB for "
            f"{r.rss['tasks']:,} tasks; peak {r.rss['peak_kb'] / mib:.1f} MB; "
            f"its warm load took {r.rss['load_s']:.3f} s)")
    if r.anatomy:
        lines += ["", f"where a store write goes at this size ({r.after_bytes:,} bytes), medians:"]
        for name, ms in r.anatomy.items():
            lines.append(f"  {name:<56} {ms:8.2f} ms")
        own = sum(v for k, v in r.anatomy.items() if not k.startswith("same bytes"))
        lines.append(f"  {'rest of a create (median): tinydb, croniter, pydantic':<56} "
                     f"{r.create.median - own:8.2f} ms")
        lines.append(f"  {'rest of a delete (median): tinydb scan and copies':<56} "
                     f"{r.delete.median - own:8.2f} ms")
    if not r.cold_ok or r.profiles:
        cold, warm = r.cold.median, r.warm.median
        lines += ["", f"where a cold start goes ({cold:.2f} s, median):",
                  f"  croniter: due_time() for every task, timed alone  {r.derive_s:8.2f} s "
                  f"({1e6 * r.derive_s / r.n:.0f} us/task)",
                  f"  reading and validating the docs (= a warm start)   {warm:8.2f} s",
                  f"  the rest: writing the derived times back          "
                  f"{cold - r.derive_s - warm:8.2f} s"]
    for title, rows in r.profiles.items():
        lines += ["", f"cProfile, {title}: most own time, per call"]
        lines += rows
    lines.append("")
    lines.append(f"{_common.verdict(r.ok)}: " + ", ".join(
        f"{name} {_common.verdict(ok)}" for name, ok in (
            ("next_due", r.next_due_ok), ("create", r.create_ok), ("delete", r.delete_ok),
            ("warm start", r.warm_ok), ("cold start", r.cold_ok))))
    lines.append(f"(bench ran in {r.real_s:.1f} s of real time)")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scheduler",
        description="Time the scheduler with many durable tasks in a real store.json.")
    parser.add_argument("--tasks", type=int, default=10_000,
                        help="durable tasks in the store (default 10,000)")
    parser.add_argument("--ops", type=int, default=50,
                        help="creates and deletes timed (default 50 of each)")
    parser.add_argument("--fire", type=int, default=100,
                        help="tasks due at once for the fire_due() figure (default 100; 0 skips)")
    parser.add_argument("--warm-runs", type=int, default=3, help="warm start-ups (default 3)")
    parser.add_argument("--cold-runs", type=int, default=1, help="cold start-ups (default 1)")
    parser.add_argument("--dir", default=None,
                        help="where to make the temp dir (default: the system's); fsync costs "
                             "depend on the file system")
    parser.add_argument("--profile", action="store_true",
                        help="print the breakdowns and profiles even when every target is met")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when a target is missed (default: always exit 0)")
    parser.add_argument("--rss-child", type=Path, default=None, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.rss_child is not None:
        rss_child(args.rss_child)
        return 0
    if args.tasks < 1 or args.ops < 1 or args.ops > args.tasks or args.fire < 0 \
            or args.warm_runs < 1 or args.cold_runs < 1:
        print("scheduler: --tasks, --ops, --warm-runs and --cold-runs must be at least 1, "
              "--ops at most --tasks, --fire at least 0", file=sys.stderr)
        return 2
    if args.dir is not None and not os.path.isdir(args.dir):
        print(f"scheduler: --dir {args.dir} is not a directory", file=sys.stderr)
        return 2
    result = run(args)
    print(report(result), flush=True)
    return 1 if args.check and not result.ok else 0


if __name__ == "__main__":
    sys.exit(main())
