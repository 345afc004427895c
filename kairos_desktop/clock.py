"""The one place that reads time and waits for it.

Scheduling code never calls datetime.now() or asyncio.sleep(): it asks a Clock. Production uses
SystemClock; tests and benchmarks use FakeClock, which runs days of ticks in milliseconds and lets
them move the wall clock independently of monotonic time (a laptop waking from sleep).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import os
import time
from abc import ABC, abstractmethod
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def add_seconds(moment: datetime, seconds: float) -> datetime:
    """`moment` plus elapsed seconds, in moment's zone. Plain `+ timedelta` on a ZoneInfo time
    adds wall-clock time and is an hour off across a DST change."""
    return (moment.astimezone(UTC) + timedelta(seconds=seconds)).astimezone(moment.tzinfo)


def seconds_between(earlier: datetime, later: datetime) -> float:
    """Elapsed seconds between two aware times (correct across DST changes)."""
    return (later.astimezone(UTC) - earlier.astimezone(UTC)).total_seconds()


def local_zone(name: str | None = None) -> tzinfo:
    """The user's time zone with its DST rules: `name` (an IANA name such as "Europe/Paris"),
    else $TZ, else the zone /etc/localtime points at; a fixed offset only as a last resort (it
    knows no DST, so cron times would drift by an hour twice a year)."""
    candidates = [name, os.environ.get("TZ", "").lstrip(":") or None]
    with contextlib.suppress(OSError):
        target = os.path.realpath("/etc/localtime")
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text(encoding="utf-8").strip() or None)
    for candidate in candidates:
        if not candidate:
            continue
        try:
            return ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    fixed = datetime.now().astimezone().tzinfo
    assert fixed is not None
    return fixed


def zone_name(tz: tzinfo) -> str:
    return getattr(tz, "key", None) or str(tz)


class Clock(ABC):
    """Wall time (aware, in the user's zone), monotonic time, and waiting on either an event or a
    deadline, whichever comes first."""

    @abstractmethod
    def now(self) -> datetime:
        """The current wall time, time-zone aware, in the user's local zone."""

    @abstractmethod
    def monotonic(self) -> float:
        """Seconds on a clock that never jumps; only differences mean anything."""

    @abstractmethod
    async def wait(self, event: asyncio.Event, timeout: float | None) -> bool:
        """Wait until `event` is set (returns True) or `timeout` seconds pass (returns False).

        timeout None waits for the event only; the event is never cleared here."""

    async def sleep(self, seconds: float) -> None:
        await self.wait(asyncio.Event(), seconds)


class SystemClock(Clock):
    def __init__(self, tz: tzinfo | None = None) -> None:
        self._tz = tz or local_zone()

    def now(self) -> datetime:
        return datetime.now(self._tz)

    def monotonic(self) -> float:
        return time.monotonic()

    async def wait(self, event: asyncio.Event, timeout: float | None) -> bool:
        if event.is_set():
            return True
        if timeout is not None and timeout <= 0:
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)
        return event.is_set()


class FakeClock(Clock):
    """A clock that moves only when told to (or, with auto_advance, jumps to the next deadline as
    soon as every task is waiting on it).

    Waiters are kept in a heap by deadline; advance() releases those whose deadline has come.
    """

    def __init__(self, start: datetime, *, auto_advance: bool = False) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs a time-zone aware start time")
        self._tz = start.tzinfo
        self._wall_utc = start.astimezone(UTC)  # kept in UTC: advancing is elapsed time
        self._mono = 0.0
        self.auto_advance = auto_advance
        self._seq = itertools.count()
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []

    def now(self) -> datetime:
        return self._wall_utc.astimezone(self._tz)

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        """Move wall and monotonic time forward together, releasing due waiters."""
        self._mono += seconds
        self._wall_utc += timedelta(seconds=seconds)
        self._release_due()

    def jump_wall(self, seconds: float) -> None:
        """Move only the wall clock (the machine slept, or the user changed the time)."""
        self._wall_utc += timedelta(seconds=seconds)

    def set_time(self, wall: datetime) -> None:
        """Advance both clocks so that the wall clock reads `wall`."""
        delta = seconds_between(self._wall_utc, wall)
        if delta < 0:
            raise ValueError("FakeClock.set_time cannot go backwards; use jump_wall")
        self.advance(delta)

    @property
    def deadlines(self) -> list[float]:
        """Monotonic deadlines of every task waiting on this clock, earliest first."""
        return sorted(d for d, _, fut in self._waiters if not fut.done())

    @property
    def next_deadline(self) -> float | None:
        live = [d for d, _, fut in self._waiters if not fut.done()]
        return min(live) if live else None

    def _release_due(self) -> None:
        while self._waiters and self._waiters[0][0] <= self._mono:
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_result(None)

    async def wait(self, event: asyncio.Event, timeout: float | None) -> bool:
        if event.is_set():
            return True
        if timeout is not None and timeout <= 0:
            return False
        loop = asyncio.get_running_loop()
        event_task = loop.create_task(event.wait())
        waiters: set[asyncio.Future[Any]] = {event_task}
        deadline_fut: asyncio.Future[None] | None = None
        if timeout is not None:
            deadline_fut = loop.create_future()
            heapq.heappush(self._waiters, (self._mono + timeout, next(self._seq), deadline_fut))
            waiters.add(deadline_fut)
            if self.auto_advance:
                loop.call_soon(self._auto_advance_if_idle, deadline_fut)
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            event_task.cancel()
            if deadline_fut is not None and not deadline_fut.done():
                deadline_fut.cancel()
        return event.is_set()

    def _auto_advance_if_idle(self, fut: asyncio.Future[None]) -> None:
        # Yield a few loop iterations first so that ready tasks (an arrival being queued) run before
        # time jumps; then jump straight to the earliest deadline.
        loop = asyncio.get_running_loop()
        if fut.done():
            return
        ready = getattr(loop, "_ready", ())
        if len(ready) > 0:
            loop.call_soon(self._auto_advance_if_idle, fut)
            return
        deadline = self.next_deadline
        if deadline is not None and deadline > self._mono:
            self.advance(deadline - self._mono)
        else:
            self._release_due()
