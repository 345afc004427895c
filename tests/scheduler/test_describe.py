"""Cron expressions in words, as the panel's task form shows them."""

from __future__ import annotations

import pytest

from kairos_desktop.errors import InvalidCronError
from kairos_desktop.scheduler.describe import describe_cron


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
])
def test_common_shapes_read_as_a_sentence(expr: str, words: str) -> None:
    assert describe_cron(expr) == words


def test_an_invalid_expression_gets_the_validators_message() -> None:
    with pytest.raises(InvalidCronError, match="exactly 5"):
        describe_cron("0 9 * *")
