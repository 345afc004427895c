"""The inbox: files the assistant hands the user, copied into a folder they know (by default
"<Downloads>/<assistantName> Inbox") and recorded in the delivered-files history
(history/files/YYYY-MM.jsonl: it grows with every file, so it stays out of the store; a file
opened is a patch on its record).

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
from ..history import month_of, stamped_before
from ..store import Store

KIND = "files"
TABLE = "inbox"  # where store.json held them before (migration.py moves them)


class Inbox:
    def __init__(self, store: Store, folder: Path, clock: Clock, *, max_bytes: int,
                 bus: EventBus | None = None) -> None:
        self._history = store.history(KIND)
        self._bus = bus
        self.folder = folder
        self._clock = clock
        self.max_bytes = max_bytes

    def deliver(self, source: Path, *, title: str | None = None,
                session_id: str | None = None, call_id: str | None = None) -> dict[str, Any]:
        """Copy `source` (already checked against the folder policy) into the inbox;
        `call_id`: the model's tool call that delivered it, kept in the record."""
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
        record: dict[str, Any] = {
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
        if call_id is not None:
            record["callId"] = call_id
        self._history.append(record, month=month_of(str(record["deliveredAt"])))
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

    def items(self, limit: int | None = None, *, before: str | None = None
              ) -> list[dict[str, Any]]:
        """Delivered files, newest first: the newest `limit` (every one when None), delivered
        before the ISO time `before` when given; reads only the months it needs."""
        if limit is None and before is None:
            return list(reversed(list(self._history.all())))
        where, until = stamped_before(before, "deliveredAt") if before else (None, None)
        return list(reversed(self._history.newest(limit if limit is not None else 1 << 62,
                                                  where=where, until=until)))

    def get(self, item_id: str) -> dict[str, Any] | None:
        return self._history.find(item_id)

    def mark_read(self, item_id: str) -> bool:
        """Mark an item read; the inbox tells every front end (the panel, the tray's menu)."""
        changed = self._history.update(item_id, {"read": True}) is not None
        if changed and self._bus is not None:
            self._bus.publish("inbox", id=item_id, read=True)
        return changed
