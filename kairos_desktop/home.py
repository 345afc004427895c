"""The home: every file the assistant owns, in one folder (KAIROS_HOME overrides the default).

Layout (DESIGN.md "On disk") is created on first use. The home lock makes one process the owner:
the running app holds it for its whole life; a CLI command with no app running holds it while it
works on the files directly. So taking it waits a few seconds before giving up (a command is done
by then), and a refusal names the holder: the pid in the lock file (or run/control.json), whether
it still runs, and its control API port when it is the app. run/control.json outlives a crash, so
`read_control()` counts it only while the process it names is alive.

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
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from platformdirs import user_data_dir, user_downloads_dir

from .atomic import PRIVATE_DIR_MODE, private_dir
from .errors import HomeLockedError

HOME_ENV = "KAIROS_HOME"
LOCK_WAIT_SECONDS = 5.0  # longer than an offline command holds the home
_LOCK_POLL_SECONDS = 0.05
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
    history_dir = property(lambda self: self.root / "history")  # what only grows (history.py)
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
        if sys.platform == "win32" or not self.root.is_dir():
            return changed  # Windows: the user's profile folder's ACL keeps others out
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
        """run/control.json of the running app; None when there is none, or when the process it
        names is gone (a crash leaves the file behind: it is stale, and left for the next app to
        replace)."""
        info = _read_json(self.control_file)
        if info is None:
            return None
        pid = info.get("pid")
        if isinstance(pid, int) and not pid_alive(pid):
            return None
        return info

    @contextlib.contextmanager
    def locked(self, *, wait: float = LOCK_WAIT_SECONDS) -> Iterator[HomeLock]:
        lock = HomeLock(self.lock_file, control_file=self.control_file)
        lock.acquire(wait=wait)
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


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs (an unreaped zombie does not count, where the OS
    tells: it has ended)."""
    if pid <= 0:
        return False
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    try:  # Linux: "pid (name) S ...", the state after the last ")"
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


@dataclass(frozen=True)
class LockHolder:
    """Who holds a home's lock, as far as its files tell: the pid the holder wrote (or the one
    run/control.json names), whether it runs, and its control API port when it is the app."""

    pid: int | None
    alive: bool
    port: int | None = None

    def __str__(self) -> str:
        if self.pid is None:
            return "a process that has not written its pid yet"
        state = "running" if self.alive else "no longer running"
        what = (f"the app, control API port {self.port}" if self.port is not None else
                "no control API: a `kairos` command working on the files, or the app starting up")
        return f"pid {self.pid}, {state} ({what})"


class HomeHeldError(HomeLockedError):
    """The home's lock stayed taken for the whole wait; `holder` says by whom."""

    def __init__(self, message: str, *, holder: LockHolder) -> None:
        super().__init__(message)
        self.holder = holder


class HomeLock:
    """An OS file lock (flock / msvcrt): released by the OS when the process dies, so a crash
    never leaves a stale lock behind. The holder writes its pid into the file."""

    def __init__(self, path: Path, *, control_file: Path | None = None) -> None:
        self.path = path
        # The app's run/control.json (beside the lock unless told): names its port.
        self.control_file = control_file or path.with_name("control.json")
        self._handle: IO[str] | None = None

    @property
    def held(self) -> bool:
        return self._handle is not None

    def holder(self) -> LockHolder:
        """Who holds the lock now (or held it last: the file keeps the last holder's pid)."""
        pid: int | None = None
        with contextlib.suppress(OSError, ValueError):
            pid = int(self.path.read_text(encoding="utf-8").strip())
        control = _read_json(self.control_file) or {}
        control_pid = control.get("pid")
        if isinstance(control_pid, int) and (pid is None or (
                not pid_alive(pid) and pid_alive(control_pid))):
            pid = control_pid  # the lock file's pid is not written yet, or is a last holder's
        port = control.get("port") if pid is not None and control_pid == pid else None
        return LockHolder(pid, pid is not None and pid_alive(pid),
                          port if isinstance(port, int) else None)

    def acquire(self, *, wait: float = LOCK_WAIT_SECONDS) -> None:
        """Take the lock, waiting up to `wait` seconds for another holder to let go;
        HomeHeldError naming the holder when it does not."""
        private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        handle = open(fd, "r+", encoding="utf-8")  # noqa: SIM115 - held for the lock's life
        deadline = time.monotonic() + wait
        while True:
            try:
                _lock_fd(handle)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    handle.close()
                    holder = self.holder()
                    raise HomeHeldError(
                        f"another kairos process is using the home {self.path.parent.parent}: "
                        f"{holder}; waited {wait:g} s", holder=holder) from None
                time.sleep(_LOCK_POLL_SECONDS)
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
    import ctypes
    import msvcrt

    def _windows_pid_alive(pid: int) -> bool:
        kernel32 = ctypes.windll.kernel32
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return bool(kernel32.GetLastError() == 5)  # ERROR_ACCESS_DENIED: it exists
        try:
            code = ctypes.c_ulong()
            kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
            return code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)

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
