"""Helpers the benchmarks share: timing and cProfile tables."""

from __future__ import annotations

import cProfile
import math
import pstats
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent


def elapsed_ms(fn: Callable[[], object]) -> float:
    began = time.perf_counter()
    fn()
    return (time.perf_counter() - began) * 1000


def profile_rows(profile: cProfile.Profile, per: int, rows: int = 8,
                 calls_width: int = 9) -> list[str]:
    """The functions with the most own time, per operation (`per` operations profiled)."""
    stats: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    ranked = sorted(stats.items(), key=lambda kv: kv[1][2], reverse=True)[:rows]
    out = []
    for (file, line, name), (_, ncalls, tottime, cumtime, _) in ranked:
        where = re.sub(r".*/lib/python3\.\d+/(site-packages/)?", "", file)
        if file.startswith(str(REPO_ROOT)):
            where = file[len(str(REPO_ROOT)) + 1:]
        label = f"{where}:{line}({name})" if file != "~" else name
        out.append(f"    {1000 * tottime / per:9.2f} ms own {1000 * cumtime / per:9.2f} ms cum "
                   f"{ncalls / per:>{calls_width},.0f} calls  {label}")
    return out


def percentile(samples: list[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default method); NaN when empty."""
    data = sorted(samples)
    if not data:
        return math.nan
    rank = (len(data) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return data[low] + (data[high] - data[low]) * (rank - low)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def unwind_on_sigterm() -> None:
    """SIGTERM (a CI timeout) unwinds like Ctrl+C, so a bench's child processes are still
    stopped by its finally blocks."""
    signal.signal(signal.SIGTERM, _terminate)
