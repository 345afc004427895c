"""The store survives kills: the atomic storage leaves the old file or the new one."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from kairos_desktop.errors import StoreCorruptError
from kairos_desktop.home import Home
from kairos_desktop.model_types import Usage
from kairos_desktop.offline import OfflineApp
from kairos_desktop.store import Store
from tests.conftest import EngineFactory
from tests.fakes.anthropic_server import FakeAnthropic, tool_use

WRITER = """
import sys
from kairos_desktop.store import Store
store = Store(__import__("pathlib").Path(sys.argv[1]))
i = 0
print("ready", flush=True)
while True:
    i += 1
    store.insert("inbound", {"n": i, "pad": "x" * 2000})
"""


def test_a_kill_during_store_writes_leaves_a_readable_store(tmp_path: Path) -> None:
    path = tmp_path / "store.json"
    seen_counts = []
    for attempt in range(6):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(0.05 + attempt * 0.029)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        data = json.loads(path.read_text())  # never half a file
        rows = data.get("inbound", {})
        seen_counts.append(len(rows))
        assert all(row["pad"] == "x" * 2000 for row in rows.values())
    assert seen_counts[-1] > seen_counts[0]  # writes really happened between kills
    Store(path, owner=True)  # the next owner drops temp files of interrupted writes
    assert [p.name for p in tmp_path.iterdir()] == ["store.json"]


def test_a_corrupt_store_is_refused_with_a_clear_message_and_left_untouched(
        tmp_path: Path) -> None:
    path = tmp_path / "store.json"
    path.write_text('{"inbound": {"1": ')
    with pytest.raises(StoreCorruptError, match=r"not valid JSON.*left untouched"):
        Store(path)
    assert path.read_text() == '{"inbound": {"1": '


def test_quarantine_moves_a_corrupt_store_aside(tmp_path: Path) -> None:
    path = tmp_path / "store.json"
    path.write_text("garbage")
    moved = Store.quarantine(path, datetime(2026, 11, 22, 9, 0))
    assert moved.name == "store.json.corrupt-20261122T090000"
    assert moved.read_text() == "garbage" and not path.exists()
    path.write_text("more garbage")  # again within the same second: the first one is kept
    again = Store.quarantine(path, datetime(2026, 11, 22, 9, 0))
    assert again.name == "store.json.corrupt-20261122T090000-2"
    assert (moved.read_text(), again.read_text()) == ("garbage", "more garbage")


@pytest.mark.parametrize(("content", "says"), [
    (b"", "is empty (0 bytes)"),
    (b"\n  \n", "is empty (4 bytes)"),
    (b"\xff\xfe{not text", "is not text"),
    (b"[1, 2]", "does not hold a JSON object"),
])
def test_an_empty_or_unreadable_store_is_corrupt_never_an_empty_store(
        tmp_path: Path, content: bytes, says: str) -> None:
    path = tmp_path / "store.json"
    path.write_bytes(content)
    with pytest.raises(StoreCorruptError, match=re.escape(says)):
        Store(path)
    assert path.read_bytes() == content


# -- at start, the user hears of it in the chat --------------------------------------------------

CORRUPT = [b"", b'{"inbound": {"1": {"text": "call the dentist"'
                b'}}, "messages": {"1": {"text": "hi"']


@pytest.mark.parametrize("content", CORRUPT, ids=["empty", "torn"])
async def test_a_corrupt_store_is_moved_aside_and_the_user_told_in_the_chat_once(
        make_engine: EngineFactory, fake: FakeAnthropic, home: Home, content: bytes) -> None:
    home.store_file.write_bytes(content)
    fake.on_empty = tool_use("Sleep", {"seconds": 3000})
    engine = make_engine()
    await engine.start(control_api=False)
    [moved] = home.root.glob("store.json.corrupt-*")
    assert moved.read_bytes() == content  # kept as it was
    [said] = [m for m in engine.app.chat() if m["status"] == "system"]
    text = said["text"]
    assert f"{home.store_file}" in text and f"moved to {moved}" in text
    assert ("it is empty (0 bytes)" if not content else "it is not valid JSON") in text
    assert "Nothing in it is lost" in text and "still in the moved file" in text
    [shown] = [n for n in engine.notifier.sent if "stored data moved aside" in n.title]
    assert moved.name in shown.body
    await engine.stop()

    again = make_engine()
    await again.start(control_api=False)
    assert [m for m in again.app.chat() if m["status"] == "system"] == [said]  # not told twice
    assert list(home.root.glob("store.json.corrupt-*")) == [moved]


async def test_a_store_an_offline_command_moved_aside_is_told_at_the_next_start(
        make_engine: EngineFactory, fake: FakeAnthropic, home: Home) -> None:
    home.store_file.write_bytes(b"")
    with OfflineApp.open(home) as app:
        app.send("are you there?")
    [moved] = home.root.glob("store.json.corrupt-*")
    fake.on_empty = tool_use("Sleep", {"seconds": 3000})
    engine = make_engine()
    await engine.start(control_api=False)
    said = [m["text"] for m in engine.app.chat() if m["status"] == "system"]
    assert len(said) == 1 and f"moved to {moved}" in said[0]
    assert any("stored data moved aside" in n.title for n in engine.notifier.sent)


def test_documents_round_trip(tmp_path: Path) -> None:
    store = Store(tmp_path / "store.json")
    store.insert("inbox", {"id": "a", "read": False})
    assert store.update("inbox", {"read": True}, id="a") == 1
    assert Store(tmp_path / "store.json").find("inbox", id="a")[0]["read"] is True


def test_a_transaction_writes_several_tables_in_one_replace_or_not_at_all(
        tmp_path: Path) -> None:
    path = tmp_path / "store.json"
    store = Store(path)
    store.insert("scheduled_tasks", {"id": "t1", "lastFiredAt": None})
    inode = path.stat().st_ino

    def fire(db) -> None:
        db.table("scheduled_tasks").update({"lastFiredAt": "09:00"})
        db.table("inbound").insert({"id": "i1"})
        assert path.stat().st_ino == inode  # nothing on disk yet

    store.transact(fire)
    data = json.loads(path.read_text())
    assert data["inbound"]["1"]["id"] == "i1"
    assert data["scheduled_tasks"]["1"]["lastFiredAt"] == "09:00"

    def broken(db) -> None:
        db.table("inbound").insert({"id": "i2"})
        raise RuntimeError("crash mid-transaction")

    with pytest.raises(RuntimeError):
        store.transact(broken)
    assert [d["id"] for d in store.all("inbound")] == ["i1"]
    assert json.loads(path.read_text()) == data


# -- what only grows is not in it ----------------------------------------------------------------


def test_store_writes_do_not_grow_with_messages(home: Home) -> None:
    """10,000 messages later, a write of the store is the size it was: they are in the
    history files, so a store write costs the same on day 1000 as on day 1."""
    calls = Usage(input_tokens=1_000, output_tokens=50, cache_read_tokens=20_000,
                  cache_write_tokens=100)
    with OfflineApp.open(home) as app:
        svc = app.services
        svc.usage.record("claude-sonnet-5-5", calls, cache_ttl="5m")
        size = home.store_file.stat().st_size
        for n in range(10_000):
            svc.outbox.add(f"message {n}: the weekly report is ready", "normal")
        app.send("thanks")
        svc.queue.ack([item.id for item in svc.queue.pending()])
        svc.usage.record("claude-sonnet-5-5", calls, cache_ttl="5m")  # a write after them
        assert home.store_file.stat().st_size <= size + 64  # the counters' digits, no more
        assert len(app.messages(20_000)) == 10_000
        shown = [i["text"] for i in app.chat(5)]
        assert "thanks" in shown and "message 9999: the weekly report is ready" in shown
