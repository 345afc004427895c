"""Next fire times: local zone, DST-correct, never twice for one wall-clock slot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kairos_desktop.errors import InvalidCronError
from kairos_desktop.scheduler.rules import missed_slots, next_fire, validate_cron

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def fires(expr: str, start: datetime, days: int) -> list[datetime]:
    out, moment, end = [], start, start + timedelta(days=days)
    while (moment := next_fire(expr, moment)) < end:
        out.append(moment)
    return out


def test_a_daily_task_fires_once_on_the_spring_forward_day_at_the_next_valid_minute() -> None:
    times = fires("30 2 * * *", datetime(2026, 3, 28, 12, 0, tzinfo=PARIS), 3)
    assert [t.isoformat() for t in times] == [
        "2026-03-29T03:00:00+02:00",  # 02:30 does not exist that night
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
    ]


def test_a_daily_task_fires_once_on_the_fall_back_day() -> None:
    times = fires("30 2 * * *", datetime(2026, 10, 24, 12, 0, tzinfo=PARIS), 3)
    assert [t.isoformat() for t in times] == [
        "2026-10-25T02:30:00+02:00",  # the first of the two 02:30s
        "2026-10-26T02:30:00+01:00",
        "2026-10-27T02:30:00+01:00",
    ]


def test_an_hourly_task_never_fires_twice_in_the_repeated_hour() -> None:
    times = fires("15 * * * *", datetime(2026, 11, 1, 0, 0, tzinfo=NEW_YORK), 1)
    walls = [t.strftime("%H:%M") for t in times]
    assert walls.count("01:15") == 1
    assert len(times) == len(set(t.astimezone(UTC) for t in times)) == 24


def test_a_weekday_task_skips_the_weekend_in_local_time() -> None:
    friday_evening = datetime(2026, 11, 20, 18, 0, tzinfo=PARIS)
    assert next_fire("57 8 * * 1-5", friday_evening).isoformat() == "2026-11-23T08:57:00+01:00"


def test_next_fire_is_strictly_after_the_anchor() -> None:
    at_slot = datetime(2026, 11, 22, 9, 3, tzinfo=PARIS)
    assert next_fire("3 9 * * *", at_slot).isoformat() == "2026-11-23T09:03:00+01:00"


@pytest.mark.parametrize(("expr", "message"), [
    ("61 * * * *", "is not a valid cron expression"),
    ("0 0 31 2 *", "can never fire"),
    ("0 0 30 2 *", "can never fire"),
    ("0 9 * * * *", "has 6 field(s); a cron expression has exactly 5"),
    ("every day", "has 2 field(s)"),
    ("", "has 0 field(s)"),
])
def test_invalid_expressions_are_refused_with_the_reason(expr: str, message: str) -> None:
    with pytest.raises(InvalidCronError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate_cron(expr)


def test_valid_expressions_are_normalised() -> None:
    assert validate_cron("  57  8 * *   1-5 ") == "57 8 * * 1-5"


def test_missed_slots_counts_what_a_sleeping_laptop_skipped() -> None:
    start = datetime(2026, 11, 20, 10, 0, tzinfo=PARIS)
    assert missed_slots("3 9 * * *", start, start + timedelta(days=3)) == 3
