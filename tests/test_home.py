"""The home: private by default (an old home is fixed when opened), and one owner at a time."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from kairos_desktop.home import Home


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The umask most desktops have: left alone, new files are 0644 and folders 0755."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- private by default ----------------------------------------------------------------------

PRIVATE_FILES = ("sessions/20261122-090000-abcdef.jsonl", "memory/logs/2026/11/2026-11-22.md",
                 "memory/MEMORY.md", "memory/topics/family.md", "store.json", "settings.json",
                 "run/control.json", "secrets/anthropic_api_key", "secrets/log-key")


def test_a_home_made_with_open_modes_is_made_private_when_opened(tmp_path: Path) -> None:
    root = tmp_path / "home"
    for name in PRIVATE_FILES:  # as an earlier version left them: 0644 files in 0755 folders
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("what the user said\n")
        os.chmod(path, 0o644)
    for folder in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        os.chmod(folder, 0o755)
    script = root / "memory" / "topics" / "run-me.sh"
    script.write_text("#!/bin/sh\n")
    os.chmod(script, 0o755)
    kept = root / "workspace" / "report.html"  # the assistant's own files are left as they are
    kept.parent.mkdir()
    kept.write_text("<p>shared</p>")

    home = Home(root).ensure()

    assert {name: oct(mode(root / name)) for name in PRIVATE_FILES} == \
        dict.fromkeys(PRIVATE_FILES, oct(0o600))
    folders = [root, *(p for p in root.rglob("*") if p.is_dir())]
    assert {str(p): oct(mode(p)) for p in folders} == \
        dict.fromkeys(map(str, folders), oct(0o700))
    assert mode(script) == 0o700  # private, and still runnable by its owner
    assert mode(kept) == 0o644
    assert home.secure() == []  # a second pass finds nothing left to fix


def test_a_new_home_is_private(tmp_path: Path) -> None:
    home = Home(tmp_path / "new").ensure()
    home.log_key()
    folders = [home.root, home.sessions_dir, home.memory_dir, home.logs_dir, home.run_dir,
               home.memory_dir / "topics", home.secrets_dir]
    assert [oct(mode(p)) for p in folders] == [oct(0o700)] * len(folders)
    assert mode(home.secrets_dir / "log-key") == 0o600
