"""The daily log: memory/logs/YYYY/MM/YYYY-MM-DD.md, one markdown list item per event.

Append-only by construction: the only write is an append (atomic.append_bytes: O_APPEND + fsync,
the file 0600 in 0700 folders: it holds what the user said); nothing in the package rewrites a
log. The one cut is a torn tail (a crash mid-write): before the next append, what follows the last
complete entry is moved to `YYYY-MM-DD.md.torn` beside the file (never lost) and a "repair" entry
says so, so the next entry is not glued onto the fragment.

Every tick (also the quiet ones), tool call, message and error goes here, so the user can always
see what the assistant did and why, and autoDream can learn from it.

Tamper evidence: every entry ends with an HTML comment holding a keyed hash (HMAC-SHA256 with a
per-home secret) chained to the entry before it, starting from the file's header. Editing,
inserting or deleting an entry breaks the chain from that entry on; `verify` names the first
broken one. Continuation lines are indented, so text from outside cannot forge an entry line.

A chain says nothing about its own end: cut the last entries (or all of them, or the whole file)
and what is left still chains. So each day's chain head (its entry count and last hash) is kept
outside its file too, twice:
- in the next day's header, `# Monday 23 November 2026 <!-- after 2026-11-22 #14 3fa2... -->`,
  which that day's chain covers (the first day says `<!-- chain start -->`);
- in memory/logs/.heads.json, the heads of the last ANCHOR_DAYS days under a keyed MAC (written
  atomically, 0600): the only witness for the newest day. Not the store: this module is a
  foundation one and depends on nothing above it.
`verify` holds each day to both. And since a later append would hide a cut end for good (the
next entry, or the next day's header, would chain onto what is left), the first append of a
process (or one to a file that changed behind its back) checks the end first: when it is short
of what was recorded, it writes a "chain break" entry naming what is missing, and the chain goes
on from what is there. Verify lists a recorded break as known: still not intact, but written
down when it was found, not hidden.

What this does not catch: someone who can write the home and puts back an older copy of
.heads.json together with a cut newest day (the anchor has no clock it could be held to).
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import json
import logging
import re
import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from .atomic import PRIVATE_FILE_MODE, append_bytes, atomic_write_bytes, repair_torn_tail
from .clock import Clock

log = logging.getLogger(__name__)

# An entry's hash, at the end of its last line.
ENTRY_HASH = re.compile(r" <!-- ([0-9a-f]{16}) -->$")
ENTRY_HASH_BYTES = re.compile(rb" <!-- [0-9a-f]{16} -->$")
# The chain comment at the end of a header: the head of the day before, or the chain's start.
HEADER_CHAIN = re.compile(
    r" <!-- (?:after (\d{4}-\d{2}-\d{2}) #(\d+) ([0-9a-f]{16})|chain start) -->$")
# Either of the chain's comments: not content, so every reader strips them (MARKER.sub).
MARKER = re.compile(r" <!-- (?:[0-9a-f]{16}|after \d{4}-\d{2}-\d{2} #\d+ [0-9a-f]{16}"
                    r"|chain start) -->$")
ENTRY_KIND = re.compile(r"^- (\d\d:\d\d:\d\d) \*\*(.+?)\*\*(?: \[external:[^\]]*\])? ?(.*)$")
# A chain break about one day starts with that day; one about the anchor names none.
BREAK_DAY = re.compile(r"^(\d{4}-\d{2}-\d{2}): (.*)$", re.DOTALL)

BREAK_KIND = "chain break"
REPAIR_KIND = "repair"
ANCHOR_NAME = ".heads.json"
ANCHOR_DAYS = 31  # older days keep their head in the next day's header
ANCHOR = "the chain-head anchor"


@dataclass
class LogCheck:
    """What verify found for one day's log. Not `intact` whenever a reader should look; `known`
    when the log itself recorded the break (a "chain break" entry) when it was found."""

    path: Path
    intact: bool
    line: int | None = None
    reason: str = ""
    entries: int = 0
    known: bool = False

    def __str__(self) -> str:
        if self.intact:
            return f"{self.path}: intact ({self.entries} entries)"
        where = f"{self.path}:{self.line}" if self.line is not None else str(self.path)
        return f"{where}: {self.reason}"


@dataclass(frozen=True)
class ChainHead:
    """Where one day's chain ended, as recorded outside its file: `entries` entries (0: the
    header alone), the last one's hash (the header's when there is none)."""

    day: date
    entries: int
    hash: str


@dataclass(frozen=True)
class _Break:
    """A "chain break" entry: what an append found at the end of the chain and wrote down."""

    path: Path  # the file that holds the entry
    line: int
    at: str  # HH:MM:SS
    about: date | None  # the day it is about; None: the anchor itself
    what: str


@dataclass
class _Chain:
    """One log file as read: its chain, the head of the day before as its header records it,
    and the first place where the chain does not hold."""

    path: Path
    day: date | None
    lines: int
    header_hash: str
    hashes: list[str] = field(default_factory=list)  # each entry's hash as written, in order
    after: ChainHead | None = None
    chained_header: bool = False  # the header has a chain comment (written since anchoring)
    breaks: list[_Break] = field(default_factory=list)  # only those before `problem`
    problem: LogCheck | None = None

    @property
    def entries(self) -> int:
        return len(self.hashes)

    @property
    def head(self) -> str:
        return self.hashes[-1] if self.hashes else self.header_hash

    def holds(self, claim: ChainHead) -> bool:
        """Whether this file still has the head `claim` records (entries after it are fine: a
        late entry for an earlier day, or an anchor one write behind after a crash)."""
        if self.entries < claim.entries:
            return False
        at = self.hashes[claim.entries - 1] if claim.entries else self.header_hash
        return hmac.compare_digest(at, claim.hash)


@dataclass(frozen=True)
class _Tip:
    """Where this process left a file: its size, entry count and chain head. A file of another
    size (or an anchor that no longer says so) was changed meanwhile (a crash, another DailyLog
    on the folder, a hand) and is taken up again before the next append; `header` is set while
    the file is still to be started."""

    size: int
    entries: int
    head: str
    header: str | None = None


class DailyLog:
    def __init__(self, logs_dir: Path, clock: Clock, *, key: bytes = b"") -> None:
        self.logs_dir = logs_dir
        self._clock = clock
        self._key = key
        self._mutex = threading.Lock()
        self._tips: dict[Path, _Tip] = {}  # where this process left each file it appended to
        # What this DailyLog found at the end of the chain and recorded as "chain break"
        # entries: the engine tells the user.
        self.breaks_found: list[str] = []

    @property
    def anchor_path(self) -> Path:
        return self.logs_dir / ANCHOR_NAME

    def path_for(self, day: date) -> Path:
        return self.logs_dir / f"{day:%Y}" / f"{day:%m}" / f"{day:%Y-%m-%d}.md"

    def _hash(self, previous: str, body: str) -> str:
        digest = hmac.new(self._key, f"{previous}\n{body}".encode(), hashlib.sha256)
        return digest.hexdigest()[:16]

    def read(self, day: date) -> str:
        path = self.path_for(day)
        return path.read_text(encoding="utf-8") if path.exists() else ""

    # -- appending -------------------------------------------------------------------------

    def append(self, kind: str, text: str, *, external_source: str | None = None,
               at: datetime | None = None) -> Path:
        """Add one entry. Text from outside the user (a channel, a PR, a file) is marked with its
        source so a later reader can tell it from the user's own words."""
        when = at or self._clock.now()
        day = when.date()
        path = self.path_for(day)
        body = _entry_body(when, kind, text, external_source)
        with self._mutex:
            heads, anchor_problem = self._read_anchor()
            tip = self._tips.get(path)
            notes: list[str] = []
            if tip is None or tip.size != _size(path) or heads is None \
                    or heads.get(day) != ChainHead(day, tip.entries, tip.head):
                tip, notes, heads = self._take_up(path, day, when, heads, anchor_problem)
            text_out = f"{tip.header}\n\n" if tip.header else ""
            head, entries = tip.head, tip.entries
            for each in [*notes, body]:
                head = self._hash(head, each)
                entries += 1
                text_out += f"{each} <!-- {head} -->\n"
            size = append_bytes(path, text_out.encode("utf-8"))
            self._tips[path] = _Tip(size, entries, head)
            # Only once the entries are on disk: the anchor may lag the file, never lead it.
            heads[day] = ChainHead(day, entries, head)
            self._write_anchor(heads)
        return path

    def _take_up(self, path: Path, day: date, when: datetime,
                 heads: dict[date, ChainHead] | None, anchor_problem: str,
                 ) -> tuple[_Tip, list[str], dict[date, ChainHead]]:
        """Before appending to a file this process did not just write: repair torn tails (this
        file's, and the day before's when this one starts), check that the end of the chain is
        what the anchor recorded, and start the file with a header naming the day before's head.
        Returns where the chain goes on from, the entries to write first ("repair", "chain
        break"), and the heads to anchor."""
        notes: list[str] = []
        files = self._day_files()
        before = next((p for d, p in reversed(files) if d < day), None)
        self._repair(path, when, notes)
        starting = not _size(path)
        if starting and before is not None:
            self._repair(before, when, notes)
        chain = None if starting else self._read_chain(path)
        findings, heads = self._end_findings(day, chain, files, heads, anchor_problem)
        for finding in findings:
            log.warning("%s: a chain break: %s", path, finding)
            self.breaks_found.append(finding)
            notes.append(_entry_body(when, BREAK_KIND, finding))
        if chain is not None:
            return _Tip(_size(path) or 0, chain.entries, chain.head), notes, heads
        previous = self._read_chain(before) if before is not None else None
        if previous is not None and previous.day is not None:
            comment = f"after {previous.day} #{previous.entries} {previous.head}"
        else:
            comment = "chain start"
        header = f"# {when:%A %d %B %Y} <!-- {comment} -->"
        return _Tip(0, 0, self._hash("", header), header), notes, heads

    @staticmethod
    def _repair(path: Path, when: datetime, notes: list[str]) -> None:
        torn = repair_torn_tail(path, ends_record=_ends_entry)
        if torn is not None:
            notes.append(_entry_body(when, REPAIR_KIND, (
                f"{path.name} ended in a torn entry (a crash mid-write): its {torn.size} "
                f"byte(s) were moved to {torn.torn_path.name} beside it")))

    def _end_findings(self, day: date, chain: _Chain | None, files: list[tuple[date, Path]],
                      heads: dict[date, ChainHead] | None, anchor_problem: str,
                      ) -> tuple[list[str], dict[date, ChainHead]]:
        """What is wrong with the end of the chain, as texts for "chain break" entries, and the
        heads to anchor from now on: a finding's day is anchored at what is there (or dropped
        when its file is gone), since the break entry now records what was missing."""
        if heads is None:
            newest = self._read_chain(files[-1][1]) if files else None
            expected = anchor_problem != "missing" or (newest is not None
                                                       and newest.chained_header)
            return ([_anchor_problem_text(anchor_problem)] if expected else []), {}
        if not heads:
            return [], heads
        tip_day = max(heads)
        tip = chain if tip_day == day else self._read_chain(self.path_for(tip_day))
        ended = _end_problem(tip_day, tip, [(heads[tip_day], ANCHOR)])
        if ended is None:
            return [], heads
        if tip is None:
            del heads[tip_day]
        else:
            heads[tip_day] = ChainHead(tip_day, tip.entries, tip.head)
        return [f"{tip_day}: {ended[0]}"], heads

    # -- the anchor ------------------------------------------------------------------------

    def _anchor_mac(self, stored: dict[str, Any]) -> str:
        data = json.dumps(stored, sort_keys=True, separators=(",", ":")).encode()
        return hmac.new(self._key, b"chain heads\n" + data, hashlib.sha256).hexdigest()[:32]

    def _read_anchor(self) -> tuple[dict[date, ChainHead] | None, str]:
        """The anchored heads by day, or None and why not: "missing", "unreadable", "edited"."""
        try:
            raw = self.anchor_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None, "missing"
        try:
            data = json.loads(raw)
            stored, mac = data["heads"], str(data["mac"])
            heads = {date.fromisoformat(d): ChainHead(date.fromisoformat(d), int(n), str(h))
                     for d, (n, h) in stored.items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            return None, "unreadable"
        if not hmac.compare_digest(mac, self._anchor_mac(stored)):
            return None, "edited"
        return heads, ""

    def _write_anchor(self, heads: dict[date, ChainHead]) -> None:
        stored = {d.isoformat(): [heads[d].entries, heads[d].hash]
                  for d in sorted(heads)[-ANCHOR_DAYS:]}
        data = json.dumps({"heads": stored, "mac": self._anchor_mac(stored)}) + "\n"
        try:  # one write behind after a power cut is fine (see _Chain.holds): no folder fsync
            atomic_write_bytes(self.anchor_path, data.encode(), mode=PRIVATE_FILE_MODE,
                               sync_dir=False)
        except OSError as exc:  # the entry is written; the next append anchors it again
            log.warning("could not write %s: %s", self.anchor_path, exc)

    # -- reading and verifying ---------------------------------------------------------------

    def _day_files(self) -> list[tuple[date, Path]]:
        """The logs named by a day, oldest first."""
        found = []
        for path in self.logs_dir.glob("*/*/*.md"):
            day = _day_of(path)
            if day is not None and path == self.path_for(day):
                found.append((day, path))
        return sorted(found)

    def _read_chain(self, path: Path) -> _Chain | None:
        """Walk a file's chain (None when there is no file); the first entry whose hash does not
        follow is its problem. The walk goes on to the end, counting entries as written, so an
        append continues from the file's real last hash."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        first = lines[0] if lines else ""
        chain = _Chain(path, _day_of(path), len(lines), self._hash("", first))
        if not first.startswith("# "):
            chain.problem = LogCheck(path, False, 1, "the header line is missing or changed")
        elif found := HEADER_CHAIN.search(first):
            chain.chained_header = True
            if found.group(1):
                chain.after = ChainHead(date.fromisoformat(found.group(1)),
                                        int(found.group(2)), found.group(3))
        previous = chain.header_hash
        i = 1
        while i < len(lines):
            line = lines[i]
            if line == "" and i == 1:
                i += 1
                continue
            if not line.startswith("- "):
                chain.problem = chain.problem or LogCheck(
                    path, False, i + 1, "a line that belongs to no entry (inserted, or an "
                    "entry was split)", chain.entries)
                i += 1
                continue
            start = i
            block = [line]
            while i + 1 < len(lines) and lines[i + 1].startswith("    "):
                i += 1
                block.append(lines[i])
            i += 1
            mark = ENTRY_HASH.search(block[-1])
            if not mark:
                chain.problem = chain.problem or LogCheck(
                    path, False, start + 1, "an entry without its hash (inserted or edited)",
                    chain.entries)
                continue
            block[-1] = block[-1][:mark.start()]
            if chain.problem is None:
                if not hmac.compare_digest(self._hash(previous, "\n".join(block)), mark[1]):
                    chain.problem = LogCheck(
                        path, False, start + 1, "this entry does not match its hash (edited, "
                        "inserted, or an entry before it was removed)", chain.entries)
                elif (kind := ENTRY_KIND.match(block[0])) and kind[2] == BREAK_KIND:
                    chain.breaks.append(_break(path, start + 1, kind[1],
                                               "\n".join([kind[3], *(b[4:] for b in block[1:])])))
            previous = mark[1]
            chain.hashes.append(mark[1])
        problem = chain.problem
        if problem is not None and problem.entries == chain.entries and problem.line != 1 \
                and problem.reason.startswith(("a line that", "an entry without")):
            # Nothing complete after it: what the next append moves aside as a torn tail.
            problem.reason = (f"a torn last entry (a crash mid-write, or an unfinished edit): "
                              f"the next append moves it to {path.name}.torn")
        return chain

    def verify(self, path: Path) -> LogCheck:
        """Check one day's log: its chain, then its end against the next day's header and the
        anchor, then whether a break about it was recorded."""
        files = self._day_files()
        day = _day_of(path)
        later = [p for d, p in files if day is not None and d > day]
        chain = self._read_chain(path)
        successor = self._read_chain(later[0]) if later else None
        heads, anchor_problem = self._read_anchor()
        breaks = [*(chain.breaks if chain else []), *(successor.breaks if successor else [])]
        return self._check(path, day, chain, successor, heads, anchor_problem,
                           newest=chain is not None and day is not None and not later,
                           breaks=breaks)

    def verify_all(self) -> list[LogCheck]:
        """Every log, and every day that something names but whose file is gone."""
        files = self._day_files()
        chains = {day: self._read_chain(path) for day, path in files}
        heads, anchor_problem = self._read_anchor()
        breaks = [b for c in chains.values() if c for b in c.breaks]
        named = {c.after.day for c in chains.values() if c and c.after}
        named |= set(heads or ()) | {b.about for b in breaks if b.about}
        present = sorted(chains)
        newest = present[-1] if present else None
        checks = []
        for day in sorted(set(present) | named):
            chain = chains.get(day)
            after = bisect.bisect_right(present, day)
            successor = chains[present[after]] if after < len(present) else None
            check = self._check(self.path_for(day), day, chain, successor, heads,
                                anchor_problem, newest=day == newest, breaks=breaks)
            if chain is not None or not check.intact:
                checks.append(check)
        day_paths = {path for _, path in files}
        for path in sorted(self.logs_dir.rglob("*.md")):
            if path not in day_paths:  # a log not named by a day: its chain alone
                other = self._read_chain(path)
                if other is not None:
                    checks.append(other.problem or LogCheck(path, True, entries=other.entries))
        return sorted(checks, key=lambda c: str(c.path))

    def _check(self, path: Path, day: date | None, chain: _Chain | None,
               successor: _Chain | None, heads: dict[date, ChainHead] | None,
               anchor_problem: str, *, newest: bool, breaks: list[_Break]) -> LogCheck:
        # In this order: the chain itself, its end, the anchor (the newest day's only witness),
        # then a break recorded about it.
        if chain is not None and chain.problem is not None:
            return chain.problem
        entries = chain.entries if chain else 0
        claims: list[tuple[ChainHead, str]] = []
        if day is not None and successor and successor.after and successor.after.day == day:
            claims.append((successor.after, f"{successor.day}'s header"))
        if day is not None and heads and day in heads:
            claims.append((heads[day], ANCHOR))
        ended = _end_problem(day, chain, claims) if day is not None else None
        if ended is not None:
            return LogCheck(path, False, ended[1], ended[0], entries)
        if newest and chain is not None and heads is None and (
                anchor_problem != "missing" or chain.chained_header):
            return LogCheck(path, False, chain.lines + 1, _anchor_problem_text(anchor_problem),
                            entries)
        for found in breaks:
            here = found.path == path
            if found.about == day or (here and found.about is None):
                where = "" if here else f" in {found.path.name}"
                line = found.line if here else (chain.lines + 1 if chain else None)
                return LogCheck(path, False, line,
                                f"known break, recorded{where} at {found.at}: {found.what}",
                                entries, known=True)
        return LogCheck(path, True, entries=entries)


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def _day_of(path: Path) -> date | None:
    try:
        return date.fromisoformat(path.stem)
    except ValueError:
        return None


def _entry_body(when: datetime, kind: str, text: str, external_source: str | None = None) -> str:
    """An entry without its hash marker. Continuation lines are indented: no text can make a
    line that reads as an entry of its own."""
    first, *rest = (text.rstrip() or "(empty)").splitlines() or ["(empty)"]
    marker = f" [external:{external_source}]" if external_source else ""
    lines = [f"- {when:%H:%M:%S} **{kind}**{marker} {first}"]
    lines += [f"    {line}" for line in rest]
    return "\n".join(lines)


def _ends_entry(line: bytes) -> bool:
    """Where a log's complete records end, for repair_torn_tail: an entry's hash marker, or the
    header and the blank line after it. Anything after the last of these is a torn entry."""
    return ENTRY_HASH_BYTES.search(line) is not None or line.startswith(b"# ") or line == b""


def _break(path: Path, line: int, at: str, text: str) -> _Break:
    found = BREAK_DAY.match(text)
    if found is None:
        return _Break(path, line, at, None, text)
    try:
        return _Break(path, line, at, date.fromisoformat(found[1]), found[2])
    except ValueError:
        return _Break(path, line, at, None, text)


def _end_problem(day: date, chain: _Chain | None, claims: list[tuple[ChainHead, str]],
                 ) -> tuple[str, int | None] | None:
    """What is missing at the end of `day`'s log by the heads recorded of it (the largest claim
    that fails, naming every source that records it), and the line where it is missing."""
    failing = [(claim, source) for claim, source in claims
               if chain is None or not chain.holds(claim)]
    if not failing:
        return None
    claim = max((c for c, _ in failing), key=lambda c: c.entries)
    sources = [source for c, source in failing if c == claim]
    names = " and ".join(sources)
    if chain is None:
        verb = "names" if len(sources) == 1 else "name"
        return f"{day} is missing: {names} {verb} its head (entry {claim.entries})", None
    if chain.entries >= claim.entries:
        what = (f"the end was rewritten: entry {claim.entries} is not the chain head recorded "
                f"for {day}")
    elif chain.entries == 0:
        what = (f"the file was cut to its header: the chain head recorded for {day} is entry "
                f"{claim.entries}")
    else:
        missing = claim.entries - chain.entries
        what = (f"{missing} {'entry' if missing == 1 else 'entries'} missing at the end: the "
                f"chain head recorded for {day} is entry {claim.entries}, the file ends at "
                f"{chain.entries}")
    return f"{what} (per {names})", chain.lines + 1


def _anchor_problem_text(problem: str) -> str:
    what = {"missing": "is missing", "unreadable": "cannot be read",
            "edited": "does not match its key (edited or replaced)"}[problem]
    return (f"{ANCHOR} ({ANCHOR_NAME}) {what}: the end of the log up to here cannot be checked "
            "against it")
