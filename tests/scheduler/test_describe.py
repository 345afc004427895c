"""Cron expressions in words, as the panel's task form shows them."""

from __future__ import annotations

import itertools

import pytest

from kairos_desktop.errors import InvalidCronError
from kairos_desktop.scheduler.describe import describe_cron
from kairos_desktop.scheduler.rules import validate_cron


@pytest.mark.parametrize(("expr", "words"), [
    ("0 9 * * 1-5", "At 09:00, Monday to Friday"),
    ("57 8 * * *", "At 08:57, every day"),
    ("*/15 * * * *", "Every 15 minutes"),
    ("* * * * *", "Every minute"),
    ("5 * * * *", "Every hour at minute 5"),
    ("0 */2 * * *", "Every 2 hours at minute 0"),
    ("0 9,13,18 * * *", "At 09:00, 13:00 and 18:00, every day"),
    ("0 10 * * 0,6", "At 10:00, on weekends"),
    ("15 14 * * mon,wed", "At 14:15, on Monday and Wednesday"),
    ("0 9 1 1 *", "At 09:00, on day 1 of the month, in January"),
    ("*/5 9-17 * * 1-5", "Every 5 minutes from 09:00 to 17:59, Monday to Friday"),
    ("0 0 13 * 5", "At 00:00, on day 13 of the month, on Friday (either condition fires it)"),
    ("0 9 L * *", "At 09:00, on the last day of the month"),
    ("0 0 ? * *", "At 00:00, every day"),
    ("0 9 * * 1#2", "At 09:00, on the 2nd Monday of the month"),
    ("0 12 1W * *", "At 12:00, on the weekday nearest day 1 of the month"),
    ("0 9 * * 0-7", "At 09:00, every day"),
    ("0 0 * * */2", "At 00:00, on Sunday, Tuesday, Thursday and Saturday"),
    ("*/1 * * * *", "Every minute"),
    ("*/15 9-17,20 * * *", "Every 15 minutes, during hours 9 to 17 and 20"),
    ("0 8-18/2 * * *", "At minute 0, every 2nd hour from 8 to 18"),
    ("0 9 */2 * *", "At 09:00, on every 2nd day of the month"),
    ("0 9 * jan-mar *", "At 09:00, in January to March"),
])
def test_common_shapes_read_as_a_sentence(expr: str, words: str) -> None:
    assert describe_cron(expr) == words


def test_an_invalid_expression_gets_the_validators_message() -> None:
    with pytest.raises(InvalidCronError, match="exactly 5"):
        describe_cron("0 9 * *")


def test_every_valid_expression_reads_as_something() -> None:
    fields = [["*", "0", "*/7", "10-50/5"], ["*", "9", "*/3", "9-17,20"],
              ["*", "L", "15W", "1-7/2"], ["*", "jan-mar", "*/4"],
              ["*", "1-5", "2#1", "L5", "*/2"]]
    described = 0
    for combo in itertools.product(*fields):
        try:
            validate_cron(" ".join(combo))
        except InvalidCronError:
            continue  # croniter refuses some mixes (e.g. L5 with a day list): not ours
        words = describe_cron(" ".join(combo))
        assert words and not words.startswith("cron "), combo
        described += 1
    assert described > 500
