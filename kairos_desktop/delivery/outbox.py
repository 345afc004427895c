"""Messages for the user (SendUserMessage), kept in the store so that the CLI, the panel and a
notebook can read them after the fact, read or unread."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from ..clock import Clock
from ..store import Store

TABLE = "messages"
# "push": a PushNotification, kept in the chat too (it raises no second notification).
MessageStatus = Literal["normal", "proactive", "system", "push"]


class Outbox:
    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def add(self, text: str, status: MessageStatus, attachments: list[str] | None = None,
            *, session_id: str | None = None) -> dict[str, Any]:
        record = {
            "id": uuid.uuid4().hex[:12],
            "text": text,
            "status": status,
            "attachments": list(attachments or []),
            "createdAt": self._clock.now().isoformat(timespec="seconds"),
            "sessionId": session_id,
            "read": False,
        }
        self._store.insert(TABLE, record)
        return record

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        docs = self._store.all(TABLE)
        return [{k: v for k, v in d.items() if k != "_id"} for d in docs[-limit:]]

    def mark_read(self, message_id: str) -> bool:
        return self._store.update(TABLE, {"read": True}, id=message_id) > 0
