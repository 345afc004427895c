"""A cron expression in words, for people who do not read cron ("At 09:00, Monday to Friday").

Pure and total over what `validate_cron` accepts: common shapes get a natural sentence, anything
else a field-by-field one that is still exact. Names (JAN, MON) are accepted as croniter does.
"""

from __future__ import annotations

from .rules import validate_cron

DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["", "January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
DAY_NAMES = {d[:3].lower(): i for i, d in enumerate(DAYS[:7])}
MONTH_NAMES = {m[:3].lower(): i for i, m in enumerate(MONTHS) if m}


def describe_cron(expr: str) -> str:
    minute, hour, dom, month, dow = validate_cron(expr).split(" ")
    when = _time_part(minute, hour)
    parts = [when]
    if dom != "*":
        parts.append(f"on day {_list(dom, str)} of the month")
    if month != "*":
        parts.append(f"in {_list(month, _month_name)}")
    if dow != "*":
        parts.append(_dow_phrase(dow))
    elif dom == "*" and month == "*" and when.startswith("At "):
        parts.append("every day")
    text = parts[0] + ("" if len(parts) == 1 else ", " + ", ".join(parts[1:]))
    if dom != "*" and dow != "*":
        text += " (either condition fires it)"  # cron ORs day-of-month and day-of-week
    return text


def _time_part(minute: str, hour: str) -> str:
    if minute.isdigit() and hour.isdigit():
        return f"At {int(hour):02d}:{int(minute):02d}"
    if minute.isdigit() and _is_list_of_numbers(hour):
        return "At " + _join([f"{int(h):02d}:{int(minute):02d}" for h in hour.split(",")])
    if minute == "*" and hour == "*":
        return "Every minute"
    if minute.startswith("*/") and hour == "*":
        return f"Every {minute[2:]} minutes"
    if minute.isdigit() and hour == "*":
        return f"Every hour at minute {int(minute)}"
    if minute.isdigit() and hour.startswith("*/"):
        return f"Every {hour[2:]} hours at minute {int(minute)}"
    if minute.startswith("*/") and "-" in hour and _is_list_of_numbers(hour.replace("-", ",")):
        low, high = hour.split("-", 1)
        return f"Every {minute[2:]} minutes from {int(low):02d}:00 to {int(high):02d}:59"
    minutes = "every minute" if minute == "*" else f"at minute {_list(minute, str)}"
    hours = "of every hour" if hour == "*" else f"past hour {_list(hour, str)}"
    return f"{minutes.capitalize()} {hours}"


def _dow_phrase(dow: str) -> str:
    if dow.lower() in ("1-5", "mon-fri"):
        return "Monday to Friday"
    if dow.lower() in ("0,6", "6,0", "sat,sun", "sun,sat"):
        return "on weekends"
    return f"on {_list(dow, _day_name)}"


def _list(field: str, name: object) -> str:
    """'1,3-5,*/2' -> '1, 3 to 5 and every 2nd', with names where `name` gives them."""
    namer = name if callable(name) else str
    items = []
    for piece in field.split(","):
        step = ""
        if "/" in piece:
            piece, every = piece.split("/", 1)
            step = f"every {_ordinal(int(every))}"
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
    index = DAY_NAMES.get(value.lower()[:3]) if not value.isdigit() else int(value)
    return DAYS[index] if index is not None and 0 <= index <= 7 else value


def _month_name(value: str) -> str:
    index = MONTH_NAMES.get(value.lower()[:3]) if not value.isdigit() else int(value)
    return MONTHS[index] if index and 1 <= index <= 12 else value


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _is_list_of_numbers(field: str) -> bool:
    return all(part.isdigit() for part in field.split(","))


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
