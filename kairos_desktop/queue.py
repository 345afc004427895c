"""The inbound queue: everything that should reach the model, kept durably until a turn used it.

Sources (the user, cron, notifications, channels...) put items here; the heartbeat loop drains
them at the start of a turn and acks them once the turn is stored. Items live in the store's
`inbound` table from put() to ack(), so a crash or a failed model call loses nothing. An arrival
sets an asyncio.Event that a sleeping loop waits on: wake-up is immediate, nothing polls.

An item the model API refuses for its own content (a paste past the context window, a bad image)
would block everything behind it forever: the loop sets it aside into the `held` table instead,
with the reason, in the same store transaction that acks the rest of its turn. A held item is
never dropped on its own: the user lists it, retries it (it goes back into the queue) or drops it.
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

from .errors import NotFoundError
from .store import Store

Priority = Literal["now", "next", "later"]
PRIORITY_RANK: dict[str, int] = {"now": 0, "next": 1, "later": 2}
TABLE = "inbound"
HELD_TABLE = "held"
PREVIEW_CHARS = 200


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

    def view(self) -> dict[str, Any]:
        """What a front end lists: the item without its (possibly huge) text."""
        return {"id": self.id, "kind": self.kind, "source": self.source,
                "priority": self.priority, "createdAt": self.created_at,
                "preview": preview(self.text), "chars": len(self.text)}


def preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[:PREVIEW_CHARS - 3] + "..."


@dataclass
class HeldItem:
    """A queued item set aside: the model API refused it for its content."""

    item: InboundItem
    reason: str  # the API's refusal, in words
    held_at: str
    status: int | None = None  # the HTTP status of the refusal
    file: str | None = None  # where its text was handed to the user as a file, if it was

    def to_doc(self) -> dict[str, Any]:
        return {"item": self.item.to_doc(), "id": self.item.id, "reason": self.reason,
                "heldAt": self.held_at, "status": self.status, "file": self.file}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> HeldItem:
        return cls(InboundItem.from_doc(doc["item"]), str(doc.get("reason", "")),
                   str(doc.get("heldAt", "")), doc.get("status"), doc.get("file"))

    def view(self) -> dict[str, Any]:
        return {**self.item.view(), "heldAt": self.held_at, "reason": self.reason,
                "status": self.status, "file": self.file}


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
        self.settle(ack=ids)

    def settle(self, *, ack: list[str], hold: list[HeldItem] | None = None) -> None:
        """In ONE store transaction: the `ack`ed items leave the queue, the `hold` ones move to
        the held list (kept with their reason until the user retries or drops them)."""
        held = list(hold or [])
        gone = set(ack) | {h.item.id for h in held}
        if not gone:
            return

        def write(db: TinyDB) -> None:
            db.table(TABLE, cache_size=0).remove(lambda d: d.get("id") in gone)
            if held:
                table = db.table(HELD_TABLE, cache_size=0)
                ids = {h.item.id for h in held}
                table.remove(lambda d: d.get("id") in ids)  # held again: the newest reason
                table.insert_multiple(h.to_doc() for h in held)

        self._store.transact(write)
        with self._mutex:
            for item_id in gone:
                self._items.pop(item_id, None)

    # -- held items --------------------------------------------------------------------------

    def held(self) -> list[HeldItem]:
        """Items set aside, oldest first (a short list: nothing else adds to it)."""
        return [HeldItem.from_doc(d) for d in self._store.all(HELD_TABLE)]

    def get_held(self, item_id: str) -> HeldItem:
        found = self._store.find(HELD_TABLE, id=item_id)
        if not found:
            raise NotFoundError(f"no held item with id {item_id!r} (`kairos queue` lists them)")
        return HeldItem.from_doc(found[0])

    def note_held_file(self, item_id: str, path: str) -> None:
        """Record where a held item's text was handed to the user as a file."""
        self._store.update(HELD_TABLE, {"file": path}, id=item_id)

    def retry_held(self, item_id: str) -> InboundItem:
        """Put a held item back into the queue (same id, same words) and wake the loop."""
        item = self.get_held(item_id).item

        def write(db: TinyDB) -> None:
            db.table(HELD_TABLE, cache_size=0).remove(lambda d: d.get("id") == item_id)
            db.table(TABLE, cache_size=0).insert(item.to_doc())

        self._store.transact(write)
        with self._mutex:
            self._items[item.id] = (next(self._seq), item)
        if item.wakes:
            self._signal()
        return item

    def drop_held(self, item_id: str) -> HeldItem:
        """Remove a held item for good (the user's decision); returns what it was."""
        held = self.get_held(item_id)
        self._store.transact(lambda db: db.table(HELD_TABLE, cache_size=0).remove(
            lambda d: d.get("id") == item_id))
        return held

    def __len__(self) -> int:
        with self._mutex:
            return len(self._items)
