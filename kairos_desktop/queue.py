"""The inbound queue: everything that should reach the model, kept durably until a turn used it.

Sources (the user, cron, notifications, channels...) put items here; the heartbeat loop drains
them at the start of a turn and acks them when the turn has ended. Items live in the store's
`inbound` table from put() to ack(), so a crash or a failed model call loses nothing. An arrival
sets an asyncio.Event that a sleeping loop waits on: wake-up is immediate, nothing polls.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from .store import Store

Priority = Literal["now", "next", "later"]
PRIORITY_RANK: dict[str, int] = {"now": 0, "next": 1, "later": 2}
TABLE = "inbound"


@dataclass
class InboundItem:
    kind: str  # user | cron | notification | channel | pr | folder | system
    text: str
    priority: Priority = "next"
    source: str = "user"
    created_at: str = ""
    # True for text from outside (channels, PR bodies, files): never the user's own words.
    external: bool = False
    wakes: bool = True
    meta: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def to_doc(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> InboundItem:
        known = {k: v for k, v in doc.items() if k in cls.__dataclass_fields__}
        return cls(**known)


class InboundQueue:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._mutex = threading.Lock()
        self._seq = itertools.count()
        self._order: dict[str, int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.arrived = asyncio.Event()
        for doc in store.all(TABLE):  # items a previous run left queued come first
            self._order[doc["id"]] = next(self._seq)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the engine's loop; put() from other threads then wakes it safely."""
        self._loop = loop
        self.arrived = asyncio.Event()
        if any(i.wakes for i in self.pending()):
            self.arrived.set()

    def put(self, item: InboundItem) -> InboundItem:
        self._store.insert(TABLE, item.to_doc())
        with self._mutex:
            self._order[item.id] = next(self._seq)
        if item.wakes:
            self._signal()
        return item

    def _signal(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self.arrived.set()
        else:
            loop.call_soon_threadsafe(self.arrived.set)

    def pending(self) -> list[InboundItem]:
        items = [InboundItem.from_doc(d) for d in self._store.all(TABLE)]
        with self._mutex:
            for item in items:
                self._order.setdefault(item.id, next(self._seq))
            order = dict(self._order)
        return sorted(items, key=lambda i: (PRIORITY_RANK.get(i.priority, 1), order[i.id]))

    def ack(self, ids: list[str]) -> None:
        if not ids:
            return
        wanted = set(ids)
        self._store.transact(
            lambda db: db.table(TABLE, cache_size=0).remove(lambda d: d.get("id") in wanted)
        )
        with self._mutex:
            for item_id in ids:
                self._order.pop(item_id, None)

    def __len__(self) -> int:
        return len(self._store.all(TABLE))
