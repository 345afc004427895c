"""How memory holds up after a year of daily logs: the prompt's memory section and search.

Why: the assistant is always on, so its daily log (memory/logs/YYYY/MM/YYYY-MM-DD.md: every tick,
also the quiet ones, every message and tool call) grows by a file a day, forever, and nothing
prunes it. Two things read it on the hot path:
  * memory_section(), which builds the memory part of the system prompt (MEMORY.md plus the tail
    of yesterday's and today's logs) each time the day or MEMORY.md changes: target under 50 ms;
  * MemoryFiles.search() (the MemorySearch tool, also used by autoDream), a plain-text scan of the
    index, the topics and the logs newest first: target under 200 ms, also when the phrase is
    only in the oldest log or nowhere, so that every file is read.
It also reports, without a target, DailyLog.verify_all() (the hash-chain check over every log)
and the size of the logs on disk.

The year is generated in a temp dir from a fixed seed: --days daily logs (default 365) written
through the real DailyLog.append(), so the format and the keyed hash chain are the real ones (one
fsync per entry, as in production: that is setup and is timed but not judged). A day is what an
always-on assistant writes: about 27 quiet ticks, plus 5-40 other entries (user messages, tool
calls, thoughts, messages, reminders, [external:...] channel/PR/folder items, some multi-line) of
50-400 characters. Memory also gets a MEMORY.md of about 60 lines and 30 topic files of 1-8 KB.
Timings are real wall time (time.perf_counter) with a warm page cache, after one untimed call;
targets are judged on the p95. When a target is missed (or with --profile) the bench prints where
the time goes and a short cProfile.

Run from the repository root:  python -m bench.memory [--days N] [--repeat N] [--check]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import math
import os
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

# `python bench/memory.py` puts bench/ (not the repository root) on sys.path; make the root
# importable either way, like the other benches.
REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench import _common  # noqa: E402
from kairos_desktop.clock import FakeClock  # noqa: E402
from kairos_desktop.home import Home  # noqa: E402
from kairos_desktop.journal import DailyLog  # noqa: E402
from kairos_desktop.memory.files import MemoryFiles, SearchHit  # noqa: E402
from kairos_desktop.memory.prompt import memory_section  # noqa: E402
from kairos_desktop.settings import Settings  # noqa: E402

ZONE = ZoneInfo("Europe/Paris")
LAST_DAY = date(2026, 11, 22)  # "today": the newest log; the year ends here
SEED = 20_261_122
TARGET_SECTION_MS = 50.0
TARGET_SEARCH_MS = 200.0
SEARCH_LIMIT = 40  # MemoryFiles.search's default
QUIET_TICKS = (24, 30)  # per day: a 55-minute sleep between idle ticks gives about 27
OTHER_ENTRIES = (5, 40)  # per day: everything that is not a quiet tick
TOPICS = 30
INDEX_LINES = 60
PROFILE_CALLS = 3
PROFILE_ROWS = 8

# The three searches. RARE is written once, in the oldest log; COMMON is in every tick line (the
# vocabulary below never uses it, so the index and topics hold none and the scan reaches the
# logs); NOWHERE is in nothing.
RARE = "Zanzibar"
COMMON = "sleeping"
NOWHERE = "xylophone"

PEOPLE = ("Alice", "Bob", "Chloé", "Dmitri", "Emma", "Farid", "Grace", "Hugo", "Inès", "Jonas")
WORDS = ("the", "weekly", "report", "for", "team", "and", "send", "it", "to", "before", "lunch",
         "open", "pull", "requests", "on", "main", "repository", "invoices", "due", "this",
         "month", "water", "plants", "in", "office", "calendar", "conflicts", "with", "dentist",
         "backup", "status", "of", "laptop", "newsletter", "draft", "notes", "from", "meeting",
         "budget", "spreadsheet", "flight", "prices", "Lyon", "train", "tickets", "Monday",
         "Friday", "tomorrow", "deadline", "review", "slides", "client", "contract", "renewal",
         "tax", "return", "insurance", "car", "service", "groceries", "birthday", "gift",
         "release", "notes", "staging", "deploy", "failed", "tests", "green", "CI", "branch",
         "summary", "quarterly", "goals", "hiring", "interview", "candidate", "feedback", "a",
         "is", "was", "at", "by", "about", "after", "again", "still", "please", "check", "why",
         "bug", "crash", "login", "page", "mobile", "app", "customer", "ticket", "refund",
         "podcast", "episode", "recipe", "dinner", "gym", "run", "10k", "weather", "Paris",
         "rain", "holiday", "booking", "hotel", "receipt", "expense", "approved", "pending")
USER_OPENERS = ("Can you", "Please", "Remind me to", "What was", "Did", "Find", "Look up",
                "Could you check", "Note that", "Tell me when", "Summarise", "Draft")
TOOLS = {
    "Read": lambda rng: {"path": f"~/Documents/{rng.choice(WORDS)}-{rng.randrange(99)}.md"},
    "Bash": lambda rng: {"command": f"git -C ~/src/{rng.choice(WORDS)} log --oneline -5"},
    "WebFetch": lambda rng: {"url": f"https://example.com/{rng.choice(WORDS)}/{rng.randrange(9999)}"},
    "Grep": lambda rng: {"pattern": rng.choice(WORDS), "path": "~/Documents"},
    "MemorySearch": lambda rng: {"query": f"{rng.choice(WORDS)} {rng.choice(WORDS)}"},
    "MemoryRead": lambda rng: {"path": f"topics/{rng.choice(WORDS).lower()}.md"},
    "CronCreate": lambda rng: {"cron": f"{rng.randrange(60)} {rng.randrange(7, 22)} * * 1-5",
                               "prompt": _words(rng, 30, 90)},
}
EXTERNAL = (("channel", "slack:#team"), ("channel", "email:alice@example.com"),
            ("pr", "github:acme/app#{n}"), ("folder", "folder:Inbox/{w}.pdf"))
TOPIC_NAMES = ("work-projects", "people", "family", "health", "finances", "travel", "home",
               "car", "garden", "reading-list", "podcasts", "recipes", "fitness", "hiring",
               "client-acme", "client-globex", "release-process", "ci-notes", "laptop-setup",
               "passwords-policy", "insurance", "taxes", "subscriptions", "kids-school",
               "birthdays", "holidays", "newsletter", "side-project", "learning", "preferences",
               "meetings", "office", "suppliers", "events", "language-course", "volunteering")


# -- generating a year -------------------------------------------------------------------------


def _words(rng: random.Random, low: int, high: int, opener: str | None = None) -> str:
    """Plain text of low..high characters from the vocabulary."""
    target = rng.randint(low, high)
    words = [opener] if opener else []
    while len(" ".join(words)) < target:
        words.append(rng.choice(PEOPLE) if rng.random() < 0.06 else rng.choice(WORDS))
    return " ".join(words)[: target - 1].rstrip() + "."


def _text(rng: random.Random, low: int = 50, high: int = 400, opener: str | None = None,
          multiline: float = 0.15) -> str:
    """Like _words, but sometimes a pasted list: a first line and 2-5 items (continuation lines
    in the log)."""
    if rng.random() >= multiline:
        return _words(rng, low, high, opener)
    items = rng.randint(2, 5)
    per = max(15, (rng.randint(low, high) // (items + 1)))
    first = _words(rng, per, per + 20, opener)
    return "\n".join([first] + [f"- {_words(rng, per // 2, per)}" for _ in range(items)])


@dataclass
class Entry:
    at: datetime
    kind: str
    text: str
    external: str | None = None


def _moment(day: date, seconds: float) -> datetime:
    seconds = min(max(seconds, 0.0), 86_399.0)
    return datetime(day.year, day.month, day.day, tzinfo=ZONE) + timedelta(seconds=int(seconds))


def _burst(rng: random.Random, day: date, start_s: float) -> list[Entry]:
    """One active turn: what woke the assistant, its tool calls, thought, message, and tick."""
    out: list[Entry] = []
    t = start_s

    def add(kind: str, text: str, external: str | None = None) -> None:
        nonlocal t
        out.append(Entry(_moment(day, t), kind, text, external))
        t += rng.uniform(1, 20)

    trigger = rng.choices(("user", "reminder", "external"), weights=(55, 20, 25))[0]
    if trigger == "user":
        add("user", _text(rng, opener=rng.choice(USER_OPENERS)))
    elif trigger == "reminder":
        add("reminder", _words(rng, 50, 200, opener=rng.choice(("Check", "Remind", "Review"))))
    else:
        kind, source = rng.choice(EXTERNAL)
        source = source.format(n=rng.randrange(1, 2000), w=rng.choice(WORDS))
        add(kind, _text(rng, multiline=0.3), external=source)
    calls = 1
    for _ in range(rng.choices((0, 1, 2, 3, 4), weights=(35, 30, 20, 10, 5))[0]):
        name = rng.choice(tuple(TOOLS))
        shown = json.dumps(TOOLS[name](rng), ensure_ascii=False)
        result = _text(rng, 20, max(30, 380 - len(shown)), multiline=0.25)
        add(f"tool {name}", f"{shown} -> {result}")
        calls += 1
    if rng.random() < 0.3:
        add("thought", _text(rng, multiline=0.05))
    if rng.random() < 0.85:
        add("message (reply)" if trigger == "user" else "message (proactive)", _text(rng))
    if rng.random() < 0.08:
        topic = rng.choice(TOPIC_NAMES)
        add("memory", f"topics/{topic}.md written ({rng.randrange(800, 8000):,} characters)")
    if trigger != "user" and rng.random() < 0.2:
        add("notification", f"Kairos: {_words(rng, 40, 120)}")
    if rng.random() < 0.02:
        add("error", f"model call failed (attempt 1): Connection error. ({_words(rng, 20, 60)})")
    add("tick", f"{calls} model call(s); sleeping {rng.choice((5, 15, 30, 55))} min")
    return out


def day_entries(rng: random.Random, day: date, *, rare: bool = False) -> list[Entry]:
    """One day of an always-on assistant, in time order."""
    entries: list[Entry] = []
    ticks = rng.randint(*QUIET_TICKS)
    step = 86_400 / ticks
    for i in range(ticks):
        at = _moment(day, i * step + rng.uniform(0, step * 0.5))
        entries.append(Entry(at, "tick", f"quiet; sleeping {rng.choice((45, 50, 55, 55, 55))} min"))
    wanted = rng.randint(*OTHER_ENTRIES)
    others: list[Entry] = []
    while len(others) < wanted:
        start_s = rng.uniform(7.5 * 3600, 23.5 * 3600) if rng.random() < 0.9 \
            else rng.uniform(0, 86_000)
        others += _burst(rng, day, start_s)
    del others[wanted:]  # a day can end mid-turn
    if rng.random() < 0.3:
        others.append(Entry(_moment(day, rng.uniform(3 * 3600, 4 * 3600)), "dream",
                            f"nightly trigger: {rng.randint(24, 72)} h and "
                            f"{rng.randint(5, 40)} sessions since the last dream"))
    if rare:
        others.append(Entry(_moment(day, 10 * 3600 + 7), "user",
                            f"Note that my {RARE} visa number is Z-{rng.randrange(10**8):08d}, "
                            "keep it for the trip paperwork."))
    entries += others
    entries.sort(key=lambda e: e.at)
    return entries


def _topic_text(rng: random.Random, name: str) -> str:
    target = rng.randint(1024, 8 * 1024)
    lines = [f"# {name.replace('-', ' ').title()}", ""]
    size = sum(len(line) + 1 for line in lines)
    while size < target - 120:
        if rng.random() < 0.1:
            line = f"\n## {_words(rng, 10, 30).rstrip('.').title()}"
        else:
            when = LAST_DAY - timedelta(days=rng.randrange(400))
            line = f"- {when.isoformat()}: {_words(rng, 40, 160)}"
        lines.append(line)
        size += len(line.encode()) + 1
    return "\n".join(lines) + "\n"


def _index_text(rng: random.Random, topics: list[str]) -> str:
    lines = ["# Memory", "", "## Topics"]
    lines += [f"- [{name.replace('-', ' ').title()}](topics/{name}.md): {_words(rng, 20, 70)}"
              for name in topics]
    lines += ["", "## About the user"]
    while len(lines) < INDEX_LINES - 4:
        lines.append(f"- {_words(rng, 30, 110)}")
    lines += ["", "## Standing instructions", f"- {_words(rng, 40, 100)}",
              f"- {_words(rng, 40, 100)}"]
    return "\n".join(lines) + "\n"


@dataclass
class Generated:
    appends: int = 0
    entries_by_kind: dict[str, int] = field(default_factory=dict)
    logs_s: float = 0.0  # the appends, one fsync each
    memory_s: float = 0.0  # MEMORY.md and topics


def generate(log: DailyLog, files: MemoryFiles, days: int, seed: int) -> Generated:
    rng = random.Random(seed)
    out = Generated()
    first = LAST_DAY - timedelta(days=days - 1)
    began = time.perf_counter()
    for offset in range(days):
        day = first + timedelta(days=offset)
        for entry in day_entries(rng, day, rare=offset == 0):
            log.append(entry.kind, entry.text, external_source=entry.external, at=entry.at)
            out.appends += 1
            out.entries_by_kind[entry.kind] = out.entries_by_kind.get(entry.kind, 0) + 1
    out.logs_s = time.perf_counter() - began
    began = time.perf_counter()
    topics = sorted(rng.sample(TOPIC_NAMES, TOPICS))
    for name in topics:
        files.write_topic(name, _topic_text(rng, name))
    files.write_index(_index_text(rng, topics))
    out.memory_s = time.perf_counter() - began
    return out


# -- measuring ---------------------------------------------------------------------------------


@dataclass
class Stats:
    samples: list[float]  # milliseconds

    def percentile(self, p: float) -> float:
        return _common.percentile(self.samples, p)

    @property
    def min(self) -> float:
        return min(self.samples) if self.samples else math.nan

    @property
    def median(self) -> float:
        return self.percentile(50)

    @property
    def p95(self) -> float:
        return self.percentile(95)


_ms = _common.elapsed_ms



def timed(fn: Callable[[], object], repeat: int) -> Stats:
    fn()  # untimed: imports, regex compilation, first touch of every page
    return Stats([_ms(fn) for _ in range(repeat)])


def evict(paths: list[Path]) -> bool:
    """Drop these files from the page cache (they are clean: every write was fsync'd), as after a
    reboot or a long day of other work. False where there is no posix_fadvise (macOS)."""
    if not hasattr(os, "posix_fadvise"):
        return False
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    return True


def timed_cold(fn: Callable[[], object], paths: list[Path], repeat: int) -> Stats | None:
    samples = []
    for _ in range(repeat):
        if not evict(paths):
            return None
        samples.append(_ms(fn))
    return Stats(samples)


def files_opened(files: MemoryFiles, needle: str, limit: int) -> int:
    """How many files search() reads before it returns: the same order and early exit."""
    paths = [files.index_path, *sorted(files.topics_dir.glob("*.md")),
             *sorted(files.logs_dir.rglob("*.md"), reverse=True)]
    hits = 0
    for number, path in enumerate(paths, 1):
        text = path.read_text(encoding="utf-8", errors="replace").lower()
        hits += sum(needle.lower() in line for line in text.splitlines())
        if hits >= limit:
            return number
    return len(paths)


def search_anatomy(files: MemoryFiles, repeat: int) -> dict[str, float]:
    """The parts of a full scan (a search that finds nothing), done the way search() does them."""
    def listing() -> list[Path]:
        return [files.index_path, *sorted(files.topics_dir.glob("*.md")),
                *sorted(files.logs_dir.rglob("*.md"), reverse=True)]

    paths = listing()
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in paths]
    lowered = [t.lower() for t in texts]
    joined = "".join(texts).encode()
    return {
        f"listing the files (glob + rglob + sorted, {len(paths)} files)":
            timed(listing, repeat).median,
        "read_text() of every file": timed(
            lambda: [p.read_text(encoding="utf-8", errors="replace") for p in paths],
            repeat).median,
        "  of which the bytes alone (read_bytes)": timed(
            lambda: [p.read_bytes() for p in paths], repeat).median,
        "str.lower() of every file": timed(lambda: [t.lower() for t in texts], repeat).median,
        "needle in text (substring test)": timed(
            lambda: [NOWHERE in t for t in lowered], repeat).median,
        "for scale: bytes.lower() + find on all of it, one blob": timed(
            lambda: joined.lower().find(NOWHERE.encode()), repeat).median,
    }


def profile_rows(profile: cProfile.Profile, per: int, rows: int = PROFILE_ROWS) -> list[str]:
    return _common.profile_rows(profile, per, rows, calls_width=9)


@dataclass
class Search:
    label: str
    query: str
    stats: Stats
    hits: list[SearchHit]
    opened: int

    @property
    def ok(self) -> bool:
        return self.stats.p95 < TARGET_SEARCH_MS


@dataclass
class Result:
    days: int
    repeat: int
    budget_tokens: int
    gen: Generated = field(default_factory=Generated)
    log_files: int = 0
    log_bytes: int = 0
    log_disk_bytes: int = 0
    largest_log: int = 0
    index_lines: int = 0
    index_bytes: int = 0
    topic_bytes: list[int] = field(default_factory=list)
    section: Stats = field(default_factory=lambda: Stats([]))
    section_cold: Stats | None = None
    section_chars: int = 0
    section_entries: int = 0
    searches: list[Search] = field(default_factory=list)
    search_cold: Stats | None = None  # (c), every file evicted from the page cache first
    verify: Stats = field(default_factory=lambda: Stats([]))
    verify_entries: int = 0
    broken: list[str] = field(default_factory=list)
    anatomy: dict[str, float] = field(default_factory=dict)
    profiles: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    real_s: float = 0.0

    @property
    def section_ok(self) -> bool:
        return self.section.p95 < TARGET_SECTION_MS

    @property
    def search_ok(self) -> bool:
        return all(s.ok for s in self.searches)

    @property
    def ok(self) -> bool:
        return self.section_ok and self.search_ok


def run(args: argparse.Namespace) -> Result:
    began = time.perf_counter()
    budget = Settings().memory_prompt_tokens
    result = Result(days=args.days, repeat=args.repeat, budget_tokens=budget)
    with tempfile.TemporaryDirectory(prefix="kairos-memory-bench-", dir=args.dir) as tmp:
        home = Home(Path(tmp) / "home").ensure()
        clock = FakeClock(datetime(LAST_DAY.year, LAST_DAY.month, LAST_DAY.day, 23, 59,
                                   tzinfo=ZONE))
        log = DailyLog(home.logs_dir, clock, key=home.log_key())
        files = MemoryFiles(home.memory_dir)
        result.gen = generate(log, files, args.days, SEED)

        logs = sorted(home.logs_dir.rglob("*.md"))
        result.log_files = len(logs)
        sizes = [p.stat() for p in logs]
        result.log_bytes = sum(s.st_size for s in sizes)
        result.log_disk_bytes = sum(getattr(s, "st_blocks", 0) * 512 for s in sizes)
        result.largest_log = max(s.st_size for s in sizes)
        index = files.read_index()
        result.index_lines = len(index.splitlines())
        result.index_bytes = len(index.encode())
        result.topic_bytes = [files.topic_path(n).stat().st_size for n in files.topics()]

        # The memory section for the newest day, as the loop builds it (loop._memory_prompt).
        # The last day is complete, so this is the largest "today" the section can see.
        def section() -> str:
            return memory_section(files, log, LAST_DAY, budget_tokens=budget)

        result.section = timed(section, args.repeat)
        text = section()
        result.section_chars = len(text)
        result.section_entries = sum(1 for line in text.splitlines()
                                     if re.match(r"- \d{4}-\d\d-\d\d ", line))

        for label, query in ((f"(a) {RARE!r}: only in the oldest log", RARE),
                             (f"(b) {COMMON!r}: in every log, limit {SEARCH_LIMIT}", COMMON),
                             (f"(c) {NOWHERE!r}: nowhere", NOWHERE)):
            stats = timed(lambda q=query: files.search(q, limit=SEARCH_LIMIT), args.repeat)
            result.searches.append(Search(label, query, stats,
                                          files.search(query, limit=SEARCH_LIMIT),
                                          files_opened(files, query, SEARCH_LIMIT)))
        rare, common, nowhere = result.searches
        oldest = str(logs[0].relative_to(home.memory_dir))
        if [h.path for h in rare.hits] != [oldest]:
            result.warnings.append(f"search {RARE!r} found {[h.path for h in rare.hits]}, "
                                   f"expected one hit in {oldest}")
        if len(common.hits) != SEARCH_LIMIT:
            result.warnings.append(f"search {COMMON!r} found {len(common.hits)} hits, expected "
                                   f"the limit ({SEARCH_LIMIT})")
        if nowhere.hits:
            result.warnings.append(f"search {NOWHERE!r} found {len(nowhere.hits)} hits")

        # No target: the same with the files dropped from the page cache before each call.
        everything = [files.index_path, *sorted(files.topics_dir.glob("*.md")), *logs]
        cold_repeat = max(3, args.repeat // 4)
        result.section_cold = timed_cold(section, everything, cold_repeat)
        result.search_cold = timed_cold(lambda: files.search(NOWHERE, limit=SEARCH_LIMIT),
                                        everything, cold_repeat)

        checks = log.verify_all()
        result.verify = timed(log.verify_all, max(3, args.repeat // 4))
        result.verify_entries = sum(c.entries for c in checks)
        result.broken = [str(c) for c in checks if not c.intact]
        if result.verify_entries != result.gen.appends:
            result.warnings.append(f"verify_all counted {result.verify_entries:,} entries, "
                                   f"{result.gen.appends:,} were appended")

        if not result.section_ok or args.profile:
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(PROFILE_CALLS):
                section()
            profile.disable()
            result.profiles[f"memory_section(), {PROFILE_CALLS} calls"] = profile_rows(
                profile, PROFILE_CALLS)
        if not result.search_ok or args.profile:
            result.anatomy = search_anatomy(files, max(3, args.repeat // 4))
            for s in result.searches:
                if s.ok and not args.profile:
                    continue
                profile = cProfile.Profile()
                profile.enable()
                for _ in range(PROFILE_CALLS):
                    files.search(s.query, limit=SEARCH_LIMIT)
                profile.disable()
                result.profiles[f"search({s.query!r}), {PROFILE_CALLS} calls"] = profile_rows(
                    profile, PROFILE_CALLS)
    result.real_s = time.perf_counter() - began
    return result


# -- the report --------------------------------------------------------------------------------


def report(r: Result) -> str:
    g = r.gen
    first = LAST_DAY - timedelta(days=r.days - 1)
    quiet = g.entries_by_kind.get("tick", 0)
    kinds = sorted(g.entries_by_kind.items(), key=lambda kv: -kv[1])
    topics = r.topic_bytes
    lines = [
        f"kairos memory bench: {r.days} daily logs ({first} to {LAST_DAY}, seed {SEED}), "
        f"real wall time, warm page cache",
        f"  logs: {g.appends:,} entries ({g.appends / r.days:.1f} a day; ticks {quiet:,}), "
        f"{r.log_files} files, {r.log_bytes / 1e6:.2f} MB ({r.log_disk_bytes / 1e6:.2f} MB on "
        f"disk; mean {r.log_bytes / r.log_files / 1024:.1f} KB, largest "
        f"{r.largest_log / 1024:.1f} KB)",
        "  kinds: " + ", ".join(f"{k} {n:,}" for k, n in kinds[:8])
        + (f", {len(kinds) - 8} more" if len(kinds) > 8 else ""),
        f"  MEMORY.md: {r.index_lines} lines, {r.index_bytes:,} bytes; {len(topics)} topics, "
        f"{min(topics) / 1024:.1f}-{max(topics) / 1024:.1f} KB ({sum(topics) / 1024:.0f} KB)",
        f"  generated in {g.logs_s:.1f} s ({g.appends:,} DailyLog.append calls, one fsync each: "
        f"{1000 * g.logs_s / g.appends:.2f} ms per entry) + {g.memory_s:.2f} s for the memory "
        "files (setup, not judged)",
        "",
        f"  {'figure (' + str(r.repeat) + ' timed calls each, after one untimed)':<58} "
        f"{'min':>9} {'median':>9} {'p95':>9}  {'target':<14} verdict",
    ]

    def row(label: str, stats: Stats, target: str, verdict: str) -> None:
        lines.append(f"  {label:<58} {stats.min:>7.2f}ms {stats.median:>7.2f}ms "
                     f"{stats.p95:>7.2f}ms  {target:<14} {verdict}")

    row(f"memory_section(), last day, budget {r.budget_tokens:,} tokens", r.section,
        f"< {TARGET_SECTION_MS:g} ms (p95)", _common.verdict(r.section_ok))
    lines.append(f"    -> {r.section_chars:,} characters, {r.section_entries} log entries")
    if r.section_cold is not None:
        row(f"  the same, cold page cache ({len(r.section_cold.samples)} calls)",
            r.section_cold, "-", "-")
    for s in r.searches:
        row(f"search {s.label}", s.stats, f"< {TARGET_SEARCH_MS:g} ms (p95)", _common.verdict(s.ok))
        lines.append(f"    -> {len(s.hits)} hit(s), {s.opened} of "
                     f"{r.log_files + 1 + len(r.topic_bytes)} files read")
    if r.search_cold is not None:
        row(f"  (c) again, cold page cache ({len(r.search_cold.samples)} calls)", r.search_cold,
            "-", "-")
    else:
        lines.append("  (no cold-cache figures: this platform has no posix_fadvise)")
    row(f"verify_all(), {r.log_files} files, {r.verify_entries:,} entries "
        f"({len(r.verify.samples)} calls)", r.verify, "-", "-")
    lines.append(f"    -> {r.log_files - len(r.broken)} intact, {len(r.broken)} broken")
    for problem in r.broken[:5]:
        lines.append(f"WARNING: {problem}")
    for warning in r.warnings:
        lines.append(f"WARNING: {warning}")
    if r.anatomy:
        lines += ["", "where a full scan goes (medians):"]
        for name, ms in r.anatomy.items():
            lines.append(f"  {name:<62} {ms:8.2f} ms")
    for title, rows in r.profiles.items():
        lines += ["", f"cProfile, {title}: most own time, per call"]
        lines += rows
    lines.append("")
    lines.append(f"{_common.verdict(r.ok)}: memory section {_common.verdict(r.section_ok)} "
                 f"(p95 {r.section.p95:.2f} ms < {TARGET_SECTION_MS:g} ms), search "
                 f"{_common.verdict(r.search_ok)} (worst p95 "
                 f"{max(s.stats.p95 for s in r.searches):.2f} ms < {TARGET_SEARCH_MS:g} ms)")
    lines.append(f"(bench ran in {r.real_s:.1f} s of real time)")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.memory",
        description="Generate a year of daily logs and time the memory section of the system "
                    "prompt and memory search.")
    parser.add_argument("--days", type=int, default=365,
                        help="daily logs to generate, ending on the bench's 'today' (default 365)")
    parser.add_argument("--repeat", type=int, default=20,
                        help="timed calls of each figure (default 20)")
    parser.add_argument("--dir", default=None,
                        help="where to make the temp dir (default: the system's); fsync costs "
                             "and so the generation time depend on the file system")
    parser.add_argument("--profile", action="store_true",
                        help="print the scan breakdown and profiles even when every target is met")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when a target is missed (default: always exit 0)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.days < 2 or args.repeat < 1:
        print("memory: --days must be at least 2 and --repeat at least 1", file=sys.stderr)
        return 2
    if args.dir is not None and not os.path.isdir(args.dir):
        print(f"memory: --dir {args.dir} is not a directory", file=sys.stderr)
        return 2
    result = run(args)
    print(report(result), flush=True)
    return 1 if args.check and not result.ok else 0


if __name__ == "__main__":
    sys.exit(main())
