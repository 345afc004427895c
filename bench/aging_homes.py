"""The aged homes that bench/aging.py measures: a new one, one a year old, one three years old.

Why: an always-on assistant lives for years, and whatever piles up in its home (the messages,
the daily logs, a conversation at its budget) must not make it dearer or slower. To measure
that, the bench needs those homes, built fast and the same way every time: from a fixed seed,
through the project's own classes, so every format is the real one (the transcript through
Transcript.append_turn, the logs through DailyLog.append with `at=`, hash chain and anchor
included, tasks through Scheduler.create, memory through MemoryFiles, usage rows through
UsageLedger.record).

What ages and what does not. The three homes share what is bounded by rule, each at its bound:
the default settings, 50 durable tasks (maxScheduledTasks), a full MEMORY.md (200 lines, just
under 25 KB), 30 topics, and a transcript at its token budget (contextBudgetTokens; turns as
the heartbeat loop stores them: the tick and what arrived, tool calls and results,
SendUserMessage, a Sleep), which a home in daily use reaches within days and compaction keeps
there. So a difference between the homes is age, never how full a bounded part is. What grows
with use is what differs:
  * day 0: no messages, no logs;
  * 1 year: 15,000 messages (outbox and user messages, about 40 a day), 365 daily logs of about
    40 entries a day, a usage row per day;
  * 3 years: the same with 45,000 messages and 1,095 daily logs.
Messages and usage rows are written the way store.json holds them today (the outbox's and
HomeApp.send's records), in ONE Store.transact: one file write instead of 45,000. A store that
later moves them elsewhere migrates them on its first start, which bench/aging.py runs once on
every copy before it times anything.

History ends at `end` (the bench's today, local midnight). No task falls due on the day before,
on `end`'s day or the day after, so the measured idle day stays idle and a real-time run today
sees no catch-up of the home's own tasks (the built-ins are seeded by the engine itself).

Built homes are cached under the temp folder, keyed by BUILDER_VERSION, the spec, `end` and a hash
of the source this builder writes through: a change to any of them builds afresh. Logs are built
on /dev/shm when there is one (an append renames the chain anchor; tmpfs renames are cheap) and
then copied into the cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from kairos_desktop.atomic import private_dir
from kairos_desktop.clock import FakeClock
from kairos_desktop.delivery.outbox import TABLE as OUTBOX_TABLE
from kairos_desktop.home import Home
from kairos_desktop.journal import DailyLog
from kairos_desktop.memory.files import INDEX_MAX_BYTES, INDEX_MAX_LINES, MemoryFiles
from kairos_desktop.model_types import Usage
from kairos_desktop.scheduler.runtime import Scheduler
from kairos_desktop.settings import Settings
from kairos_desktop.store import Store
from kairos_desktop.transcript import Transcript, Turn, new_session_id
from kairos_desktop.usage import UsageLedger
from kairos_desktop.views import USER_MESSAGES

BUILDER_VERSION = 1
SEED = 20_261_202
REPO_ROOT = Path(__file__).resolve().parent.parent
# What the builder writes through: a change here builds the cached homes afresh.
SOURCES = ("bench/aging_homes.py", "kairos_desktop/transcript.py", "kairos_desktop/journal.py",
           "kairos_desktop/store.py", "kairos_desktop/atomic.py", "kairos_desktop/home.py",
           "kairos_desktop/delivery/outbox.py", "kairos_desktop/views.py",
           "kairos_desktop/scheduler/runtime.py", "kairos_desktop/scheduler/task.py",
           "kairos_desktop/memory/files.py", "kairos_desktop/usage.py",
           "kairos_desktop/settings.py")
BOUNDED_TASKS = 50  # maxScheduledTasks' default
TOPICS = 30
OUTBOX_SHARE = 0.55  # of the messages: the assistant's; the rest are the user's
TRANSCRIPT_FILL = 0.97  # the conversation is built to between this share of its budget and all

# Words for the log search: each PLANTED word is written once, in one day's log, from the oldest
# day to the newest; COMMON ones are in the vocabulary (in many logs); NOWHERE ones in nothing.
PLANTED = ("Zanzibar", "Quokka", "Marrakesh", "Okapi", "Tbilisi", "Axolotl", "Reykjavik",
           "Pangolin")
COMMON = ("sleeping", "invoice", "Alice", "deploy", "report", "calendar", "quiet",
          "model call")
NOWHERE = ("xylophone", "kumquat", "zeppelin", "obsidian")

PEOPLE = ("Alice", "Bob", "Chloé", "Dmitri", "Emma", "Farid", "Grace", "Hugo", "Inès", "Jonas")
WORDS = ("the", "weekly", "report", "for", "team", "and", "send", "it", "to", "before", "lunch",
         "open", "pull", "requests", "on", "main", "repository", "invoice", "due", "this",
         "month", "water", "plants", "in", "office", "calendar", "conflicts", "with", "dentist",
         "backup", "status", "of", "laptop", "newsletter", "draft", "notes", "from", "meeting",
         "budget", "spreadsheet", "flight", "prices", "Lyon", "train", "tickets", "Monday",
         "Friday", "tomorrow", "deadline", "review", "slides", "client", "contract", "renewal",
         "tax", "return", "insurance", "car", "service", "groceries", "birthday", "gift",
         "release", "staging", "deploy", "failed", "tests", "green", "CI", "branch", "summary",
         "quarterly", "goals", "hiring", "interview", "candidate", "feedback", "a", "is", "was",
         "at", "by", "about", "after", "again", "still", "please", "check", "why", "bug",
         "login", "page", "customer", "ticket", "refund", "recipe", "dinner", "gym", "weather",
         "Paris", "rain", "holiday", "booking", "hotel", "receipt", "expense", "approved")
OPENERS = ("Can you", "Please", "Remind me to", "What was", "Did", "Find", "Look up",
           "Could you check", "Note that", "Tell me when", "Summarise", "Draft")
TOPIC_NAMES = ("work-projects", "people", "family", "health", "finances", "travel", "home",
               "car", "garden", "reading-list", "podcasts", "recipes", "fitness", "hiring",
               "client-acme", "client-globex", "release-process", "ci-notes", "laptop-setup",
               "insurance", "taxes", "subscriptions", "kids-school", "birthdays", "holidays",
               "newsletter", "side-project", "learning", "preferences", "meetings", "office",
               "suppliers", "events", "language-course")
EXTERNAL = (("channel", "slack:#team"), ("channel", "email:alice@example.com"),
            ("pr", "github:acme/app#{n}"), ("folder", "folder:Inbox/{w}.pdf"))
LOG_TOOLS = ("MemorySearch", "Read", "WebFetch", "Grep", "CronCreate", "Bash")


@dataclass(frozen=True)
class HomeSpec:
    """One home to build. `days` of history (0: a new home) and `messages` in all."""

    name: str
    days: int
    messages: int
    conversation: bool  # a transcript at its token budget
    tasks: int = BOUNDED_TASKS
    topics: int = TOPICS
    context_budget_tokens: int | None = None  # None: the setting's default

    @property
    def budget_tokens(self) -> int:
        return self.context_budget_tokens or Settings().context_budget_tokens


SPECS = (HomeSpec("day 0", 0, 0, conversation=True),
         HomeSpec("1 year", 365, 15_000, conversation=True),
         HomeSpec("3 years", 1095, 45_000, conversation=True))


def scaled(spec: HomeSpec, scale: float) -> HomeSpec:
    """The same home with `scale` times its history (at least a day when it has any)."""
    if scale == 1 or not spec.days:
        return spec
    days = max(1, round(spec.days * scale))
    return replace(spec, name=f"{days} days", days=days,
                   messages=max(2, round(spec.messages * scale)))


@dataclass
class BuiltHome:
    """A built home in the cache: `root` is the home folder; never measure it in place (copy)."""

    spec: HomeSpec
    root: Path
    end: datetime
    facts: dict[str, Any]
    build_s: float  # 0.0: taken from the cache
    planted: dict[str, str] = field(default_factory=dict)  # word -> the day (ISO) it is on


def history_end(zone: tzinfo, now: datetime | None = None) -> datetime:
    """Where the homes' history ends: today's local midnight."""
    local = (now or datetime.now(zone)).astimezone(zone)
    return datetime(local.year, local.month, local.day, tzinfo=zone)


# -- text ---------------------------------------------------------------------------------------


def _words(rng: random.Random, low: int, high: int, opener: str | None = None) -> str:
    target = rng.randint(low, high)
    words = [opener] if opener else []
    while len(" ".join(words)) < target:
        words.append(rng.choice(PEOPLE) if rng.random() < 0.06 else rng.choice(WORDS))
    return " ".join(words)[: max(target - 1, 1)].rstrip() + "."


def _text(rng: random.Random, low: int = 50, high: int = 400, opener: str | None = None,
          multiline: float = 0.15) -> str:
    """Plain text, sometimes a pasted list (continuation lines in a log)."""
    if rng.random() >= multiline:
        return _words(rng, low, high, opener)
    items = rng.randint(2, 5)
    per = max(15, rng.randint(low, high) // (items + 1))
    first = _words(rng, per, per + 20, opener)
    return "\n".join([first] + [f"- {_words(rng, per // 2, per)}" for _ in range(items)])


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(4 * digits):0{digits}x}"


def _at(day: date, seconds: float, zone: tzinfo) -> datetime:
    seconds = min(max(int(seconds), 0), 86_399)
    return datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(seconds=seconds)


# -- the daily logs -----------------------------------------------------------------------------


@dataclass
class Entry:
    at: datetime
    kind: str
    text: str
    external: str | None = None


def _tool_line(rng: random.Random, name: str) -> str:
    args = {"MemorySearch": {"query": f"{rng.choice(WORDS)} {rng.choice(WORDS)}"},
            "Read": {"path": f"~/Documents/{rng.choice(WORDS)}-{rng.randrange(99)}.md"},
            "WebFetch": {"url": f"https://example.com/{rng.choice(WORDS)}/{rng.randrange(9999)}"},
            "Grep": {"pattern": rng.choice(WORDS), "path": "~/Documents"},
            "CronCreate": {"cron": f"{rng.randrange(60)} {rng.randrange(7, 21)} * * 1-5",
                           "prompt": _words(rng, 30, 90)},
            "Bash": {"command": f"git -C ~/src/{rng.choice(WORDS)} log --oneline -5"}}[name]
    shown = json.dumps(args, ensure_ascii=False)
    return f"{shown} -> {_text(rng, 20, max(30, 380 - len(shown)), multiline=0.25)}"


def _burst(rng: random.Random, day: date, start_s: float, zone: tzinfo) -> list[Entry]:
    """One active turn as the engine logs it: what arrived, tool calls, a message, the tick."""
    out: list[Entry] = []
    t = start_s

    def add(kind: str, text: str, external: str | None = None) -> None:
        nonlocal t
        out.append(Entry(_at(day, t, zone), kind, text, external))
        t += rng.uniform(1, 20)

    trigger = rng.choices(("user", "cron", "external"), weights=(60, 20, 20))[0]
    if trigger == "user":
        add("user", _text(rng, opener=rng.choice(OPENERS)))
    elif trigger == "cron":
        add("cron", _words(rng, 50, 200, opener=rng.choice(("Check", "Remind", "Review"))))
    else:
        kind, source = rng.choice(EXTERNAL)
        add(kind, _text(rng, multiline=0.3),
            external=source.format(n=rng.randrange(1, 2000), w=rng.choice(WORDS)))
    calls = 1
    for _ in range(rng.choices((0, 1, 2, 3), weights=(35, 35, 20, 10))[0]):
        name = rng.choice(LOG_TOOLS)
        add(f"tool {name}", _tool_line(rng, name))
        calls += 1
    if rng.random() < 0.2:
        add("thought", _text(rng, multiline=0.05))
    if rng.random() < 0.85:
        add("message (normal)" if trigger == "user" else "message (proactive)", _text(rng))
    if rng.random() < 0.06:
        topic = rng.choice(TOPIC_NAMES)
        add("memory", f"topics/{topic}.md written ({rng.randrange(800, 8000):,} characters)")
    if trigger != "user" and rng.random() < 0.2:
        add("notification", f"Kairos: {_words(rng, 40, 120)}")
    if rng.random() < 0.02:
        add("error", f"model call failed (attempt 1): Connection error. ({_words(rng, 20, 60)})")
    add("tick", f"{calls} model call(s); sleeping {rng.choice((5, 15, 30, 55))} min")
    return out


def day_entries(rng: random.Random, day: date, zone: tzinfo,
                planted: tuple[str, ...] = ()) -> list[Entry]:
    """One day of an always-on assistant, in time order: about 26 quiet ticks (55-minute
    sleeps) and 3-5 active turns, about 40 entries in all."""
    entries: list[Entry] = []
    ticks = rng.randint(24, 28)
    step = 86_400 / ticks
    for i in range(ticks):
        entries.append(Entry(_at(day, i * step + rng.uniform(0, step * 0.5), zone), "tick",
                             f"quiet; sleeping {rng.choice((45, 50, 55, 55, 55))} min"))
    for _ in range(rng.randint(3, 5)):
        entries += _burst(rng, day, rng.uniform(7.5 * 3600, 23 * 3600), zone)
    if rng.random() < 0.3:
        entries.append(Entry(_at(day, rng.uniform(3 * 3600, 4 * 3600), zone), "dream",
                             f"nightly trigger: {rng.randint(2, 9)} active session-day(s) "
                             "since the last consolidation"))
    for n, word in enumerate(planted):
        entries.append(Entry(_at(day, 10 * 3600 + 7 + n, zone), "user",
                             f"Note that my {word} reference is Z-{rng.randrange(10**8):08d}, "
                             "keep it for the paperwork."))
    entries.sort(key=lambda e: e.at)
    return entries


def planted_days(days: int, end: date) -> dict[str, date]:
    """Which day's log holds each PLANTED word: spread from the oldest day to the newest."""
    if not days:
        return {}
    first = end - timedelta(days=days)
    last = len(PLANTED) - 1
    return {word: first + timedelta(days=(i * (days - 1)) // last)
            for i, word in enumerate(PLANTED)}


def write_logs(log: DailyLog, rng: random.Random, days: int, end: date, zone: tzinfo, *,
               park: bool = True) -> int:
    """`days` daily logs, the last for the day before `end`; returns the number of entries.

    A day's first append lists every log (to find the day before), so a straight build of three
    years is quadratic. Months older than the one before the day being written are parked
    outside logs/ meanwhile, and put back at the end: the chain only ever reads the day before
    and the anchored last 31 days, so the files come out byte for byte the same (the tests
    check it)."""
    where = planted_days(days, end)
    parked = log.logs_dir.parent / ".aging-parked-logs"
    count = 0
    try:
        for offset in range(days, 0, -1):
            day = end - timedelta(days=offset)
            if park and day.day == 1:
                _park_months_before(log.logs_dir, parked, day)
            words = tuple(w for w, d in where.items() if d == day)
            for entry in day_entries(rng, day, zone, words):
                log.append(entry.kind, entry.text, external_source=entry.external, at=entry.at)
                count += 1
    finally:
        _unpark(log.logs_dir, parked)
    return count


def _park_months_before(logs_dir: Path, parked: Path, day: date) -> None:
    """Move logs/YYYY/MM of every month before the month before `day` to `parked`."""
    keep = (day.replace(day=1) - timedelta(days=1)).strftime("%Y/%m")
    for month in sorted(logs_dir.glob("[0-9][0-9][0-9][0-9]/[0-9][0-9]")):
        name = f"{month.parent.name}/{month.name}"
        if name < keep:
            target = parked / name
            private_dir(target.parent)
            month.rename(target)


def _unpark(logs_dir: Path, parked: Path) -> None:
    if not parked.exists():
        return
    for month in sorted(parked.glob("*/*")):
        target = logs_dir / month.parent.name / month.name
        private_dir(target.parent)
        month.rename(target)
    shutil.rmtree(parked)


# -- the conversation ---------------------------------------------------------------------------


def _tool_use(rng: random.Random, name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": f"toolu_{_hex(rng, 24)}", "name": name, "input": args}


def _result(use: dict[str, Any], text: str) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": use["id"], "content": text,
            "is_error": False}


def _search_result(rng: random.Random, at: datetime) -> str:
    lines = []
    for _ in range(rng.randint(3, 12)):
        day = (at - timedelta(days=rng.randrange(1, 300))).date()
        lines.append(f"logs/{day:%Y}/{day:%m}/{day}.md:{rng.randrange(3, 60)}: - "
                     f"{rng.randrange(7, 23):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"
                     f" **user** {_words(rng, 40, 200)}")
    return "\n".join(lines)


def turn_messages(rng: random.Random, at: datetime, answer: str | None,
                  small: bool = False) -> tuple[list[dict[str, Any]], str]:
    """One stored turn as the heartbeat loop keeps it (the tick and what arrived; the model's
    tool calls and their results; SendUserMessage; a Sleep that the next turn answers), and the
    id of that Sleep. `answer`: the previous turn's Sleep, answered first ("Woke up.")."""
    stamp = at.isoformat(timespec="seconds")
    tick = f'<tick time="{stamp}" user="present" last_interaction="0 min ago"/>'
    if small or rng.random() < 0.7:
        arrived = (f'<message from="user" at="{stamp}">\n'
                   f"{_text(rng, 30, 300, opener=rng.choice(OPENERS))}\n</message>")
    else:
        arrived = (f'<scheduled-task id="{_hex(rng, 8)}" due="{stamp}" at="{stamp}">\n'
                   f"{_words(rng, 60, 200, opener='Check')}\n</scheduled-task>")
    first: list[dict[str, Any]] = []
    if answer is not None:
        first.append({"type": "tool_result", "tool_use_id": answer, "content": "Woke up."})
    first.append({"type": "text", "text": f"{tick}\n\n{arrived}"})
    messages: list[dict[str, Any]] = [{"role": "user", "content": first}]
    for _ in range(0 if small else rng.choices((0, 1, 2, 3), weights=(25, 40, 25, 10))[0]):
        kind = rng.choice(("MemorySearch", "Read", "WebFetch"))
        if kind == "MemorySearch":
            use = _tool_use(rng, kind, {"query": f"{rng.choice(WORDS)} {rng.choice(WORDS)}"})
            found = _search_result(rng, at)
        elif kind == "Read":
            use = _tool_use(rng, kind, {"path": f"~/Documents/{rng.choice(WORDS)}.md"})
            found = "\n".join(_words(rng, 60, 160) for _ in range(rng.randint(4, 25)))
        else:
            use = _tool_use(rng, kind, {"url": f"https://example.com/{rng.choice(WORDS)}"})
            found = " ".join(_words(rng, 200, 400) for _ in range(rng.randint(2, 8)))
        content: list[dict[str, Any]] = []
        if rng.random() < 0.3:
            content.append({"type": "text", "text": _words(rng, 40, 160)})
        messages += [{"role": "assistant", "content": [*content, use]},
                     {"role": "user", "content": [_result(use, found)]}]
    send = _tool_use(rng, "SendUserMessage", {"message": _text(rng, 40, 600), "status": "normal"})
    messages += [{"role": "assistant", "content": [send]},
                 {"role": "user", "content": [_result(send, "Sent.")]}]
    sleep = _tool_use(rng, "Sleep", {"seconds": rng.choice((300, 900, 1800, 3300))})
    messages.append({"role": "assistant", "content": [sleep]})
    return messages, sleep["id"]


def _plan_turns(rng: random.Random, budget: int, at_of: Callable[[int], datetime]
                ) -> list[list[dict[str, Any]]]:
    """Turns until the conversation is between TRANSCRIPT_FILL of `budget` and all of it;
    turn i at at_of(i)."""
    turns: list[list[dict[str, Any]]] = []
    answer: str | None = None
    used = 0
    misses = 0
    while used < TRANSCRIPT_FILL * budget and misses < 20:
        at = at_of(len(turns))
        small = used > 0.9 * budget
        messages, sleep_id = turn_messages(rng, at, answer, small=small)
        tokens = Turn(messages, "").tokens
        if used + tokens > budget:
            misses += small
            continue
        turns.append(messages)
        used += tokens
        answer = sleep_id
    return turns


def write_conversation(transcript: Transcript, rng: random.Random, budget: int, end: datetime
                       ) -> int:
    """Turns up to between TRANSCRIPT_FILL of `budget` tokens and all of it (never over: the
    loop would compact it), spread over the two days before `end`; returns how many. Planned
    twice from the same random state: stamps have one length, so the second pass (with the
    real times) makes the same turns as the first (which counts them)."""
    state = rng.getstate()
    count = len(_plan_turns(rng, budget, lambda _: end))
    rng.setstate(state)
    step = timedelta(days=2) / max(count, 1)
    first = end - timedelta(days=2)
    turns = _plan_turns(rng, budget, lambda i: first + step * i)
    for i, messages in enumerate(turns):
        transcript.append_turn(messages, (first + step * i).isoformat(timespec="seconds"))
    if transcript.context_tokens() > budget:
        raise RuntimeError(f"the conversation came out at {transcript.context_tokens():,} "
                           f"tokens, over its budget of {budget:,}")
    return len(turns)


# -- messages, usage, tasks, memory -------------------------------------------------------------


def message_records(rng: random.Random, count: int, days: int, end: datetime
                    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(outbox records, user-message records) as store.json holds them today: the outbox's
    Outbox.add record and HomeApp.send's, oldest first, in waking hours over `days` days."""
    outbox: list[dict[str, Any]] = []
    users: list[dict[str, Any]] = []
    if not count:
        return outbox, users
    first = (end - timedelta(days=days)).date()
    sessions: dict[int, str] = {}
    stamps = sorted(rng.uniform(0, days) for _ in range(count))
    zone = end.tzinfo
    assert zone is not None
    for when in stamps:
        day = first + timedelta(days=int(when))
        at = _at(day, 7.5 * 3600 + (when % 1) * 15.5 * 3600, zone)
        stamp = at.isoformat(timespec="seconds")
        if rng.random() < OUTBOX_SHARE:
            week = int(when) // 7
            session = sessions.setdefault(week, f"{at:%Y%m%d}-090000-{_hex(rng, 6)}")
            status = rng.choices(("normal", "proactive", "system"), weights=(80, 15, 5))[0]
            outbox.append({"id": _hex(rng, 12), "text": _text(rng, 40, 500), "status": status,
                           "attachments": [], "createdAt": stamp, "sessionId": session,
                           "read": int(when) < days - 1})
        else:
            users.append({"id": _hex(rng, 12),
                          "text": _text(rng, 20, 300, opener=rng.choice(OPENERS)),
                          "createdAt": stamp})
    return outbox, users


def avoided_days(end: datetime) -> list[date]:
    """The days no task may fall on: the day before `end` (when they are made), `end`'s day
    (the measured idle day) and the next one (a run that goes past midnight)."""
    return [(end + timedelta(days=d)).date() for d in (-1, 0, 1)]


def task_crons(rng: random.Random, count: int, end: datetime) -> list[tuple[str, bool]]:
    """(cron, recurring) pairs: weekly, monthly, yearly and one-shot, between 07:00 and 20:59,
    none falling on an avoided day."""
    avoided = avoided_days(end)
    weekdays = [d for d in range(7) if d not in {(a.weekday() + 1) % 7 for a in avoided}]
    month_days = [d for d in range(1, 29) if d not in {a.day for a in avoided}]
    out: list[tuple[str, bool]] = []
    for i in range(count):
        minute, hour = rng.randrange(60), rng.randrange(7, 21)
        kind = i % 5
        if kind in (0, 1):
            out.append((f"{minute} {hour} * * {rng.choice(weekdays)}", True))
        elif kind == 2:
            out.append((f"{minute} {hour} {rng.choice(month_days)} * *", True))
        else:
            while True:
                when = end.date() + timedelta(days=rng.randrange(3, 360))
                if when not in avoided:
                    break
            out.append((f"{minute} {hour} {when.day} {when.month} *", kind == 3))
    return out


def write_tasks(store: Store, rng: random.Random, count: int, end: datetime) -> None:
    made = end - timedelta(hours=2)
    zone = end.tzinfo
    assert zone is not None
    scheduler = Scheduler(store=store, clock=FakeClock(made), settings=Settings, zone=zone)
    for cron, recurring in task_crons(rng, count, end):
        scheduler.create(cron, _words(rng, 50, 200, opener=rng.choice(("Remind", "Check"))),
                         recurring=recurring, durable=True)


def write_usage(store: Store, rng: random.Random, days: int, end: datetime) -> None:
    """A usage row per day of history (one recorded call standing for the day's calls)."""
    if not days:
        return
    clock = FakeClock(end - timedelta(days=days) + timedelta(hours=12))
    ledger = UsageLedger(store, clock)
    model = Settings().model
    for _ in range(days):
        ledger.record(model, Usage(input_tokens=rng.randrange(20_000, 90_000),
                                   output_tokens=rng.randrange(2_000, 20_000),
                                   cache_read_tokens=rng.randrange(200_000, 1_500_000),
                                   cache_write_tokens=rng.randrange(20_000, 120_000)),
                      cache_ttl="1h")
        clock.advance(86_400)


def index_text(rng: random.Random, topics: list[str]) -> str:
    """A MEMORY.md at its limits: INDEX_MAX_LINES lines, just under INDEX_MAX_BYTES."""
    lines = ["# Memory", "", "## Topics"]
    lines += [f"- [{name.replace('-', ' ').title()}](topics/{name}.md): {_words(rng, 30, 80)}"
              for name in topics]
    lines += ["", "## About the user"]
    tail = ["", "## Standing instructions", f"- {_words(rng, 40, 100)}",
            f"- {_words(rng, 40, 100)}"]
    room = INDEX_MAX_LINES - len(lines) - len(tail)
    used = len("\n".join(lines + tail).encode()) + 2
    budget = INDEX_MAX_BYTES - 200 - used
    for i in range(room):
        left = room - i
        width = max(20, min(220, (budget // left) - 3))
        line = f"- {_words(rng, width - 8, width)}"
        lines.append(line)
        budget -= len(line.encode()) + 1
    return "\n".join(lines + tail) + "\n"


def topic_text(rng: random.Random, name: str, end: date) -> str:
    target = rng.randint(1024, 8 * 1024)
    lines = [f"# {name.replace('-', ' ').title()}", ""]
    size = sum(len(line) + 1 for line in lines)
    while size < target - 120:
        if rng.random() < 0.1:
            line = f"\n## {_words(rng, 10, 30).rstrip('.').title()}"
        else:
            line = f"- {end - timedelta(days=rng.randrange(400))}: {_words(rng, 40, 160)}"
        lines.append(line)
        size += len(line.encode()) + 1
    return "\n".join(lines) + "\n"


def write_memory(files: MemoryFiles, rng: random.Random, count: int, end: date) -> None:
    topics = sorted(rng.sample(TOPIC_NAMES, min(count, len(TOPIC_NAMES))))
    for name in topics:
        files.write_topic(name, topic_text(rng, name, end))
    files.write_index(index_text(rng, topics))


# -- building -----------------------------------------------------------------------------------


def build_home(spec: HomeSpec, home_dir: Path, end: datetime, seed: int = SEED
               ) -> dict[str, Any]:
    """Build `spec` in `home_dir` (which must not exist yet); returns what it holds."""
    zone = end.tzinfo
    assert zone is not None
    rng = random.Random(f"{seed}:{spec.name}:{spec.days}:{spec.messages}")
    home = Home(home_dir).ensure()
    values: dict[str, Any] = {}
    if spec.context_budget_tokens is not None:
        values["contextBudgetTokens"] = spec.context_budget_tokens
    home.settings_file.write_text(json.dumps(values, indent=2) + "\n", encoding="utf-8")
    home.settings_file.chmod(0o600)
    facts: dict[str, Any] = {"messages": 0, "userMessages": 0, "turns": 0,
                             "contextTokens": 0, "logEntries": 0}
    write_memory(MemoryFiles(home.memory_dir), rng, spec.topics, end.date())
    if spec.days:
        log = DailyLog(home.logs_dir, FakeClock(end), key=home.log_key())
        facts["logEntries"] = write_logs(log, rng, spec.days, end.date(), zone)
    if spec.conversation:
        transcript = Transcript.open(home.sessions_dir,
                                     new_session_id(end - timedelta(days=2)))
        facts["turns"] = write_conversation(transcript, rng, spec.budget_tokens, end)
        facts["contextTokens"] = transcript.context_tokens()
    outbox, users = message_records(rng, spec.messages, spec.days, end)
    store = Store(home.store_file, owner=True)

    def fill(db: Any) -> None:  # one transaction: store.json is written once
        if outbox:
            db.table(OUTBOX_TABLE, cache_size=0).insert_multiple(outbox)
        if users:
            db.table(USER_MESSAGES, cache_size=0).insert_multiple(users)
        write_usage(store, rng, spec.days, end)
        write_tasks(store, rng, spec.tasks, end)

    store.transact(fill)
    store.close()
    facts.update(messages=len(outbox), userMessages=len(users), tasks=spec.tasks,
                 logDays=spec.days, topics=spec.topics)
    return facts


def source_hash() -> str:
    digest = hashlib.sha256()
    for name in SOURCES:
        path = REPO_ROOT / name
        digest.update(name.encode() + b"\0")
        with contextlib.suppress(OSError):
            digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_key(spec: HomeSpec, end: datetime) -> str:
    raw = json.dumps({"version": BUILDER_VERSION, "spec": asdict(spec), "seed": SEED,
                      "end": end.isoformat(), "sources": source_hash()}, sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def default_cache_dir() -> Path:
    return Path(tempfile.gettempdir()) / "kairos-bench-aging"


def _scratch_parent() -> str | None:
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and _writable(shm) else None


def _writable(folder: Path) -> bool:
    try:
        with tempfile.TemporaryDirectory(dir=folder):
            return True
    except OSError:
        return False


def home_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def cached_home(spec: HomeSpec, end: datetime, cache_dir: Path | None = None, *,
                rebuild: bool = False) -> BuiltHome:
    """The home for `spec`, from the cache or built now (then cached)."""
    cache_dir = cache_dir or default_cache_dir()
    slug = spec.name.replace(" ", "-")
    entry = cache_dir / f"{slug}-{cache_key(spec, end)}"
    facts_file = entry / "facts.json"
    if rebuild and entry.exists():
        shutil.rmtree(entry)
    build_s = 0.0
    if not facts_file.exists():
        began = time.perf_counter()
        cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="kairos-aging-build-",
                                         dir=_scratch_parent()) as scratch:
            facts = build_home(spec, Path(scratch) / "home", end)
            facts["planted"] = {w: d.isoformat()
                                for w, d in planted_days(spec.days, end.date()).items()}
            staging = Path(tempfile.mkdtemp(prefix=".building-", dir=cache_dir))
            shutil.copytree(Path(scratch) / "home", staging / "home", symlinks=True)
        build_s = time.perf_counter() - began
        facts["buildSeconds"] = round(build_s, 2)
        facts["homeBytes"] = home_size(staging / "home")
        (staging / "facts.json").write_text(json.dumps(facts, indent=2), encoding="utf-8")
        try:
            staging.rename(entry)
        except OSError:  # another run cached it meanwhile
            shutil.rmtree(staging, ignore_errors=True)
        for stale in cache_dir.glob(f"{slug}-*"):  # built by an older builder or source
            if stale != entry and stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
    facts = json.loads(facts_file.read_text(encoding="utf-8"))
    return BuiltHome(spec=spec, root=entry / "home", end=end, facts=facts, build_s=build_s,
                     planted=dict(facts.get("planted", {})))


def copy_home(source: Path, root: Path, settings: dict[str, Any] | None = None) -> Home:
    """A working copy of the home folder `source` at root/home, its inbox at root/inbox, with
    `settings` (settings.json keys) set on top of its own."""
    shutil.copytree(source, root / "home", symlinks=True)
    home = Home(root / "home")
    values = json.loads(home.settings_file.read_text(encoding="utf-8"))
    values.update(settings or {})
    values["inboxDir"] = str(root / "inbox")
    home.settings_file.write_text(json.dumps(values, indent=2) + "\n", encoding="utf-8")
    return home
