"""The home: private by default (an old home is fixed when opened), and one owner at a time."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kairos_desktop.errors import HomeLockedError
from kairos_desktop.home import Home, HomeLock


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


# -- the home lock ---------------------------------------------------------------------------

HOLD_THE_LOCK = """
import json, os, sys, time
from kairos_desktop.home import Home
home = Home(sys.argv[1])
with home.locked():
    if "app" in sys.argv[2:]:  # the running app: its control API is up
        home.control_file.write_text(json.dumps({"pid": os.getpid(), "port": 4321}))
    print("locked", flush=True)
    if "briefly" in sys.argv[2:]:
        time.sleep(1.0)  # a `kairos` command at work on the files
    else:
        sys.stdin.read()  # until the test lets go
"""
REPO = Path(__file__).parents[1]


def hold_the_lock(root: Path, *how: str) -> subprocess.Popen[str]:
    """A second process that holds the home's lock: it returns once the lock is taken."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD_THE_LOCK, str(root), *how], cwd=REPO,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
    return holder


def let_go(holder: subprocess.Popen[str]) -> None:
    assert holder.stdin is not None
    holder.stdin.close()
    assert holder.wait(timeout=15) == 0


def test_a_start_waits_for_a_command_that_holds_the_home_for_a_moment(tmp_path: Path) -> None:
    home = Home(tmp_path / "home").ensure()
    holder = hold_the_lock(home.root, "briefly")
    try:
        with home.locked() as lock:  # what `kairos run` does at start
            assert lock.held
            assert home.lock_file.read_text() == str(os.getpid())
    finally:
        let_go(holder)


def test_a_start_refused_names_the_process_that_holds_the_home(tmp_path: Path) -> None:
    home = Home(tmp_path / "home").ensure()
    holder = hold_the_lock(home.root)
    try:
        with pytest.raises(HomeLockedError) as refused:
            HomeLock(home.lock_file).acquire(wait=0.3)
    finally:
        let_go(holder)
    assert str(refused.value) == (
        f"another kairos process is using the home {home.root}: pid {holder.pid}, running (no "
        "control API: a `kairos` command working on the files, or the app starting up); "
        "waited 0.3 s")


def test_a_refusal_by_the_running_app_names_its_control_port(tmp_path: Path) -> None:
    home = Home(tmp_path / "home").ensure()
    holder = hold_the_lock(home.root, "app")
    try:
        with pytest.raises(HomeLockedError) as refused:
            HomeLock(home.lock_file).acquire(wait=0)
    finally:
        let_go(holder)
    assert f"pid {holder.pid}, running (the app, control API port 4321)" in str(refused.value)


def test_a_control_file_left_by_a_process_that_is_gone_names_no_running_app(
        tmp_path: Path) -> None:
    home = Home(tmp_path / "home").ensure()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    home.control_file.write_text(json.dumps({"pid": int(gone.stdout), "port": 4321}))
    assert home.read_control() is None  # stale: a crash left it behind
    home.control_file.write_text(json.dumps({"pid": os.getpid(), "port": 4321}))
    assert home.read_control() == {"pid": os.getpid(), "port": 4321}
