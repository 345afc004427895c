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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from tinydb import TinyDB

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
    """The store holds the truth; the in-memory mirror (same items, arrival order) spares a
    store read on every look. Only the home's owner writes the table, so the two cannot drift."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._mutex = threading.Lock()
        self._seq = itertools.count()
        self._items: dict[str, tuple[int, InboundItem]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.arrived = asyncio.Event()
        for doc in store.all(TABLE):  # items a previous run left queued come first
            item = InboundItem.from_doc(doc)
            self._items[item.id] = (next(self._seq), item)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the engine's loop; put() from other threads then wakes it safely."""
        self._loop = loop
        self.arrived = asyncio.Event()
        if any(i.wakes for i in self.pending()):
            self.arrived.set()

    def put(self, item: InboundItem) -> InboundItem:
        """Store `item` durably and wake the loop."""
        self.put_many([item])
        return item

    def put_many(self, items: list[InboundItem], *,
                 with_writes: Callable[[TinyDB], None] | None = None) -> None:
        """Store `items` and run `with_writes` in ONE store transaction (one atomic file
        replace): the scheduler marks its tasks fired there, so a task's lastFiredAt and its
        queued prompt can never disagree after a crash."""
        def write(db: TinyDB) -> None:
            db.table(TABLE, cache_size=0).insert_multiple(i.to_doc() for i in items)
            if with_writes is not None:
                with_writes(db)

        self._store.transact(write)
        with self._mutex:
            for item in items:
                self._items[item.id] = (next(self._seq), item)
        if any(i.wakes for i in items):
            self._signal()

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
        with self._mutex:
            entries = list(self._items.values())
        entries.sort(key=lambda e: (PRIORITY_RANK.get(e[1].priority, 1), e[0]))
        return [item for _, item in entries]

    def ack(self, ids: list[str]) -> None:
        if not ids:
            return
        wanted = set(ids)
        self._store.transact(
            lambda db: db.table(TABLE, cache_size=0).remove(lambda d: d.get("id") in wanted)
        )
        with self._mutex:
            for item_id in ids:
                self._items.pop(item_id, None)

    def __len__(self) -> int:
        with self._mutex:
            return len(self._items)
