"""Safe file writes: a reader or a crash sees a whole file or whole records, never half of one.

- `atomic_write_bytes` / `atomic_write_text` replace a file whole: a temp file in the same folder,
  fsync, os.replace.
- `append_bytes` adds to an append-only file (a transcript, a daily log): O_APPEND, fsync.
- `repair_torn_tail` runs before an append: a crash mid-append leaves a torn last record, and the
  next record would be glued onto it (one merged line that no reader can use). The fragment is
  moved to `<file>.torn` beside the file (appended there, never lost) and the file cut back to its
  last complete record, so the next record starts on a clean line. One helper for every
  append-only file: the transcript and the daily log differ only in what ends a record.
- `private_dir`: what the home holds is the user's conversations, memory and secrets, so the
  folders made here are 0700 and the appended files 0600 (the temp files of atomic writes are
  0600 already: mkstemp makes them so).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
TORN_SUFFIX = ".torn"
_CHUNK = 64 * 1024
# Without O_BINARY, Windows would write every "\n" as "\r\n".
_BINARY = getattr(os, "O_BINARY", 0)


def atomic_write_bytes(path: Path, data: bytes, *, mode: int | None = None,
                       sync_dir: bool = True) -> None:
    """Write `data` to `path` through a temp file in the same folder, fsync, then os.replace.
    `sync_dir=False` skips flushing the folder: after a power cut the file may then be the old
    one (never a torn one), for callers that tolerate a file one write behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if mode is not None and hasattr(os, "fchmod"):
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    if sync_dir:
        _fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str, *, mode: int | None = None) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


def private_dir(folder: Path) -> Path:
    """Create `folder` and each missing parent with mode 0700 (mkdir(parents=True) would give
    the parents the default 0777 & ~umask). Folders that exist are left as they are."""
    folder = Path(folder)
    missing: list[Path] = []
    probe = folder
    while not probe.exists() and probe.parent != probe:
        missing.append(probe)
        probe = probe.parent
    for each in reversed(missing):
        with contextlib.suppress(FileExistsError):
            each.mkdir(mode=PRIVATE_DIR_MODE)
    return folder


def append_bytes(path: Path, data: bytes) -> int:
    """Append `data` to `path` (created 0600, in 0700 folders) and fsync. Returns the file's
    size after the write. Callers repair a torn tail first (`repair_torn_tail`)."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _BINARY, PRIVATE_FILE_MODE)
    try:
        view = memoryview(data)
        while view:  # os.write may take less than asked: a short write is not a torn one
            view = view[os.write(fd, view):]
        os.fsync(fd)
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


@dataclass(frozen=True)
class TornTail:
    """A fragment moved out of an append-only file: where it went and how long it was."""

    path: Path
    torn_path: Path
    size: int


def torn_path_for(path: Path) -> Path:
    return path.with_name(path.name + TORN_SUFFIX)


def repair_torn_tail(path: Path, *,
                     ends_record: Callable[[bytes], bool] | None = None) -> TornTail | None:
    """Move whatever follows the last complete record of `path` to `<path>.torn`, and cut the
    file there. None when the file is missing or already ends on a complete record.

    A record ends at a newline; `ends_record(line)` (the line without its newline) narrows that
    for files whose records span lines (a daily log entry ends on its hash marker). The fragment
    reaches the .torn file (fsynced) before the file is cut: a crash in between leaves it in
    both places, never in neither."""
    try:
        fd = os.open(path, os.O_RDWR | _BINARY)
    except FileNotFoundError:
        return None
    try:
        size = os.fstat(fd).st_size
        end = _end_of_last_record(fd, size, ends_record)
        if end == size:
            return None
        os.lseek(fd, end, os.SEEK_SET)
        fragment = _read_exactly(fd, size - end)
        torn = torn_path_for(path)
        append_bytes(torn, fragment if fragment.endswith(b"\n") else fragment + b"\n")
        os.ftruncate(fd, end)
        os.fsync(fd)
    finally:
        os.close(fd)
    return TornTail(path, torn, len(fragment))


def _end_of_last_record(fd: int, size: int, ends_record: Callable[[bytes], bool] | None) -> int:
    """The offset just after the last complete record (0 when there is none), reading back
    from the end in chunks: the common case, a file that ends well, reads one chunk at most."""
    if size == 0:
        return 0
    if ends_record is None:  # any newline ends a record: the last byte tells
        os.lseek(fd, size - 1, os.SEEK_SET)
        if os.read(fd, 1) == b"\n":
            return size
    start = size  # buffer holds the file's bytes [start, size)
    buffer = b""
    scan_to = 0  # newlines in buffer[:scan_to] are still to be looked at, last first
    while True:
        newline = buffer.rfind(b"\n", 0, scan_to)
        if newline >= 0:
            if ends_record is None:
                return start + newline + 1
            line_start = buffer.rfind(b"\n", 0, newline) + 1
            if line_start > 0 or start == 0:
                if ends_record(buffer[line_start:newline].rstrip(b"\r")):
                    return start + newline + 1
                scan_to = newline
                continue
        elif start == 0:
            return 0
        # The line (or the newline) needed starts before the buffer: read the bytes before it,
        # as many as the buffer holds (doubling keeps a long last line linear to read).
        chunk_start = max(0, start - max(_CHUNK, len(buffer)))
        os.lseek(fd, chunk_start, os.SEEK_SET)
        chunk = _read_exactly(fd, start - chunk_start)
        buffer = chunk + buffer
        scan_to = (newline + 1 if newline >= 0 else scan_to) + len(chunk)
        start = chunk_start


def _read_exactly(fd: int, count: int) -> bytes:
    parts: list[bytes] = []
    while count > 0:
        part = os.read(fd, count)
        if not part:
            break
        parts.append(part)
        count -= len(part)
    return b"".join(parts)


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the directory entry is flushed (POSIX); Windows has no
    # directory handles to flush.
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
