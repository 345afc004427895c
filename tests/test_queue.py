"""The inbound queue: priority order, durable until acked, arrivals wake a waiter at once."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from kairos_desktop.queue import InboundItem, InboundQueue
from kairos_desktop.store import Store


def test_items_come_out_by_priority_then_arrival(tmp_path: Path) -> None:
    queue = InboundQueue(Store(tmp_path / "store.json"))
    queue.put(InboundItem(kind="folder", text="a", priority="later"))
    queue.put(InboundItem(kind="user", text="b"))
    queue.put(InboundItem(kind="notification", text="c", priority="now"))
    queue.put(InboundItem(kind="user", text="d"))
    assert [i.text for i in queue.pending()] == ["c", "b", "d", "a"]


def test_items_survive_a_restart_until_acked(tmp_path: Path) -> None:
    queue = InboundQueue(Store(tmp_path / "store.json"))
    first = queue.put(InboundItem(kind="user", text="one"))
    queue.put(InboundItem(kind="user", text="two"))
    reopened = InboundQueue(Store(tmp_path / "store.json"))
    assert [i.text for i in reopened.pending()] == ["one", "two"]
    reopened.ack([first.id])
    assert [i.text for i in InboundQueue(Store(tmp_path / "store.json")).pending()] == ["two"]


async def test_a_put_from_another_thread_wakes_the_loop(tmp_path: Path) -> None:
    queue = InboundQueue(Store(tmp_path / "store.json"))
    queue.bind(asyncio.get_running_loop())
    threading.Timer(0.01, lambda: queue.put(InboundItem(kind="user", text="hi"))).start()
    await asyncio.wait_for(queue.arrived.wait(), 2)
    assert [i.text for i in queue.pending()] == ["hi"]


async def test_an_item_that_does_not_wake_stays_queued_silently(tmp_path: Path) -> None:
    queue = InboundQueue(Store(tmp_path / "store.json"))
    queue.bind(asyncio.get_running_loop())
    queue.put(InboundItem(kind="folder", text="3 files changed", wakes=False))
    assert not queue.arrived.is_set()
    assert len(queue) == 1
