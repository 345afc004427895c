"""What the panel shows, read from the engine's files and store: one pure function per view.

Kept apart from the control server (which only speaks HTTP) and from the engine (which runs
things), so each view's shape is tested without either. Nothing here writes.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from .delivery.outbox import Outbox
from .delivery.user_messages import UserMessages
from .journal import MARKER, DailyLog
from .memory.files import MemoryFiles
from .transcript import Transcript

USER_MESSAGES = "user_messages"  # store.json's table of them before (delivery/user_messages.py)
ENTRY = re.compile(r"^- (\d\d:\d\d:\d\d) \*\*(.+?)\*\*(.*)$")


def chat(outbox: Outbox, said: UserMessages, inbox_items: list[dict[str, Any]],
         limit: int = 100, *, before: str | None = None) -> list[dict[str, Any]]:
    """The brief view: the user's messages and the assistant's, oldest first: the newest
    `limit`, or the `limit` before the ISO time `before` (the oldest shown item's "at", else
    its "createdAt": the page above it). A page never splits the items of one instant, so the
    next page's `before` misses none. `inbox_items`: the delivered files of the same span,
    newest first. ValueError when `before` is not a time."""
    by_path = {item["path"]: item for item in inbox_items}
    items: list[dict[str, Any]] = []
    for record in outbox.recent(limit, before=before):
        items.append({
            "id": record["id"], "role": "assistant", "text": record["text"],
            "status": record["status"], "createdAt": record["createdAt"],
            "at": record.get("at"), "read": record.get("read", False),
            "attachments": [_attachment(path, by_path) for path in record["attachments"]]})
    for doc in said.recent(limit, before=before):
        items.append({"id": doc["id"], "role": "user", "text": doc["text"], "status": None,
                      "createdAt": doc["createdAt"], "at": doc.get("at"), "read": True,
                      "attachments": []})
    # A file sent on its own (SendUserFile) is the assistant's answer too: shown as one.
    attached = {path for record in items for path in
                (a["path"] for a in record["attachments"])}
    for item in inbox_items[:limit]:
        if item["path"] in attached:
            continue
        items.append({"id": f"file-{item['id']}", "role": "assistant", "kind": "file",
                      "text": item.get("title") or item["name"], "status": "file",
                      "createdAt": item["deliveredAt"], "read": True,  # opened from the inbox
                      "attachments": [_attachment(item["path"], by_path)]})
    # By the finer stamp ("at") where a record has one. Shown stamps have one-second
    # resolution, and a fast reply shares its question's second: where only those are known,
    # within a second the n-th thing the user said comes before the n-th answer (each list is
    # in its own order already), so question, answer, question, answer.
    seen: dict[tuple[datetime, bool], int] = {}
    keys: dict[int, tuple[datetime, int, bool]] = {}
    for item in items:
        fine = _instant(item.get("at") or item["createdAt"])
        second, answer = fine.replace(microsecond=0), item["role"] != "user"
        n = seen[second, answer] = seen.get((second, answer), -1) + 1
        keys[id(item)] = (fine, n, answer)
    items.sort(key=lambda item: keys[id(item)])
    return _whole_instants(items, limit)


def _whole_instants(items: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """The last `limit` of `items` (in order), and any just before them that share the first
    one's instant: the next page asks for what is before that instant."""
    if len(items) <= limit:
        return items
    start = len(items) - limit
    first = _instant(items[start].get("at") or items[start]["createdAt"])
    while start > 0 and _instant(items[start - 1].get("at")
                                 or items[start - 1]["createdAt"]) == first:
        start -= 1
    return items[start:]


def _attachment(path: str, by_path: dict[str, dict[str, Any]]) -> dict[str, Any]:
    item = by_path.get(path)
    return {"name": Path(path).name, "path": path, "inboxId": item["id"] if item else None}


def _instant(stamp: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(stamp)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def transcript_entries(transcript: Transcript, limit: int = 30) -> dict[str, Any]:
    """The transcript view: every block of the last `limit` stored turns, tool calls included."""
    entries: list[dict[str, Any]] = []
    for turn in transcript.turns[-limit:]:
        for message in turn.messages:
            role = message["role"]
            content = message["content"]
            if isinstance(content, str):
                entries.append({"at": turn.at, "role": role, "type": "text", "text": content})
                continue
            for block in content:
                entries.append(_block_entry(turn.at, role, block))
    return {"sessionId": transcript.session_id, "summary": transcript.summary,
            "entries": entries}


def _block_entry(at: str, role: str, block: dict[str, Any]) -> dict[str, Any]:
    kind = block.get("type")
    if kind == "tool_use":
        return {"at": at, "role": role, "type": "tool_use", "name": block.get("name"),
                "input": block.get("input"), "toolUseId": block.get("id")}
    if kind == "tool_result":
        content = block.get("content")
        if isinstance(content, list):
            content = "\n".join(part.get("text", "") for part in content
                                if isinstance(part, dict))
        return {"at": at, "role": role, "type": "tool_result", "text": content or "",
                "isError": bool(block.get("is_error")), "toolUseId": block.get("tool_use_id")}
    return {"at": at, "role": role, "type": "text", "text": block.get("text", "")}


def log_entries(daily_log: DailyLog, day: date, query: str = "") -> dict[str, Any]:
    """One day's log as entries (hash markers stripped), filtered by `query`."""
    text = daily_log.read(day)
    entries: list[dict[str, Any]] = []
    for line in text.splitlines():
        line = MARKER.sub("", line)
        found = ENTRY.match(line)
        if found:
            entries.append({"time": found.group(1), "kind": found.group(2),
                            "text": found.group(3).strip()})
        elif line.startswith("    ") and entries:
            entries[-1]["text"] += "\n" + line[4:]
    if query:
        needle = query.casefold()
        entries = [e for e in entries
                   if needle in e["text"].casefold() or needle in e["kind"].casefold()]
    return {"date": day.isoformat(), "dates": log_dates(daily_log.logs_dir), "entries": entries}


def log_dates(logs_dir: Path, limit: int = 400) -> list[str]:
    """Days that have a log, newest first."""
    if not logs_dir.exists():
        return []
    names = sorted((p.stem for p in logs_dir.glob("*/*/*.md")), reverse=True)
    return names[:limit]


def memory_snapshot(memory: MemoryFiles) -> dict[str, Any]:
    topics = []
    for name in memory.topics():
        path = memory.topic_path(name)
        stat = path.stat()
        topics.append({"name": name, "bytes": stat.st_size,
                       "modifiedAt": datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(
                           timespec="seconds"),
                       "text": path.read_text(encoding="utf-8")})
    return {"index": memory.read_index(), "topics": topics}


def dream_info(dream: Any, *, now: datetime, min_hours: float, max_turns: int) -> dict[str, Any]:
    """autoDream's state plus when it last ran and when it may run next."""
    last = dream.lock.last_consolidated()
    last_at = datetime.fromtimestamp(last, UTC).astimezone(now.tzinfo) if last else None
    gate = dream.gates()
    next_at: datetime | None = None  # unknown: it waits for activity, a key, or the switch
    if gate.ok:
        next_at = now
    elif last_at is not None and now < last_at + timedelta(hours=min_hours):
        next_at = last_at + timedelta(hours=min_hours)
    runs = dream.runs()
    return {
        "state": dream.state.to_dict(), "maxTurns": max_turns,
        "lastConsolidatedAt": last_at.isoformat(timespec="seconds") if last_at else None,
        "nextEligibleAt": next_at.isoformat(timespec="seconds") if next_at else None,
        "gate": {"ok": gate.ok, "reason": gate.reason}, "runs": runs,
        "canUndo": not dream.state.running and any(r["status"] == "done" for r in runs),
    }
