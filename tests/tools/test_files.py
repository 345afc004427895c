"""File tools: read and list within allowed folders, write only in the workspace."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from kairos_desktop.errors import PathNotAllowedError
from kairos_desktop.paths import FolderPolicy
from tests.conftest import EngineFactory, wait_sleeping
from tests.fakes.anthropic_server import FakeAnthropic, tool_use, tool_uses


@pytest.fixture
def policy(tmp_path: Path) -> FolderPolicy:
    (tmp_path / "workspace").mkdir()
    (tmp_path / "notes").mkdir()
    return FolderPolicy(tmp_path / "workspace", [str(tmp_path / "notes")])


def test_reading_is_allowed_in_the_workspace_and_allowed_folders(
        policy: FolderPolicy, tmp_path: Path) -> None:
    (tmp_path / "notes" / "a.md").write_text("a")
    (tmp_path / "workspace" / "b.md").write_text("b")
    assert policy.readable(str(tmp_path / "notes" / "a.md")).read_text() == "a"
    assert policy.readable("b.md").read_text() == "b"


def test_dotdot_and_symlinks_cannot_escape(policy: FolderPolicy, tmp_path: Path) -> None:
    (tmp_path / "private.txt").write_text("no")
    (tmp_path / "notes" / "link").symlink_to(tmp_path / "private.txt")
    for raw in ("../private.txt", str(tmp_path / "notes" / "link"), "/etc/passwd"):
        with pytest.raises(PathNotAllowedError, match="outside the folders"):
            policy.readable(raw)


def test_writing_is_only_allowed_inside_the_workspace(
        policy: FolderPolicy, tmp_path: Path) -> None:
    assert policy.writable("drafts/x.md") == (tmp_path / "workspace" / "drafts" / "x.md")
    for raw in ("../x.md", str(tmp_path / "notes" / "x.md")):
        with pytest.raises(PathNotAllowedError, match="outside the workspace"):
            policy.writable(raw)
    (tmp_path / "workspace" / "out").symlink_to(tmp_path / "notes" / "x.md")
    with pytest.raises(PathNotAllowedError, match="symbolic link"):
        policy.writable("out")
    (tmp_path / "workspace" / "dir").symlink_to(tmp_path / "notes")
    with pytest.raises(PathNotAllowedError, match="outside the workspace"):
        policy.writable("dir/x.md")


async def test_read_file_says_what_a_path_is_when_it_is_not_a_file_and_never_blocks(
        make_engine: EngineFactory, fake: FakeAnthropic) -> None:
    engine = make_engine()
    workspace = engine.home.workspace_dir
    workspace.mkdir(parents=True, exist_ok=True)
    os.mkfifo(workspace / "pipe")  # opening it for reading would wait for a writer
    (workspace / "folder").mkdir()
    (workspace / "note.txt").write_text("hello")
    names = ["pipe", "folder", "note.txt"]
    listener = None
    if len(str(workspace / "sock")) < 100:  # a socket's path has a short limit
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(str(workspace / "sock"))
        names.append("sock")
    fake.enqueue(tool_uses(*[("ReadFile", {"path": name}) for name in names]),
                 tool_use("Sleep", {"seconds": 3000}))
    await engine.start(control_api=False)
    try:
        await wait_sleeping(engine, 1)
    finally:
        if listener is not None:
            listener.close()
    results = {name: (block["content"], block.get("is_error", False)) for name, block in
               zip(names, fake.history[1].messages[-1]["content"], strict=True)}
    failed = "ReadFile failed: "
    assert results["pipe"] == (f"{failed}'pipe' is a named pipe, not a regular file", True)
    assert results["folder"] == (f"{failed}'folder' is a folder; use ListFiles", True)
    assert results["note.txt"] == ("hello", False)
    if listener is not None:
        assert results["sock"] == (f"{failed}'sock' is a socket, not a regular file", True)
