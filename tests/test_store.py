"""The store survives kills: the atomic storage leaves the old file or the new one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from kairos_desktop.errors import StoreCorruptError
from kairos_desktop.store import Store

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
