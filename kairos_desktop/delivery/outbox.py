"""Messages for the user (SendUserMessage), kept so that the CLI, the panel and a notebook can
read them after the fact, read or unread: in an append-only history (history/messages/
YYYY-MM.jsonl), never the store, so that years of messages cost nothing on the next write. Read
page by page: the newest (`recent`), older ones before a time (`recent(before=)`, the chat's
scrolling up) and every one oldest first (`page`, `kairos messages --all`). A message read is a
patch on its record, in its month."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from ..clock import Clock
from ..history import month_of, stamped_before
from ..store import Store

KIND = "messages"
TABLE = "messages"  # where store.json held them before (migration.py moves them)
# "push": a PushNotification, kept in the chat too (it raises no second notification).
MessageStatus = Literal["normal", "proactive", "system", "push"]


class Outbox:
    def __init__(self, store: Store, clock: Clock) -> None:
        self._history = store.history(KIND)
        self._clock = clock

    def add(self, text: str, status: MessageStatus, attachments: list[str] | None = None,
            *, session_id: str | None = None, call_id: str | None = None) -> dict[str, Any]:
        """`call_id`: the model's tool call that sent it (kept in the record, in the same
        write, so a start after a crash knows the call was done: Deliveries.done_by)."""
        record: dict[str, Any] = {
            "id": uuid.uuid4().hex[:12],
            "text": text,
            "status": status,
            "attachments": list(attachments or []),
            "createdAt": self._clock.now().isoformat(timespec="seconds"),
            # The same instant, finer: orders a fast reply after its question in the chat.
            "at": self._clock.now().isoformat(timespec="microseconds"),
            "sessionId": session_id,
            "read": False,
        }
        if call_id is not None:
            record["callId"] = call_id
        self._history.append(record, month=month_of(str(record["createdAt"])))
        return record

    def recent(self, limit: int = 50, *, before: str | None = None) -> list[dict[str, Any]]:
        """The newest `limit` messages (sent before the ISO time `before` when given), oldest
        first; reads only the months it needs."""
        if before is None:
            return self._history.newest(limit)
        where, until = stamped_before(before, "at", "createdAt")
        return self._history.newest(limit, where=where, until=until)

    def page(self, after: str | None = None, limit: int = 500
             ) -> tuple[list[dict[str, Any]], str | None]:
        """Every message oldest first, `limit` at a time: (this page, the cursor of the next,
        None after the last). ValueError for a cursor that is not one."""
        return self._history.page(after, limit)

    def mark_read(self, message_id: str) -> bool:
        return self._history.update(message_id, {"read": True}) is not None
