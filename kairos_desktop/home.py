"""The home: every file the assistant owns, in one folder (KAIROS_HOME overrides the default).

Layout (DESIGN.md "On disk") is created on first use. The home lock makes one process the owner:
the running app holds it for its whole life; a CLI command with no app running holds it while it
works on the files directly.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from platformdirs import user_data_dir, user_downloads_dir

from .errors import HomeLockedError

HOME_ENV = "KAIROS_HOME"


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
        for folder in (self.root, self.sessions_dir, self.memory_dir / "topics", self.logs_dir,
                       self.workspace_dir, self.run_dir):
            folder.mkdir(parents=True, exist_ok=True)
        return self

    def log_key(self) -> bytes:
        """The per-home secret that keys the daily logs' hash chain (made on first use)."""
        path = self.secrets_dir / "log-key"
        if not path.exists():
            self.secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
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
