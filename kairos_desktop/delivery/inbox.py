"""The inbox: files the assistant hands the user, copied into a folder they know (by default
"<Downloads>/<assistantName> Inbox") and recorded in the store.

A copy never overwrites: the final name is claimed atomically (hard link, or O_EXCL + rename
where links are not supported), so two deliveries of "report.pdf" give "report.pdf" and
"report (2).pdf", and a reader never sees a half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from ..clock import Clock
from ..errors import PathNotAllowedError
from ..events import EventBus
from ..store import Store

TABLE = "inbox"


class Inbox:
    def __init__(self, store: Store, folder: Path, clock: Clock, *, max_bytes: int,
                 bus: EventBus | None = None) -> None:
        self._store = store
        self._bus = bus
        self.folder = folder
        self._clock = clock
        self.max_bytes = max_bytes

    def deliver(self, source: Path, *, title: str | None = None,
                session_id: str | None = None) -> dict[str, Any]:
        """Copy `source` (already checked against the folder policy) into the inbox."""
        if not source.is_file():
            raise PathNotAllowedError(f"{source} is not a regular file")
        size = source.stat().st_size
        if size > self.max_bytes:
            raise PathNotAllowedError(
                f"{source.name} is {size:,} bytes, over the inbox limit of {self.max_bytes:,} "
                "bytes (setting maxInboxFileBytes)"
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        fd, tmp_name = tempfile.mkstemp(prefix=".incoming-", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            with contextlib.suppress(OSError):
                shutil.copystat(source, tmp_name)
            final = self._claim(Path(tmp_name), source.name)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
        record = {
            "id": uuid.uuid4().hex[:12],
            "name": final.name,
            "path": str(final),
            "title": title or final.name,
            "size": size,
            "sha256": digest.hexdigest(),
            "deliveredAt": self._clock.now().isoformat(timespec="seconds"),
            "sessionId": session_id,
            "read": False,
        }
        self._store.insert(TABLE, record)
        return record

    def _claim(self, tmp: Path, name: str) -> Path:
        stem, suffix = Path(name).stem, Path(name).suffix
        for n in range(1, 10_000):
            candidate = self.folder / (name if n == 1 else f"{stem} ({n}){suffix}")
            try:
                os.link(tmp, candidate)
                return candidate
            except FileExistsError:
                continue
            except OSError:
                # No hard links here (FAT, some network shares): claim the name, then rename.
                try:
                    os.close(os.open(candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                except FileExistsError:
                    continue
                os.replace(tmp, candidate)
                return candidate
        raise PathNotAllowedError(f"too many files named like {name!r} in the inbox")

    def items(self) -> list[dict[str, Any]]:
        docs = self._store.all(TABLE)  # insertion order
        return [{k: v for k, v in d.items() if k != "_id"} for d in reversed(docs)]

    def get(self, item_id: str) -> dict[str, Any] | None:
        found = self._store.find(TABLE, id=item_id)
        return {k: v for k, v in found[0].items() if k != "_id"} if found else None

    def mark_read(self, item_id: str) -> bool:
        """Mark an item read; the inbox tells every front end (the panel, the tray's menu)."""
        changed = self._store.update(TABLE, {"read": True}, id=item_id) > 0
        if changed and self._bus is not None:
            self._bus.publish("inbox", id=item_id, read=True)
        return changed
