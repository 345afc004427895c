"""File tools: read and list within allowed folders, write only in the workspace."""

from __future__ import annotations

from pathlib import Path

import pytest

from kairos_desktop.errors import PathNotAllowedError
from kairos_desktop.paths import FolderPolicy


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
