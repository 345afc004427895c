"""The home: every file the assistant owns, in one folder (KAIROS_HOME overrides the default).

Layout (DESIGN.md "On disk") is created on first use. The home lock makes one process the owner:
the running app holds it for its whole life; a CLI command with no app running holds it while it
works on the files directly.

Private by default: the home holds conversations, memory and secrets, so its folders are 0700 and
its files 0600. New files are made so where they are written (atomic.py); `Home.secure()` fixes a
home an earlier version left at the umask's 0644/0755, and `ensure()` runs it on every open.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from platformdirs import user_data_dir, user_downloads_dir

from .atomic import PRIVATE_DIR_MODE, private_dir
from .errors import HomeLockedError

HOME_ENV = "KAIROS_HOME"
log = logging.getLogger(__name__)


def default_home() -> Path:
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser()
    return Path(user_data_dir("kairos", appauthor=False))


if TYPE_CHECKING:
    from .keys import ApiKeyStore


class Home:
    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_home()
        self.root = self.root.absolute()

    settings_file = property(lambda self: self.root / "settings.json")
    store_file = property(lambda self: self.root / "store.json")
    sessions_dir = property(lambda self: self.root / "sessions")
    memory_dir = property(lambda self: self.root / "memory")
    logs_dir = property(lambda self: self.root / "memory" / "logs")
    workspace_dir = property(lambda self: self.root / "workspace")
    run_dir = property(lambda self: self.root / "run")
    control_file = property(lambda self: self.root / "run" / "control.json")
    lock_file = property(lambda self: self.root / "run" / "instance.lock")
    secrets_dir = property(lambda self: self.root / "secrets")
    api_key_file = property(lambda self: self.root / "secrets" / "anthropic_api_key")

    def api_keys(self) -> ApiKeyStore:
        from .keys import ApiKeyStore

        return ApiKeyStore(self.api_key_file, account=f"anthropic-api-key:{self.root}")

    def ensure(self) -> Home:
        """Create the layout (folders 0700) and make what is already there private."""
        for folder in (self.root, self.sessions_dir, self.memory_dir / "topics", self.logs_dir,
                       self.workspace_dir, self.run_dir):
            private_dir(folder)
        self.secure()
        return self

    def secure(self) -> list[Path]:
        """Make the home private: the root and every folder in it 0700, every file without its
        group and other bits (0644 -> 0600; an owner's execute bit stays: 0755 -> 0700).
        workspace/ is made 0700 but what is inside it is the assistant's work, left as it is.
        Symlinks are not followed. Returns the paths whose mode it changed."""
        changed: list[Path] = []
        if not self.root.is_dir():
            return changed
        for folder, subfolders, files in os.walk(self.root):
            here = Path(folder)
            _set_mode(here, PRIVATE_DIR_MODE, changed)
            if here == self.workspace_dir:
                subfolders[:] = []
                continue
            for name in files:
                path = here / name
                with contextlib.suppress(OSError):
                    current = path.lstat().st_mode
                    if stat.S_ISREG(current):
                        _set_mode(path, stat.S_IMODE(current) & 0o700, changed)
        if changed:
            log.info("made %d path(s) of the home %s private", len(changed), self.root)
        return changed

    def log_key(self) -> bytes:
        """The per-home secret that keys the daily logs' hash chain (made on first use)."""
        path = self.secrets_dir / "log-key"
        if not path.exists():
            private_dir(self.secrets_dir)
            from .atomic import atomic_write_text

            atomic_write_text(path, secrets.token_hex(32) + "\n", mode=0o600)
        return bytes.fromhex(path.read_text(encoding="utf-8").strip())

    def default_inbox_dir(self, assistant_name: str) -> Path:
        return Path(user_downloads_dir()) / f"{assistant_name} Inbox"

    def read_control(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.control_file.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    @contextlib.contextmanager
    def locked(self) -> Iterator[HomeLock]:
        lock = HomeLock(self.lock_file)
        lock.acquire()
        try:
            yield lock
        finally:
            lock.release()


def _set_mode(path: Path, wanted: int, changed: list[Path]) -> None:
    try:
        if stat.S_IMODE(path.stat().st_mode) != wanted:
            os.chmod(path, wanted)
            changed.append(path)
    except OSError as exc:  # not ours (another user's file in the home), or gone meanwhile
        log.warning("could not make %s private: %s", path, exc)


class HomeLock:
    """An OS file lock (flock / msvcrt): released by the OS when the process dies, so a crash
    never leaves a stale lock behind."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None

    @property
    def held(self) -> bool:
        return self._handle is not None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the lock's life
        try:
            _lock_fd(handle)
        except OSError:
            handle.close()
            raise HomeLockedError(
                f"another kairos process is using the home {self.path.parent.parent}"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is None:
            return
        with contextlib.suppress(OSError):
            _unlock_fd(self._handle)
        self._handle.close()
        self._handle = None


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock_fd(handle: IO[str]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)

    def _unlock_fd(handle: IO[str]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock_fd(handle: IO[str]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock_fd(handle: IO[str]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
