"""Which changes in a watched folder are worth a word: ignore rules, and the folder as watched.

Why here, apart from the watcher: this runs on watchdog's own thread for every file-system event,
so it must be quick, must not touch the loop, and must drop noise (.git, build output, editor swap
files, the assistant's own home) before anything crosses threads. It is pure: a path and an event
in, a list of changes out.
"""

from __future__ import annotations

import fnmatch
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
)

from ...settings import WatchedFolder

# Always ignored, on top of each folder's own globs. A pattern without "/" matches any single path
# component, so "build" also hides everything inside any build/ directory.
DEFAULT_IGNORE: tuple[str, ...] = (
    ".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv", "venv", "build", "dist",
    ".DS_Store", "*.swp", "*.tmp", "*~", ".#*",
)
CASE_INSENSITIVE = sys.platform in ("win32", "darwin")  # the default file systems there

# (kind, name, destination): kind is created | modified | deleted | moved | dir-created | gone;
# names are relative to the folder with "/" separators, directories end with "/".
Change = tuple[str, str, str]


class IgnoreRules:
    """Which paths under a folder are never reported.

    As in .gitignore: a pattern with no "/" except a trailing one ("*.log", "private/") matches
    any one component of the relative path, so a directory pattern also covers everything inside
    it. A pattern with a leading or inner "/" ("/todo.md", "drafts/*.md") matches the path
    relative to the folder, or one of its parent directories; a leading "**/" lets it start at
    any depth. Unlike git, "private/" also matches a file named private.
    """

    def __init__(self, patterns: Iterable[str]) -> None:
        component: list[str] = []
        anchored: list[str] = []
        for raw in patterns:
            pattern = raw.strip().replace("\\", "/").rstrip("/")
            deep = False
            while pattern.startswith("**/"):
                pattern, deep = pattern[3:], True
            is_anchored = "/" in pattern
            pattern = pattern.lstrip("/")
            if not pattern:
                continue
            if not is_anchored:
                component.append(fnmatch.translate(pattern))
            else:
                anchored.append(("(?:.*/)?" if deep else "") + fnmatch.translate(pattern))
        flags = re.IGNORECASE if CASE_INSENSITIVE else 0
        self._component = re.compile("|".join(component), flags) if component else None
        self._anchored = re.compile("|".join(anchored), flags) if anchored else None

    def ignores(self, relative: str) -> bool:
        """`relative`: a path below the folder, "/"-separated, without a trailing "/"."""
        parts = relative.split("/")
        if self._component is not None and any(self._component.match(p) for p in parts):
            return True
        if self._anchored is not None:
            return any(self._anchored.match("/".join(parts[:i]))
                       for i in range(1, len(parts) + 1))
        return False


def display_path(path: Path) -> str:
    """`path` as the user would write it: "~" for the home directory."""
    home = Path.home()
    try:
        rest = path.relative_to(home)
    except ValueError:
        return str(path)
    return "~" if rest == Path() else str(Path("~") / rest)


@dataclass(frozen=True)
class FolderSpec:
    """One watched folder as the watchdog thread sees it. Immutable: apply_settings() swaps in
    a new one, so the handler thread never reads a half-changed spec."""

    key: str  # the resolved absolute path: what is watched, and the folder's identity
    display: str  # the configured path with "~" for home (symlinks not resolved)
    wake: bool
    rules: IgnoreRules
    exclude: tuple[str, ...] = ()  # resolved paths never reported (the assistant's own home)

    @classmethod
    def of(cls, folder: WatchedFolder, exclude: tuple[str, ...] = ()) -> FolderSpec:
        configured = Path(folder.path).expanduser().absolute()
        # Resolved: watchdog reports real paths (macOS /tmp is /private/tmp), and inotify with
        # IN_DONT_FOLLOW would watch a symlinked folder's link instead of the folder.
        return cls(key=os.path.realpath(configured), display=display_path(configured),
                   wake=folder.wake, rules=IgnoreRules([*DEFAULT_IGNORE, *folder.ignore]),
                   exclude=exclude)

    def relative(self, path: str) -> str | None:
        """`path` relative to the folder ("/"-separated), or None when it is the folder itself,
        outside it, excluded or ignored."""
        prefix = self.key.rstrip(os.sep) + os.sep
        if not path.startswith(prefix):
            return None
        if any(path == ex or path.startswith(ex + os.sep) for ex in self.exclude):
            return None
        rest = path[len(prefix):].rstrip(os.sep)
        if os.sep != "/":
            rest = rest.replace(os.sep, "/")
        if not rest or self.rules.ignores(rest):
            return None
        return rest

    def classify(self, event: FileSystemEvent) -> list[Change]:
        """What a watchdog event means for the summary; [] for noise. Runs on watchdog's thread."""
        src = os.fsdecode(event.src_path)
        slash = "/" if event.is_directory else ""
        if isinstance(event, FileMovedEvent | DirMovedEvent):
            if event.is_synthetic:
                return []  # a moved directory's children: the directory's own move says it all
            old = self.relative(src)
            new = self.relative(os.fsdecode(event.dest_path)) if event.dest_path else None
            if old is not None and new is not None:
                return [("moved", old + slash, new + slash)]
            if new is not None:  # from an ignored name (an editor's or a download's temp file)
                return [("dir-created" if slash else "modified", new + slash, "")]
            if old is not None:  # to an ignored name: gone under its visible name
                return [("deleted", old + slash, "")]
            return []
        if isinstance(event, DirDeletedEvent) and src == self.key:
            return [("gone", "", "")]
        name = self.relative(src)
        if name is None:
            return []
        if isinstance(event, FileCreatedEvent):
            return [("created", name, "")]
        if isinstance(event, FileModifiedEvent):
            return [("modified", name, "")]
        if isinstance(event, FileDeletedEvent | DirDeletedEvent):
            return [("deleted", name + slash, "")]
        if isinstance(event, DirCreatedEvent):
            return [("dir-created", name + "/", "")]
        return []


