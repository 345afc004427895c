"""SendUserFile: only allowed sources, never an overwrite, the file recorded with its hash."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from kairos_desktop.clock import FakeClock
from kairos_desktop.delivery.inbox import Inbox
from kairos_desktop.errors import PathNotAllowedError
from kairos_desktop.store import Store
from tests.conftest import EngineFactory, wait_sleeping, write_settings
from tests.fakes.anthropic_server import FakeAnthropic, tool_use


@pytest.fixture
def inbox(tmp_path: Path, clock: FakeClock) -> Inbox:
    return Inbox(Store(tmp_path / "store.json"), tmp_path / "Inbox", clock, max_bytes=1_000)


def test_a_delivered_file_is_copied_and_recorded_with_size_and_sha256(
        inbox: Inbox, tmp_path: Path) -> None:
    source = tmp_path / "report.md"
    source.write_text("# Weekly report\n")
    record = inbox.deliver(source, title="Weekly report")
    assert Path(record["path"]).read_text() == "# Weekly report\n"
    assert record["size"] == 16
    assert record["sha256"] == hashlib.sha256(b"# Weekly report\n").hexdigest()
    assert record["read"] is False and record["deliveredAt"] == "2026-11-22T09:00:00+01:00"
    assert inbox.items()[0]["id"] == record["id"]


def test_a_second_file_with_the_same_name_never_overwrites_the_first(
        inbox: Inbox, tmp_path: Path) -> None:
    source = tmp_path / "report.md"
    source.write_text("first")
    first = inbox.deliver(source)
    source.write_text("second")
    second = inbox.deliver(source)
    third = inbox.deliver(source)
    assert Path(first["path"]).read_text() == "first"
    assert Path(second["path"]).name == "report (2).md"
    assert Path(third["path"]).name == "report (3).md"
    assert sorted(p.name for p in inbox.folder.iterdir()) == [
        "report (2).md", "report (3).md", "report.md"]  # no temp files left behind


def test_a_file_over_the_size_limit_is_refused(inbox: Inbox, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(b"x" * 1_001)
    with pytest.raises(PathNotAllowedError, match="over the inbox limit of 1,000 bytes"):
        inbox.deliver(source)


async def test_send_user_file_refuses_paths_outside_the_allowed_folders(
        make_engine: EngineFactory, fake: FakeAnthropic, home, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("password")
    (home.workspace_dir / "escape").symlink_to(secret)
    fake.enqueue(tool_use("SendUserFile", {"path": str(secret)}),
                 tool_use("SendUserFile", {"path": "../../secret.txt"}),
                 tool_use("SendUserFile", {"path": "escape"}),
                 tool_use("Sleep", {"seconds": 600}))
    engine = make_engine()
    await engine.start(control_api=False)
    await wait_sleeping(engine, 1)
    results = [r.messages[-1]["content"][0] for r in fake.history[1:]]
    assert all(r["is_error"] for r in results)
    assert all("is outside the folders the assistant may read" in r["content"] for r in results)
    assert engine.inbox.items() == []
    assert not (tmp_path / "inbox").exists() or os.listdir(tmp_path / "inbox") == []


async def test_send_user_file_delivers_from_the_workspace_and_an_allowed_folder(
        make_engine: EngineFactory, fake: FakeAnthropic, home, tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("buy milk")
    write_settings(home, {"allowedFolders": [str(notes)]})
    (home.workspace_dir / "summary.md").write_text("all good")
    fake.enqueue(tool_use("SendUserFile", {"path": "summary.md", "title": "Summary"}),
                 tool_use("SendUserFile", {"path": str(notes / "todo.txt")}),
                 tool_use("Sleep", {"seconds": 600}))
    engine = make_engine()
    await engine.start(control_api=False)
    await wait_sleeping(engine, 1)
    names = sorted(p.name for p in (tmp_path / "inbox").iterdir())
    assert names == ["summary.md", "todo.txt"]
    assert [i["title"] for i in engine.inbox.items()] == ["todo.txt", "Summary"]
