"""The scheduling rules as pure functions: validation, next fire time, jitter, expiry.

Cron expressions are read in the user's local zone. Matching runs on naive wall-clock times and
each match is then placed on the real time line, so that across DST:
- a wall time that does not exist (spring forward) fires at the first valid minute after it;
- a wall time that happens twice (fall back) fires once, at its first occurrence;
- a daily task fires exactly once on both transition days.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, tzinfo

from croniter import croniter
from croniter.croniter import CroniterBadCronError, CroniterBadDateError, CroniterError

from ..clock import seconds_between
from ..errors import InvalidCronError

MAX_RECURRING_JITTER_S = 15 * 60.0
RECURRING_JITTER_SHARE = 0.10
ONE_SHOT_EARLY_S = 90.0
FIELDS = "minute hour day-of-month month day-of-week"


def validate_cron(expr: str) -> str:
    """The expression, normalised to single spaces; InvalidCronError says what is wrong."""
    text = " ".join(str(expr).split())
    parts = text.split(" ") if text else []
    if len(parts) != 5:
        raise InvalidCronError(
            f"{expr!r} has {len(parts)} field(s); a cron expression has exactly 5: {FIELDS} "
            "(e.g. '57 8 * * 1-5' for weekdays at 8:57)")
    try:
        croniter(text)
    except (CroniterBadCronError, ValueError):
        raise InvalidCronError(f"{expr!r} is not a valid cron expression: "
                               f"{_bad_field(parts)}") from None
    if not croniter.is_valid(text, strict=True):
        raise InvalidCronError(
            f"{expr!r} can never fire: no month has that day (e.g. 31 in February)")
    try:
        croniter(text, datetime(2000, 1, 1), max_years_between_matches=50).get_next(datetime)
    except (CroniterBadDateError, CroniterError):
        raise InvalidCronError(f"{expr!r} can never fire") from None
    return text


_FIELD_WORDS = (("minute", "0-59"), ("hour", "0-23"), ("day of the month", "1-31"),
                ("month", "1-12 or jan-dec"),
                ("day of the week", "0-7 or sun-sat (0 and 7 are Sunday)"))


def _bad_field(parts: list[str]) -> str:
    """Which of the five fields croniter refuses, in words (each tried alone)."""
    for index, (name, allowed) in enumerate(_FIELD_WORDS):
        alone = ["*"] * 5
        alone[index] = parts[index]
        try:
            croniter(" ".join(alone))
        except (CroniterBadCronError, ValueError):
            return (f"the {name} field ({parts[index]!r}) takes {allowed}, with '*', lists "
                    "(1,15), ranges (1-5) and steps (*/10)")
    return f"the fields together are refused; they are, in order: {FIELDS}"


def _place(wall: datetime, tz: tzinfo) -> datetime:
    """A naive wall time in `tz` on the real time line: first occurrence when it is ambiguous,
    the next valid minute when it does not exist."""
    for minutes in range(0, 181):
        candidate = (wall + timedelta(minutes=minutes)).replace(tzinfo=tz, fold=0)
        round_trip = candidate.astimezone(UTC).astimezone(tz)
        if round_trip.replace(tzinfo=None) == candidate.replace(tzinfo=None):
            return round_trip
    raise InvalidCronError(f"cannot place {wall} in {tz}")  # pragma: no cover - no such zone


def next_fires(expr: str, after: datetime, count: int) -> list[datetime]:
    """The first `count` distinct times strictly after `after` (aware) that `expr` matches, in
    after's zone. One croniter serves them all (building one is the expensive part)."""
    tz = after.tzinfo
    if tz is None:
        raise ValueError("next_fire needs an aware datetime")
    wall = after.replace(tzinfo=None)
    # Start a little early: a match in the repeated hour of a fall-back may lie "before" the
    # anchor in wall-clock terms and still be after it in real time.
    it = croniter(expr, wall - timedelta(hours=3), max_years_between_matches=50)
    found: list[datetime] = []
    while len(found) < count:
        candidate = _place(it.get_next(datetime), tz)
        if candidate > (found[-1] if found else after):
            found.append(candidate)
    return found


def next_fire(expr: str, after: datetime) -> datetime:
    """The first time strictly after `after` (aware) that `expr` matches, in after's zone."""
    return next_fires(expr, after, 1)[0]


def _fraction(task_id: str) -> float:
    """A number in [0, 1) fixed for a task id: the same task jitters the same way every run."""
    digest = hashlib.sha256(task_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def jitter_seconds(task_id: str, *, recurring: bool, slot: datetime, period: float | None) -> float:
    """Signed offset from the slot: recurring tasks fire late by up to 10 % of their period
    (at most 15 min); one-shot tasks on :00 or :30 fire early by up to 90 s; others on time."""
    fraction = _fraction(task_id)
    if recurring:
        span = min(RECURRING_JITTER_SHARE * (period or 0.0), MAX_RECURRING_JITTER_S)
        return fraction * span
    if slot.minute in (0, 30):
        return -fraction * ONE_SHOT_EARLY_S
    return 0.0


def due_time(task_id: str, expr: str, *, recurring: bool, anchor: datetime
             ) -> tuple[datetime, datetime]:
    """(slot, due) for the first slot after `anchor`: due = slot + jitter, never before anchor."""
    if recurring:
        slot, following = next_fires(expr, anchor, 2)
        period: float | None = seconds_between(slot, following)
    else:
        slot, period = next_fire(expr, anchor), None
    offset = jitter_seconds(task_id, recurring=recurring, slot=slot, period=period)
    due = (slot.astimezone(UTC) + timedelta(seconds=offset)).astimezone(slot.tzinfo)
    return slot, max(due, anchor)


def expires_at(created_at: datetime, max_age_ms: int) -> datetime:
    return (created_at.astimezone(UTC) + timedelta(milliseconds=max_age_ms)).astimezone(
        created_at.tzinfo)


def missed_slots(expr: str, since: datetime, until: datetime, limit: int = 1000) -> int:
    """How many slots fell in (since, until] (capped at `limit`)."""
    count = 0
    moment = since
    while count < limit:
        moment = next_fire(expr, moment)
        if moment > until:
            break
        count += 1
    return count
