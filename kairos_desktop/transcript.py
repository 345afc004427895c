"""The session transcript: sessions/<id>.jsonl, append-only, one record per completed turn.

What the model sees next is rebuilt from it: the last compaction's summary plus the turns after.
Quiet ticks (a tick answered only by Sleep) are never stored, so a day of idling adds nothing to the
context and the prompt prefix stays byte-identical between ticks (the cache keeps hitting).
When the context grows past its token budget, the oldest turns are replaced by a summary that a
model wrote of them (agent/compaction.py), kept in a compaction record with the turns still in the
context; the turns it replaced stay in this file (append-only) and in the daily logs.

A crash mid-write can leave a torn last line. Before the next append it is moved to
`<id>.jsonl.torn` (atomic.repair_torn_tail), so the next record starts on a line of its own; a
complete record that an older version glued onto a torn line is still found when loading.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .atomic import append_bytes, repair_torn_tail

Message = dict[str, Any]
log = logging.getLogger(__name__)
# Where a record starts: json.dumps writes the "type" key first, with these separators.
RECORD_START = re.compile(r'\{"type": "(?:turn|compaction)"')

SLEEP_RESULT = "Woke up."


# What the API charges for one image, at most (about width x height / 750 tokens, an image being
# scaled down to about 1.15 megapixels): its base64 text must not be counted as ~4 characters a
# token, or one screenshot from a tool would make the context look full.
IMAGE_TOKENS = 1_600


def estimate_tokens(obj: Any) -> int:
    images = [0]

    def without_images(value: Any) -> Any:
        if isinstance(value, dict):
            if value.get("type") == "image" and isinstance(value.get("source"), dict):
                images[0] += 1
                return {"type": "image"}
            return {k: without_images(v) for k, v in value.items()}
        if isinstance(value, list):
            return [without_images(v) for v in value]
        return value

    text = json.dumps(without_images(obj), ensure_ascii=False)
    return (len(text) + 3) // 4 + images[0] * IMAGE_TOKENS


def acting_calls(content: list[Message]) -> list[Message]:
    """The tool_use blocks of a message's content other than Sleep: calls that act (a turn
    ending on them alone is not quiet; left without results, a stop cut them short)."""
    return [b for b in content if b.get("type") == "tool_use" and b.get("name") != "Sleep"]


def new_session_id(now: datetime) -> str:
    return f"{now:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


@dataclass
class Turn:
    messages: list[Message]
    at: str
    tokens: int = field(default=-1, compare=False)
    # Its last part was stored before the tools of its last reply ran (the loop does so since
    # calls are recorded with their deliveries): a call of it without a result may not have
    # run. A part stored after its tools ran (older versions) had them all run.
    tools_pending: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = estimate_tokens(self.messages)


@dataclass
class Transcript:
    path: Path
    session_id: str
    summary: str = ""
    turns: list[Turn] = field(default_factory=list)
    # context() is rebuilt only when the turns or the summary change (several calls per turn).
    _context: list[Message] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def open(cls, sessions_dir: Path, session_id: str) -> Transcript:
        path = sessions_dir / f"{session_id}.jsonl"
        transcript = cls(path, session_id)
        if not path.exists():
            return transcript
        with open(path, encoding="utf-8") as handle:
            for record in _records(handle):
                if record.get("type") == "turn":
                    transcript._add(record["messages"], record.get("at", ""),
                                    continues=record.get("continues") is True,
                                    tools_pending=record.get("toolsPending") is True)
                elif record.get("type") == "compaction":
                    transcript.summary = record.get("summary", "")
                    transcript.turns = [Turn(t["messages"], t.get("at", ""))
                                        for t in record.get("kept", [])]
        return transcript

    def _append(self, record: dict[str, Any]) -> None:
        torn = repair_torn_tail(self.path)
        if torn is not None:
            log.warning("%s: its last line was torn (a crash mid-write); the %d byte(s) were "
                        "moved to %s", self.path, torn.size, torn.torn_path)
        append_bytes(self.path, json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n")

    def append_turn(self, messages: list[Message], at: str, items: list[str] | None = None,
                    *, continues: bool = False, tools_pending: bool = False) -> None:
        """Store a turn, or with `continues` the next part of the last one (a turn is stored
        as it goes, so a crash keeps what it did). `items`: the ids of the inbound items it
        consumed, so a start after a crash between this append and their ack skips them.
        `tools_pending`: stored before the tools of its last reply ran (Turn.tools_pending)."""
        record: dict[str, Any] = {"type": "turn", "at": at, "messages": messages}
        if items:
            record["items"] = list(items)
        if continues:
            record["continues"] = True
        if tools_pending:
            record["toolsPending"] = True
        self._append(record)
        self._add(messages, at, continues=continues, tools_pending=tools_pending)
        self._context = None

    def _add(self, messages: list[Message], at: str, *, continues: bool,
             tools_pending: bool = False) -> None:
        if continues and self.turns:
            last = self.turns[-1]
            self.turns[-1] = Turn([*last.messages, *messages], last.at,
                                  tools_pending=tools_pending)
        else:
            self.turns.append(Turn(messages, at, tools_pending=tools_pending))

    def context(self) -> list[Message]:
        """The stored conversation, made valid for the API: it starts with a user message and
        every tool_result answers a tool_use just before it. Callers must not mutate it."""
        if self._context is None:
            self._context = self._build_context()
        return self._context

    def _build_context(self) -> list[Message]:
        messages = [m for turn in self.turns for m in turn.messages]
        if self.summary:
            note = {"type": "text", "text": (
                "<earlier-conversation compacted=\"true\">\n" + self.summary +
                "\n</earlier-conversation>")}
            if messages and messages[0]["role"] == "user":
                messages[0] = {"role": "user", "content": [note, *messages[0]["content"]]}
            else:
                messages.insert(0, {"role": "user", "content": [note]})
        return repair(messages)

    @property
    def tools_pending(self) -> bool:
        """The last turn's last part was stored before its tools ran (Turn.tools_pending)."""
        return bool(self.turns) and self.turns[-1].tools_pending

    def unanswered_tool_uses(self) -> list[Message]:
        """The tool_use blocks of the last message when it is the assistant's: calls a turn
        ended on (a Sleep), or that a crash left without their results."""
        ctx = self.context()
        if not ctx or ctx[-1]["role"] != "assistant":
            return []
        return [b for b in ctx[-1]["content"] if b.get("type") == "tool_use"]

    def context_tokens(self) -> int:
        return estimate_tokens(self.context())

    def fold_plan(self, budget_tokens: int, *, summary_tokens: int) -> list[Turn]:
        """The oldest turns to replace by a summary of at most `summary_tokens`, so that the
        context fits in half the budget (the newest turn always stays); [] while the context
        fits in the budget, or when there is only one turn."""
        if self.context_tokens() <= budget_tokens or len(self.turns) < 2:
            return []
        remaining = sum(t.tokens for t in self.turns) + summary_tokens
        count = 0
        while count < len(self.turns) - 1 and remaining > budget_tokens // 2:
            remaining -= self.turns[count].tokens
            count += 1
        return self.turns[:count]

    def fold(self, count: int, summary: str, at: str, *, by: str) -> None:
        """Replace the `count` oldest turns by `summary` (it covers the previous summary too),
        kept in a compaction record with the turns that stay and the times of those it
        replaced."""
        folded, kept = self.turns[:count], self.turns[count:]
        record: dict[str, Any] = {
            "type": "compaction", "at": at, "by": by, "summary": summary,
            "folded": {"turns": len(folded), "from": folded[0].at if folded else "",
                       "to": folded[-1].at if folded else ""},
            "kept": [{"at": t.at, "messages": t.messages} for t in kept]}
        self._append(record)
        self.summary = summary
        self.turns = kept
        self._context = None


def _records(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """The records of a transcript file. A torn line (a crash mid-write) is skipped; when an
    older version glued a complete record onto one, that record is still read: it is the first
    record start on the line from which the rest of the line parses."""
    decoder = json.JSONDecoder()
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
            for start in RECORD_START.finditer(line, 1):
                try:
                    found, end = decoder.raw_decode(line, start.start())
                except json.JSONDecodeError:
                    continue
                if end == len(line):
                    record = found
                    break
        if isinstance(record, dict):
            yield record


def repair(messages: list[Message]) -> list[Message]:
    """Drop what the API would refuse: leading assistant messages, tool_results whose tool_use is
    not in the message just before, empty messages; merge consecutive messages of one role;
    answer with a stub every tool_use the next message does not answer."""
    return _repair_onto([], messages)


def extend(valid: list[Message], tail: list[Message]) -> list[Message]:
    """repair(valid + tail) for a `valid` that repair made (a context), walking only the seam
    and the tail: the cost of a call stays that of its new messages, however long the context
    is. Neither list is mutated."""
    return _repair_onto(list(valid), tail)


def _repair_onto(out: list[Message], messages: list[Message]) -> list[Message]:
    """Repair `messages` onto `out`, which is already valid (repair's output): only its last
    message can still change (be merged into, or have tool uses to answer)."""
    settled = max(len(out) - 1, 0)  # out[:settled] and its tool answers are final
    for message in messages:
        content = list(message["content"]) if isinstance(message["content"], list) else [
            {"type": "text", "text": str(message["content"])}]
        role = message["role"]
        if role == "user":
            previous_ids = set()
            if out and out[-1]["role"] == "assistant":
                previous_ids = {b["id"] for b in out[-1]["content"] if b.get("type") == "tool_use"}
            content = [b for b in content
                       if b.get("type") != "tool_result" or b.get("tool_use_id") in previous_ids]
        if not content:
            continue
        if not out and role != "user":
            continue
        if out and out[-1]["role"] == role:
            out[-1] = {"role": role, "content": [*out[-1]["content"], *content]}
        else:
            out.append({"role": role, "content": content})
    # An assistant tool_use must be answered by the next user message; a missing one gets a stub.
    for i in range(settled, len(out) - 1):
        if out[i]["role"] != "assistant":
            continue
        asked = [b["id"] for b in out[i]["content"] if b.get("type") == "tool_use"]
        answered = {b.get("tool_use_id") for b in out[i + 1]["content"]
                    if b.get("type") == "tool_result"}
        missing = [{"type": "tool_result", "tool_use_id": tid, "content": SLEEP_RESULT}
                   for tid in asked if tid not in answered]
        if missing:
            out[i + 1] = {"role": "user", "content": [*missing, *out[i + 1]["content"]]}
    return out


def stored_item_ids(sessions_dir: Path) -> set[str]:
    """The ids of the inbound items the latest session's stored turns consumed: what a crash
    between storing a turn and acking its items left in the queue is found here."""
    session = latest_session_id(sessions_dir)
    if session is None:
        return set()
    ids: set[str] = set()
    with open(sessions_dir / f"{session}.jsonl", encoding="utf-8") as handle:
        # Only lines that can hold the key are parsed: a long session reads in milliseconds.
        lines = (line for line in handle if '"items": ["' in line)
        for record in _records(lines):
            if record.get("type") == "turn" and isinstance(record.get("items"), list):
                ids.update(str(i) for i in record["items"])
    return ids


def interrupted_turn(path: Path) -> Turn | None:
    """The last turn of the transcript at `path` when a stop cut it short: its last message is
    the model's, with calls other than Sleep that have no results (a crash after the turn was
    stored, before its tools' results were). Read from the end of the file: the cost is the
    last turn's, however long the session is."""
    turn = _last_turn(path)
    if turn is None or not turn.messages or turn.messages[-1].get("role") != "assistant":
        return None
    content = turn.messages[-1].get("content")
    blocks = content if isinstance(content, list) else []
    if acting_calls(blocks):
        return turn
    return None


def _last_turn(path: Path) -> Turn | None:
    """The file's last turn: its last turn record with the `continues` records after it. None
    when the last record is not a turn (a compaction closes its turn) or there is none."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    chunk = 1 << 16
    with open(path, "rb") as handle:
        while True:
            start = max(size - chunk, 0)
            handle.seek(start)
            data = handle.read(size - start)
            lines = data.split(b"\n")
            if start > 0:
                lines = lines[1:]  # it may start inside a line
            parts: list[dict[str, Any]] = []
            for record in reversed(list(_records(
                    line.decode("utf-8", errors="replace") for line in lines))):
                if record.get("type") != "turn":
                    return _joined(parts) if parts else None
                parts.append(record)
                if record.get("continues") is not True:
                    return _joined(parts)
            if start == 0:
                return _joined(parts) if parts else None
            chunk *= 4


def _joined(parts_newest_first: list[dict[str, Any]]) -> Turn:
    parts = list(reversed(parts_newest_first))
    return Turn([m for part in parts for m in part.get("messages", [])], parts[0].get("at", ""),
                tools_pending=parts[-1].get("toolsPending") is True)


def latest_session_id(sessions_dir: Path) -> str | None:
    files = sorted(sessions_dir.glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
    return files[-1].stem if files else None
