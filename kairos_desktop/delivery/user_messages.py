"""What the user said in the chat (HomeApp.send), kept so the chat shows both sides: an
append-only history (history/user_messages/YYYY-MM.jsonl), read page by page, never the store,
so a year of conversation does not make the next message slower to send."""

from __future__ import annotations

from typing import Any

from ..history import month_of, stamped_before
from ..store import Store

KIND = "user_messages"
TABLE = "user_messages"  # where store.json held them before (migration.py moves them)


class UserMessages:
    def __init__(self, store: Store) -> None:
        self._history = store.history(KIND)

    def add(self, message_id: str, text: str, *, created_at: str, at: str) -> dict[str, Any]:
        """`created_at` the shown stamp (seconds), `at` the same instant finer (orders the
        chat)."""
        record = {"id": message_id, "text": text, "createdAt": created_at, "at": at}
        self._history.append(record, month=month_of(created_at))
        return record

    def recent(self, limit: int = 50, *, before: str | None = None) -> list[dict[str, Any]]:
        """The newest `limit` (before the ISO time `before` when given), oldest first."""
        if before is None:
            return self._history.newest(limit)
        where, until = stamped_before(before, "at", "createdAt")
        return self._history.newest(limit, where=where, until=until)
