"""A cron expression in words, for people who do not read cron ("At 09:00, Monday to Friday").

Total over what `validate_cron` accepts: common shapes get a natural sentence; the rest a
field-by-field one that is still exact; croniter's extensions read as words too (L: last day,
W: nearest weekday, #: the nth weekday of the month, ?: any). A shape nobody thought of falls back
to quoting the expression rather than failing: the panel's task list must always render.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .rules import validate_cron

DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["", "January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
DAY_NAMES = {d[:3].lower(): i for i, d in enumerate(DAYS[:7])}
MONTH_NAMES = {m[:3].lower(): i for i, m in enumerate(MONTHS) if m}
NUMBER = re.compile(r"\d+")
RANGE = re.compile(r"(\d+)-(\d+)")


def describe_cron(expr: str) -> str:
    text = validate_cron(expr)
    try:
        return _describe(*text.replace("?", "*").split(" "))
    except (ValueError, IndexError, KeyError):
        return f"cron {text}"


def _describe(minute: str, hour: str, dom: str, month: str, dow: str) -> str:
    minute = "*" if minute == "*/1" else minute
    hour = "*" if hour == "*/1" else hour
    if dow.lower() in ("0-6", "0-7", "1-7", "sun-sat"):
        dow = "*"
    when = _time_part(minute, hour)
    parts = [when]
    if dom != "*":
        parts.append(_dom_phrase(dom))
    if month != "*":
        parts.append(f"in {_list(month, _month_name, 'month')}")
    if dow != "*":
        parts.append(_dow_phrase(dow))
    elif dom == "*" and month == "*" and re.match(r"At \d", when):
        parts.append("every day")
    text = parts[0] + ("" if len(parts) == 1 else ", " + ", ".join(parts[1:]))
    if dom != "*" and dow != "*":
        text += " (either condition fires it)"  # cron ORs day-of-month and day-of-week
    return text


def _time_part(minute: str, hour: str) -> str:
    if NUMBER.fullmatch(minute) and NUMBER.fullmatch(hour):
        return f"At {int(hour):02d}:{int(minute):02d}"
    if NUMBER.fullmatch(minute) and _numbers(hour):
        return "At " + _join([f"{int(h):02d}:{int(minute):02d}" for h in hour.split(",")])
    if minute == "*" and hour == "*":
        return "Every minute"
    if minute.startswith("*/") and hour == "*":
        return f"Every {minute[2:]} minutes"
    if NUMBER.fullmatch(minute) and hour == "*":
        return f"Every hour at minute {int(minute)}"
    if NUMBER.fullmatch(minute) and hour.startswith("*/"):
        return f"Every {hour[2:]} hours at minute {int(minute)}"
    span = RANGE.fullmatch(hour)
    if minute.startswith("*/") and span:
        return (f"Every {minute[2:]} minutes from {int(span[1]):02d}:00 "
                f"to {int(span[2]):02d}:59")
    if minute == "*":
        minutes = "Every minute"
    elif re.fullmatch(r"\*/\d+", minute):
        minutes = f"Every {minute[2:]} minutes"
    else:
        minutes = f"At minute {_list(minute, str, 'minute')}"
    if hour == "*":
        return minutes
    hours = _list(hour, str, "hour")
    if hours.startswith("every"):
        return f"{minutes}, {hours}"
    return f"{minutes}, during hour{'' if NUMBER.fullmatch(hour) else 's'} {hours}"


def _dom_phrase(dom: str) -> str:
    if dom.upper() == "L":
        return "on the last day of the month"
    nearest = re.fullmatch(r"(\d+)W", dom, re.IGNORECASE)
    if nearest:
        return f"on the weekday nearest day {int(nearest[1])} of the month"
    days = _list(dom, str, "day")
    return f"on {days} of the month" if days.startswith("every") else \
        f"on day {days} of the month"


def _dow_phrase(dow: str) -> str:
    if dow.lower() in ("1-5", "mon-fri"):
        return "Monday to Friday"
    if dow.lower() in ("0,6", "6,0", "sat,sun", "sun,sat"):
        return "on weekends"
    nth = re.fullmatch(r"(\w+)#(\d)", dow)
    if nth:
        return f"on the {_ordinal(int(nth[2]))} {_day_name(nth[1])} of the month"
    last = re.fullmatch(r"L(\w+)|(\w+)L", dow)
    if last:
        return f"on the last {_day_name(last[1] or last[2])} of the month"
    step = re.fullmatch(r"\*/(\d+)", dow)
    if step:
        return "on " + _join([DAYS[d] for d in range(0, 7, int(step[1]))])
    return f"on {_list(dow, _day_name, 'day')}"


def _list(field: str, namer: Callable[[str], str], unit: str) -> str:
    """'1,3-5,*/2' -> '1, 3 to 5 and every 2nd <unit>', with names where `namer` gives them."""
    items = []
    for piece in field.split(","):
        step = ""
        if "/" in piece:
            piece, every = piece.split("/", 1)
            step = f"every {_ordinal(int(every))} {unit}"
            if piece in ("*", ""):
                items.append(step)
                continue
        if "-" in piece:
            low, high = piece.split("-", 1)
            text = f"{namer(low)} to {namer(high)}"
        else:
            text = namer(piece)
        items.append(f"{step} from {text}" if step else text)
    return _join(items)


def _day_name(value: str) -> str:
    index = int(value) if value.isdigit() else DAY_NAMES[value.lower()[:3]]
    return DAYS[index]


def _month_name(value: str) -> str:
    index = int(value) if value.isdigit() else MONTH_NAMES[value.lower()[:3]]
    return MONTHS[index]


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _numbers(field: str) -> bool:
    return all(NUMBER.fullmatch(part) for part in field.split(","))


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
