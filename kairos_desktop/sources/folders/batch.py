"""What changed in one folder since its last summary, and the one line that tells it.

Why: one `git pull`, unzip or editor save fires dozens of file-system events; the model should
see ONE line per burst ("12 files changed in ~/notes, 3 new (ideas.md, todo.md, plan.md), 1
deleted (old.md)"), each file counted once whatever happened to it in between, within a bounded
length, with names made safe for a prompt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .rules import FolderSpec

MAX_TEXT = 600  # characters in one summary
NAMES_PER_KIND = 5  # names listed per kind before "and N more"
MAX_NAME = 60  # a longer name keeps its end (the file name), prefixed with "…"


@dataclass
class FolderBatch:
    """What changed in one folder since its last summary, each file counted once.

    Invariant: a name is in at most one of created / modified / deleted / the current names of
    moved, so the counts add up to the number of files changed. Folded in arrival order: created
    then modified is new; created then deleted is nothing; deleted then created is modified;
    created then moved is new under the new name; moved then deleted is the original deleted.
    """

    spec: FolderSpec
    first: float  # monotonic time of the first change in this batch
    last: float  # monotonic time of the latest change: the debounce runs from here
    events: int = 0
    created: dict[str, None] = field(default_factory=dict)  # dicts: sets in arrival order
    modified: dict[str, None] = field(default_factory=dict)
    deleted: dict[str, None] = field(default_factory=dict)
    moved: dict[str, str] = field(default_factory=dict)  # original name -> current name
    _moved_back: dict[str, str] = field(default_factory=dict)  # current name -> original name
    _new_dirs: set[str] = field(default_factory=set)  # directories created in this batch

    def apply(self, kind: str, name: str, dest: str = "") -> None:
        if kind == "created":
            self._created(name)
        elif kind == "modified":
            if name in self.deleted:
                del self.deleted[name]
                self.modified[name] = None
            elif not (name in self.created or name in self._moved_back):
                self.modified[name] = None
        elif kind == "deleted":
            self._deleted(name)
        elif kind == "moved":
            self._moved(name, dest)
        elif kind == "dir-created":
            # Not counted (its files report themselves), but remembered: a directory that
            # appears and vanishes, or is renamed, within the batch must not read as deleted/moved.
            self._new_dirs.add(name)

    def _created(self, name: str) -> None:
        if name in self.deleted:  # deleted, then created again: replaced
            del self.deleted[name]
            self.modified[name] = None
        elif not (name in self.modified or name in self.created or name in self._moved_back):
            self.created[name] = None

    def _deleted(self, name: str) -> None:
        if name.endswith("/"):  # a directory: what was noted inside it is gone with it
            for table in (self.created, self.modified):
                for inner in [n for n in table if n.startswith(name)]:
                    del table[inner]
            for current in [c for c in self._moved_back if c.startswith(name) and c != name]:
                self._deleted(current)
            if name in self._new_dirs:
                self._new_dirs -= {d for d in self._new_dirs if d.startswith(name)}
                return
        if name in self.created:  # appeared and vanished within the batch: nothing to tell
            del self.created[name]
        elif name in self._moved_back:  # renamed, then deleted: the original is gone
            origin = self._moved_back.pop(name)
            del self.moved[origin]
            self.deleted[origin] = None
        else:
            self.modified.pop(name, None)
            self.deleted[name] = None

    def _moved(self, old: str, new: str) -> None:
        # Whatever `new` held earlier in this batch was overwritten by the move.
        self.created.pop(new, None)
        self.modified.pop(new, None)
        was_new_dir = old in self._new_dirs
        if old.endswith("/"):
            self._rename_under(old, new)
            if was_new_dir:
                return  # a directory made in this batch: its files are new under the new name
        if old in self.created:
            del self.created[old]
            self.created[new] = None
        elif old in self._moved_back:  # renamed twice: one rename from the original
            origin = self._moved_back.pop(old)
            del self.moved[origin]
            if origin == new:  # back where it started: at most its content changed
                self.modified[new] = None
            else:
                self.moved[origin] = new
                self._moved_back[new] = origin
        else:
            self.modified.pop(old, None)
            self.moved[old] = new
            self._moved_back[new] = old

    def _rename_under(self, old: str, new: str) -> None:
        """Names inside a renamed directory follow it (watchdog's per-child moves are skipped)."""
        def renamed(name: str) -> str:
            return new + name[len(old):] if name.startswith(old) and name != old else name

        self.created = {renamed(n): None for n in self.created}
        self.modified = {renamed(n): None for n in self.modified}
        self.moved = {o: renamed(c) for o, c in self.moved.items()}
        self._moved_back = {c: o for o, c in self.moved.items()}
        self._new_dirs = {new if d == old else renamed(d) for d in self._new_dirs}

    @property
    def changed(self) -> int:
        return len(self.created) + len(self.modified) + len(self.deleted) + len(self.moved)

    def summary(self) -> dict[str, Any]:
        return {"display": self.spec.display, "changed": self.changed,
                "new": list(self.created), "modified": list(self.modified),
                "deleted": list(self.deleted), "moved": [[o, c] for o, c in self.moved.items()],
                "events": self.events}


def _shown(name: str) -> str:
    """A file name made safe for one line of a prompt: no control characters, bounded length."""
    clean = "".join(c if c.isprintable() else "?" for c in name)
    return clean if len(clean) <= MAX_NAME else "…" + clean[-(MAX_NAME - 1):]


def _listing(names: list[str], limit: int) -> str:
    if limit <= 0 or not names:
        return ""
    shown = ", ".join(names[:limit])
    rest = len(names) - limit
    return f" ({shown} and {rest} more)" if rest > 0 else f" ({shown})"


def summarize(batch: FolderBatch) -> str:
    """One human line, within MAX_TEXT characters: the counts always, as many names as fit."""
    total = batch.changed
    head = f"{total} file{'' if total == 1 else 's'} changed in {batch.spec.display}"
    kinds = [
        ("new", [_shown(n) for n in batch.created]),
        ("modified", [_shown(n) for n in batch.modified]),
        ("deleted", [_shown(n) for n in batch.deleted]),
        ("moved", [f"{_shown(o)} → {_shown(c)}" for o, c in batch.moved.items()]),
    ]
    text = head
    for limit in (NAMES_PER_KIND, 3, 1, 0):
        parts = [head] + [f"{len(names)} {word}{_listing(names, limit)}"
                          for word, names in kinds if names]
        text = ", ".join(parts)
        if len(text) <= MAX_TEXT:
            return text
    return text[:MAX_TEXT - 1] + "…"


