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


# Opening one of these runs it (Windows' startfile, macOS' open, some Linux file managers): a
# file the assistant delivered must not become code run without the approval that RunCommand
# needs. They are shown in their folder instead.
RUNNABLE_SUFFIXES = frozenset({
    ".app", ".appimage", ".bat", ".cmd", ".com", ".command", ".cpl", ".desktop", ".exe", ".hta",
    ".jar", ".js", ".jse", ".lnk", ".msc", ".msi", ".pif", ".pkg", ".ps1", ".py", ".pyw",
    ".reg", ".scr", ".sh", ".url", ".vbe", ".vbs", ".workflow", ".wsf", ".wsh"})


def runs_when_opened(path: Path) -> bool:
    """True for a program or script (by type or by its executable bit)."""
    if path.suffix.lower() in RUNNABLE_SUFFIXES:
        return True
    return os.name == "posix" and path.is_file() and os.access(path, os.X_OK)


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
