"""What an idle day costs: model calls, prompt tokens, cache share and dollars.

Why: an always-on assistant is only affordable if doing nothing is nearly free. The heartbeat
loop is built for that (long sleeps that stay under the 1-hour prompt-cache TTL, quiet ticks that
are never stored so the cached prefix stays byte-identical), and this bench checks the claim end
to end: the real Engine and the real `anthropic` SDK, talking to FakeAnthropic (which counts
tokens as characters / 4 and applies the real prompt-cache rules on the same fake clock), with a
FakeClock that jumps from one deadline to the next, so a simulated day takes about a second.

The model is scripted to be idle: every request is answered with a Sleep asking for a full day,
which the engine clamps to maxSleepDurationMs. Targets: at most 30 model calls a day and at
least 80 % of the prompt tokens read from the cache, or at most 150,000 input tokens a day (the
light tick's small prompt may be under the cache's minimum size, and then it is not cached).

Run from the repository root:  python -m bench.idle_cost [--days N] [--max-sleep-ms MS] [--check]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

# `python bench/idle_cost.py` puts bench/ (not the repository root) on sys.path; the fake server
# lives in tests/, so make the root importable either way.
REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from pydantic import ValidationError  # noqa: E402

from bench._common import drive  # noqa: E402
from kairos_desktop.clock import FakeClock  # noqa: E402
from kairos_desktop.delivery.notifier import ConsoleNotifier  # noqa: E402
from kairos_desktop.events import Event  # noqa: E402
from kairos_desktop.home import Home  # noqa: E402
from kairos_desktop.runtime import Engine  # noqa: E402
from kairos_desktop.settings import Settings  # noqa: E402
from tests.fakes.anthropic_server import (  # noqa: E402
    FakeAnthropic,
    RecordedRequest,
    Reply,
    UsageTotals,
    tool_use,
)

START = datetime(2026, 11, 23, 0, 0, 0, tzinfo=ZoneInfo("Europe/Paris"))
DAY_S = 86_400.0
SLEEP_REQUEST_S = 86_400.0  # the idle model asks for a whole day; the engine clamps it
TARGET_MAX_CALLS_PER_DAY = 30
TARGET_MIN_CACHE_SHARE = 0.80
# ...unless the day reads so little that caching does not matter: the light tick's prompt may be
# under the cache's minimum size (1,024 tokens here), and then it is simply not cached.
TARGET_MAX_INPUT_PER_DAY = 150_000
OPENCLAW_CALLS_PER_DAY = 48
REAL_TIME_LIMIT_S = 60.0  # per simulated day: a hang fails the bench instead of blocking CI


@dataclass
class DayLedger:
    day: str
    calls: int
    input: int
    cache_read: int
    cache_write: int
    output: int
    cost_usd: float


@dataclass
class IdleResult:
    days: int
    settings: Settings
    totals: UsageTotals  # the fake server's counts for calls inside the simulated window
    ledger: list[DayLedger]  # the engine's own usage ledger, one row per simulated date
    sleeps_forever: bool = False  # maxSleepDurationMs = -1: the engine slept until the end
    trouble: list[str] = field(default_factory=list)  # error/offline states the engine reported
    real_seconds: float = 0.0

    # per-day averages -------------------------------------------------------------------------

    def per_day(self, value: float) -> float:
        return value / self.days

    @property
    def cache_share(self) -> float:
        total = self.totals.total_input_tokens
        return self.totals.cache_read_input_tokens / total if total else 1.0

    @property
    def cost_usd(self) -> float:
        return sum(d.cost_usd for d in self.ledger)

    @property
    def calls_ok(self) -> bool:
        return self.per_day(self.totals.requests) <= TARGET_MAX_CALLS_PER_DAY

    @property
    def cache_ok(self) -> bool:
        return self.cache_share >= TARGET_MIN_CACHE_SHARE or \
            self.per_day(self.totals.total_input_tokens) <= TARGET_MAX_INPUT_PER_DAY

    def ledger_mismatch(self) -> str | None:
        """The engine's ledger and the fake server must agree on every count."""
        pairs = {
            "calls": (sum(d.calls for d in self.ledger), self.totals.requests),
            "uncached input": (sum(d.input for d in self.ledger), self.totals.input_tokens),
            "cache read": (sum(d.cache_read for d in self.ledger),
                           self.totals.cache_read_input_tokens),
            "cache write": (sum(d.cache_write for d in self.ledger),
                            self.totals.cache_creation_input_tokens),
            "output": (sum(d.output for d in self.ledger), self.totals.output_tokens),
        }
        wrong = [f"{name}: ledger {mine:,} vs server {theirs:,}"
                 for name, (mine, theirs) in pairs.items() if mine != theirs]
        return "; ".join(wrong) or None


def _ledger_rows(engine: Engine, days: int) -> list[DayLedger]:
    rows = []
    for offset in range(days):
        day = (START + timedelta(days=offset)).date()
        raw: dict[str, Any] = engine.usage.day(date.isoformat(day))
        rows.append(DayLedger(day=raw["date"], calls=raw["calls"], input=raw["input"],
                              cache_read=raw["cacheRead"], cache_write=raw["cacheWrite"],
                              output=raw["output"], cost_usd=raw["costUsd"]))
    return rows


async def simulate(days: int, max_sleep_ms: int | None) -> IdleResult:
    """Run the engine for `days` days of fake time with a model that only ever sleeps."""
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kairos-idle-cost-") as tmp:
        root = Path(tmp)
        home = Home(root / "home").ensure()
        values: dict[str, Any] = {"inboxDir": str(root / "inbox")}
        if max_sleep_ms is not None:
            values["maxSleepDurationMs"] = max_sleep_ms
        home.settings_file.write_text(json.dumps(values, indent=2), encoding="utf-8")

        clock = FakeClock(START)
        end = days * DAY_S
        trouble: list[str] = []

        def idle_model(request: RecordedRequest) -> Reply:
            # An idle model: every tick ends in Sleep(max); a dream finds nothing to change.
            if "memory consolidation" in request.system_text:
                return tool_use("DreamDone", {"summary": "nothing new"})
            return tool_use("Sleep", {"seconds": SLEEP_REQUEST_S})

        with FakeAnthropic(clock=clock.monotonic, on_empty=idle_model) as fake:

            def on_event(event: Event) -> None:
                if event.kind == "state" and event.data.get("state") in ("error", "offline"):
                    trouble.append(f"{event.data['state']}: {event.data.get('detail', '')}")

            engine = Engine(home, clock=clock, notifier=ConsoleNotifier(io.StringIO()),
                            api_key="bench", base_url=fake.base_url)
            unsubscribe = engine.bus.subscribe(on_event)
            await engine.start(control_api=False)
            try:
                async with asyncio.timeout(REAL_TIME_LIMIT_S * days):
                    forever = await drive(engine, clock, end)
                totals = fake.totals  # exactly the calls made inside the window
                settings = engine.settings
                ledger = _ledger_rows(engine, days)
            finally:
                unsubscribe()
                await engine.stop()
    return IdleResult(days=days, settings=settings, totals=totals, ledger=ledger,
                      sleeps_forever=forever, trouble=trouble,
                      real_seconds=time.perf_counter() - began)


def _ms_words(ms: int) -> str:
    return "until something arrives" if ms == -1 else f"{ms:,} ms ({ms / 60_000:g} min)"


def report(result: IdleResult) -> str:
    t, d = result.totals, result.per_day
    s = result.settings
    lines = [
        f"kairos idle-cost bench: {result.days} simulated idle day(s) from "
        f"{START.isoformat()}, model {s.model}",
        f"  sleep bounds: min {_ms_words(s.min_sleep_duration_ms)}, "
        f"max {_ms_words(s.max_sleep_duration_ms)}; the fake model always asks for "
        f"{SLEEP_REQUEST_S:,.0f} s",
        "  tokens are FakeAnthropic's estimate (characters / 4), cache per the real rules",
        "",
        f"{'per day' if result.days == 1 else f'per day (average of {result.days} days)'}:",
        f"  model calls                 {d(t.requests):>12,.1f}",
        f"  input tokens (total prompt) {d(t.total_input_tokens):>12,.0f}",
        f"    cache read                {d(t.cache_read_input_tokens):>12,.0f}",
        f"    cache write               {d(t.cache_creation_input_tokens):>12,.0f}",
        f"    uncached input            {d(t.input_tokens):>12,.0f}",
        f"  share of input from cache   {100 * result.cache_share:>12.1f} %",
        f"  output tokens               {d(t.output_tokens):>12,.0f}",
        f"  estimated cost              {'$':>5}{d(result.cost_usd):.4f}  (engine.usage.day)",
    ]
    if result.days > 1:
        lines.append("")
        lines.append("  date         calls    cache read   cache write   uncached    cost USD")
        for row in result.ledger:
            lines.append(f"  {row.day}  {row.calls:>5}  {row.cache_read:>12,}  "
                         f"{row.cache_write:>12,}  {row.input:>9,}  {row.cost_usd:>10.4f}")
    lines.append("")
    lines.append(f"OpenClaw default heartbeat: {OPENCLAW_CALLS_PER_DAY} full-context calls/day")
    if result.sleeps_forever:
        lines.append("note: maxSleepDurationMs is -1, so the idle engine slept until the end "
                     "of the window after its first call")
    mismatch = result.ledger_mismatch()
    if mismatch:
        lines.append(f"WARNING: the engine's usage ledger disagrees with the server: {mismatch}")
    for problem in dict.fromkeys(result.trouble):
        lines.append(f"WARNING: the engine reported {problem}")
    verdict = "PASS" if result.calls_ok and result.cache_ok else "FAIL"
    lines.append(
        f"{verdict}: {d(t.requests):.1f} calls/day "
        f"({'<=' if result.calls_ok else '>'} {TARGET_MAX_CALLS_PER_DAY}), "
        f"{100 * result.cache_share:.1f} % of input tokens from cache "
        f"(target {100 * TARGET_MIN_CACHE_SHARE:.0f} %, or at most "
        f"{TARGET_MAX_INPUT_PER_DAY:,} input tokens a day: "
        f"{d(t.total_input_tokens):,.0f})")
    lines.append(f"(simulated {result.days} day(s) in {result.real_seconds:.2f} s of real time)")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.idle_cost",
        description="Simulate idle days of the heartbeat loop on a fake clock and print what "
                    "they cost.")
    parser.add_argument("--days", type=int, default=1, help="days to simulate (default 1); "
                        "figures are per-day averages")
    parser.add_argument("--max-sleep-ms", type=int, default=None,
                        help="override maxSleepDurationMs (default: the setting's default)")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when a target is missed (default: always exit 0)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.days < 1:
        print("idle_cost: --days must be at least 1", file=sys.stderr)
        return 2
    if args.max_sleep_ms is not None:
        try:
            Settings(max_sleep_duration_ms=args.max_sleep_ms)
        except ValidationError as exc:
            reason = exc.errors()[0]["msg"]
            print(f"idle_cost: invalid --max-sleep-ms {args.max_sleep_ms}: {reason}",
                  file=sys.stderr)
            return 2
    result = asyncio.run(simulate(args.days, args.max_sleep_ms))
    print(report(result), flush=True)
    if args.check and not (result.calls_ok and result.cache_ok):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
