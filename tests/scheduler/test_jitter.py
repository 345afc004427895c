"""Jitter: deterministic per task id and inside its bounds."""

from __future__ import annotations

import random
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from kairos_desktop.scheduler.rules import due_time, jitter_seconds

PARIS = ZoneInfo("Europe/Paris")
ANCHOR = datetime(2026, 11, 22, 7, 0, tzinfo=PARIS)


def test_the_same_id_always_gets_the_same_jitter() -> None:
    first = due_time("abc123", "0 9 * * *", recurring=True, anchor=ANCHOR)
    assert due_time("abc123", "0 9 * * *", recurring=True, anchor=ANCHOR) == first
    assert due_time("other", "0 9 * * *", recurring=True, anchor=ANCHOR) != first


def test_recurring_jitter_is_late_within_ten_percent_and_fifteen_minutes() -> None:
    rng = random.Random(7)
    hourly, daily = [], []
    for _ in range(10_000):
        task_id = uuid.UUID(int=rng.getrandbits(128)).hex[:8]
        hourly.append(jitter_seconds(task_id, recurring=True, slot=ANCHOR, period=3600))
        daily.append(jitter_seconds(task_id, recurring=True, slot=ANCHOR, period=86_400))
    assert min(hourly) >= 0 and max(hourly) < 360  # 10 % of an hour
    assert min(daily) >= 0 and max(daily) < 900  # capped at 15 minutes
    assert max(hourly) > 340 and max(daily) > 880  # and the range is really used
    assert len({round(j) for j in daily}) > 800  # spread, not clumped on one second


def test_one_shot_jitter_is_early_on_the_hour_and_half_hour_only() -> None:
    rng = random.Random(11)
    on_hour = ANCHOR.replace(hour=14, minute=0)
    on_half = ANCHOR.replace(hour=14, minute=30)
    odd = ANCHOR.replace(hour=14, minute=20)
    for _ in range(10_000):
        task_id = uuid.UUID(int=rng.getrandbits(128)).hex[:8]
        for slot in (on_hour, on_half):
            assert -90 < jitter_seconds(task_id, recurring=False, slot=slot, period=None) <= 0
        assert jitter_seconds(task_id, recurring=False, slot=odd, period=None) == 0


def test_due_time_never_lands_before_the_anchor() -> None:
    anchor = datetime(2026, 11, 22, 13, 59, 50, tzinfo=PARIS)
    slot, due = due_time("early-bird", "0 14 22 11 *", recurring=False, anchor=anchor)
    assert slot.isoformat() == "2026-11-22T14:00:00+01:00"
    assert anchor <= due <= slot
