"""Notification policy: fewer, better-timed interruptions.

Wraps any Notifier backend. Quiet hours hold non-urgent notifications and deliver one summary
when they end; a burst (more than notifyBurstLimit within notifyBurstWindowMinutes) collapses
into one summary at the end of the window. Urgent ones (PushNotification) always go through.
Nothing is dropped: every held notification is counted in its summary, and the messages and
files behind them stay unread in the store either way. Nothing is held silently either:
`held_info()` says how many wait, why and until when (the daily log, the tray's tooltip and
`kairos status` show it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any

from ..clock import Clock, seconds_between
from ..settings import Settings
from .notifier import Notification, Notifier

log = logging.getLogger(__name__)


def parse_hhmm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def in_quiet_hours(now: datetime, start: time, end: time) -> bool:
    moment = now.time().replace(second=0, microsecond=0, tzinfo=None)
    if start <= end:
        return start <= moment < end
    return moment >= start or moment < end  # spans midnight


def quiet_hours_end(now: datetime, end: time) -> datetime:
    """The next time the wall clock reads `end` (today or tomorrow), in now's zone."""
    candidate = datetime.combine(now.date(), end, tzinfo=now.tzinfo)
    if candidate <= now:
        candidate = datetime.combine(now.date() + timedelta(days=1), end, tzinfo=now.tzinfo)
    return candidate


class NotificationPolicy(Notifier):
    def __init__(self, backend: Notifier, *, clock: Clock,
                 settings: Callable[[], Settings]) -> None:
        self.backend = backend
        self._clock = clock
        self._settings = settings
        self._shown: list[float] = []  # monotonic times of recent non-urgent notifications
        self._quiet_held: list[Notification] = []
        self._burst_held: list[Notification] = []
        self._flushers: dict[str, asyncio.Task[None]] = {}
        self._due: dict[str, datetime] = {}  # wall time each held group is shown
        self._closed = asyncio.Event()

    async def notify(self, notification: Notification) -> bool:
        settings = self._settings()
        now = self._clock.now()
        if not notification.urgent and settings.quiet_hours is not None:
            start = parse_hhmm(settings.quiet_hours.start)
            end = parse_hhmm(settings.quiet_hours.end)
            if in_quiet_hours(now, start, end):
                self._quiet_held.append(notification)
                self._flush_later("quiet", seconds_between(now, quiet_hours_end(now, end)))
                return True
        if not notification.urgent:
            window = settings.notify_burst_window_minutes * 60
            mono = self._clock.monotonic()
            self._shown = [t for t in self._shown if mono - t < window]
            if len(self._shown) >= settings.notify_burst_limit or self._burst_held:
                self._burst_held.append(notification)
                self._flush_later("burst", window - (mono - self._shown[0]) if self._shown
                                  else window)
                return True
            self._shown.append(mono)
        return await self.backend.notify(notification)

    def _flush_later(self, which: str, seconds: float) -> None:
        if which in self._flushers and not self._flushers[which].done():
            return
        loop = asyncio.get_running_loop()
        deadline = self._clock.monotonic() + max(seconds, 0.0)
        self._due[which] = self._clock.now() + timedelta(seconds=max(seconds, 0.0))
        self._flushers[which] = loop.create_task(self._flush(which, deadline))

    async def _flush(self, which: str, deadline: float) -> None:
        # The deadline is fixed when the first item is held, not when this task first runs.
        await self._clock.wait(self._closed, max(deadline - self._clock.monotonic(), 0.0))
        held = self._quiet_held if which == "quiet" else self._burst_held
        if not held:
            return
        items = list(held)
        held.clear()
        if which == "burst":
            self._shown = [self._clock.monotonic()]
        name = self._settings().assistant_name
        if len(items) == 1:
            summary = items[0]
        else:
            why = "while you were in quiet hours" if which == "quiet" else "in the last minutes"
            lines = [f"- {n.title}: {n.body[:80]}" for n in items[:5]]
            if len(items) > 5:
                lines.append(f"... and {len(items) - 5} more")
            summary = Notification(f"{name}: {len(items)} updates {why}", "\n".join(lines),
                                   kind="summary")
        try:
            await self.backend.notify(summary)
        except Exception:  # the store still holds every item; the summary is a courtesy
            log.exception("summary notification failed")

    @property
    def held(self) -> int:
        return len(self._quiet_held) + len(self._burst_held)

    def held_info(self) -> dict[str, Any] | None:
        """What waits, for the user: how many, why (in words) and until when (ISO)."""
        groups = [(which, items) for which, items in (("quiet", self._quiet_held),
                                                      ("burst", self._burst_held)) if items]
        if not groups:
            return None
        settings = self._settings()
        why = {"quiet": "quiet hours (quietHours)",
               "burst": f"more than {settings.notify_burst_limit} in "
                        f"{settings.notify_burst_window_minutes:g} min (notifyBurstLimit)"}
        until = min(self._due[which] for which, _ in groups if which in self._due)
        return {"count": sum(len(items) for _, items in groups),
                "reason": " and ".join(why[which] for which, _ in groups),
                "until": until.isoformat(timespec="seconds")}

    async def close(self) -> None:
        self._closed.set()
        for task in self._flushers.values():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.backend.close()
