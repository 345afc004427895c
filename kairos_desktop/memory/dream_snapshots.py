"""Dream snapshots: the topic files and MEMORY.md as they were before each dream run, kept in
memory/.dreams/<run-id>/, so any run can be undone and a failed one leaves no half-written memory.
The run records (history/dreams/YYYY-MM.jsonl, one per run; how it ended is a patch on it) say
what each run touched; they grow with every run, so they stay out of the store."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from ..errors import KairosError
from ..history import month_of
from ..journal import DailyLog
from ..store import Store
from .files import MemoryFiles

KIND = "dreams"
DREAMS_TABLE = "dreams"  # where store.json held the runs before (migration.py moves them)
KEEP_SNAPSHOTS = 10
RUNS_SHOWN = 50


class DreamSnapshots:
    def __init__(self, memory: MemoryFiles, store: Store, daily_log: DailyLog) -> None:
        self.memory = memory
        self._history = store.history(KIND)
        self._log = daily_log
        self.folder = memory.root / ".dreams"

    def take(self, run_id: str) -> Path:
        target = self.folder / run_id
        (target / "topics").mkdir(parents=True, exist_ok=True)
        if self.memory.index_path.exists():
            shutil.copy2(self.memory.index_path, target / "MEMORY.md")
        if self.memory.topics_dir.exists():
            for topic in self.memory.topics_dir.glob("*.md"):
                shutil.copy2(topic, target / "topics" / topic.name)
        return target

    def restore(self, snapshot: Path) -> None:
        self.memory.topics_dir.mkdir(parents=True, exist_ok=True)
        for topic in self.memory.topics_dir.glob("*.md"):
            topic.unlink()
        for topic in (snapshot / "topics").glob("*.md"):
            shutil.copy2(topic, self.memory.topics_dir / topic.name)
        saved_index = snapshot / "MEMORY.md"
        if saved_index.exists():
            shutil.copy2(saved_index, self.memory.index_path)
        elif self.memory.index_path.exists():
            self.memory.index_path.unlink()

    def started(self, record: dict[str, Any]) -> None:
        """A run began: its record (id, startedAt, status "running", ...)."""
        self._history.append(record, month=month_of(record["startedAt"]))

    def ended(self, run_id: str, changes: dict[str, Any]) -> None:
        """How the run ended (status, summary, endedAt, ...), as a patch on its record."""
        self._history.update(run_id, changes)

    def runs(self, limit: int = RUNS_SHOWN) -> list[dict[str, Any]]:
        """The newest `limit` runs, oldest first."""
        return self._history.newest(limit)

    def undo(self) -> str:
        """Put memory back as it was before the last completed dream; returns its run id."""
        done = self._history.newest(1, where=lambda r: r.get("status") == "done")
        if not done:
            raise KairosError("there is no completed dream to undo")
        last = done[-1]
        snapshot = Path(last["snapshot"])
        if not snapshot.exists():
            raise KairosError(f"the snapshot of dream {last['id']} is gone ({snapshot})")
        self.restore(snapshot)
        self._history.update(last["id"], {"status": "undone"})
        self._log.append("dream", f"undone: memory restored to before dream {last['id']}")
        return last["id"]

    def prune(self) -> None:
        keep = {Path(r["snapshot"]).name for r in self.runs(KEEP_SNAPSHOTS)}
        if not self.folder.exists():
            return
        for folder in self.folder.iterdir():
            if folder.is_dir() and folder.name not in keep:
                shutil.rmtree(folder, ignore_errors=True)
