"""Dream snapshots: the topic files and MEMORY.md as they were before each dream run, kept in
memory/.dreams/<run-id>/, so any run can be undone and a failed one leaves no half-written memory.
The run records (store table `dreams`) say what each run touched."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from ..errors import KairosError
from ..journal import DailyLog
from ..store import Store
from .files import MemoryFiles

DREAMS_TABLE = "dreams"
KEEP_SNAPSHOTS = 10


class DreamSnapshots:
    def __init__(self, memory: MemoryFiles, store: Store, daily_log: DailyLog) -> None:
        self.memory = memory
        self._store = store
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

    def runs(self) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k != "_id"} for r in self._store.all(DREAMS_TABLE)]

    def undo(self) -> str:
        """Put memory back as it was before the last completed dream; returns its run id."""
        done = [r for r in self.runs() if r["status"] == "done"]
        if not done:
            raise KairosError("there is no completed dream to undo")
        last = done[-1]
        snapshot = Path(last["snapshot"])
        if not snapshot.exists():
            raise KairosError(f"the snapshot of dream {last['id']} is gone ({snapshot})")
        self.restore(snapshot)
        self._store.update(DREAMS_TABLE, {"status": "undone"}, id=last["id"])
        self._log.append("dream", f"undone: memory restored to before dream {last['id']}")
        return last["id"]

    def prune(self) -> None:
        keep = {Path(r["snapshot"]).name for r in self.runs()[-KEEP_SNAPSHOTS:]}
        if not self.folder.exists():
            return
        for folder in self.folder.iterdir():
            if folder.is_dir() and folder.name not in keep:
                shutil.rmtree(folder, ignore_errors=True)
