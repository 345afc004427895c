"""Open a file or its folder with what the user's system uses for it.

KAIROS_OPENER overrides the command (tests point it at a script that records the call; a user
can point it at their own file manager)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path


def _run(args: list[str]) -> None:
    subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)


def open_path(path: Path) -> None:
    """Open `path` with its default application."""
    override = os.environ.get("KAIROS_OPENER")
    if override:
        _run([*shlex.split(override), str(path)])
    elif sys.platform == "darwin":
        _run(["open", str(path)])
    elif sys.platform == "win32":
        os.startfile(path)  # type: ignore[attr-defined]
    else:
        _run(["xdg-open", str(path)])


def show_in_folder(path: Path) -> None:
    """Reveal `path` in the file manager (select it where the platform can)."""
    override = os.environ.get("KAIROS_OPENER")
    if override:
        _run([*shlex.split(override), "--reveal", str(path)])
    elif sys.platform == "darwin":
        _run(["open", "-R", str(path)])
    elif sys.platform == "win32":
        _run(["explorer", f"/select,{path}"])
    else:
        _run(["xdg-open", str(path.parent)])
