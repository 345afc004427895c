"""Where the secrets live (the Anthropic API key, the GitHub token): the OS keyring where one
works, else a 0600 file in the home's secrets/ folder.

The environment wins over both (ANTHROPIC_API_KEY, GITHUB_TOKEN: a user who exports one expects
that). A secret is never logged and never shown back in full: callers get a hint
("sk-ant-…wxyz").

The keyring is asked only when it holds something of ours. On a fresh account any Secret Service
call (a read too) makes gnome-keyring raise "Choose password for new keyring", and a locked one
an unlock prompt: an app that reads the keyring at every start to look for a key that was never
stored there greets a new user with password dialogs. So a small marker in the home,
`secrets/keyring.json`, lists what this home stored in the keyring; it is written when the user
stores a secret there and is the only reason to read or delete one. Nothing is written to the
keyring but what the user stores.

Every keyring call is bounded: it runs on a daemon thread (never joined, so a call stuck in an
unanswered prompt cannot hold Quit, SIGTERM or the interpreter's exit) and its caller waits at
most KEYRING_TIMEOUT_S, or until `abandon_keyring_calls()` (the app is stopping) releases it. The
keyring module is imported lazily (about 70 ms) and used only when its backend is one keyring
itself recommends (priority >= 1: Secret Service, KWallet, the macOS Keychain, the Windows
Credential Locker); the "fail" backend of a headless Linux, and keyrings.alt's plaintext file,
are no better than our own 0600 file, so they count as no keyring.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from .atomic import atomic_write_text, private_dir
from .errors import ApiKeyError, InputError, KairosError

log = logging.getLogger(__name__)

KEYRING_SERVICE = "kairos"
KEYRING_TIMEOUT_S = 30.0
MARKER_NAME = "keyring.json"
Source = Literal["env", "keyring", "file"]
T = TypeVar("T")


class KeyringTimeoutError(KairosError):
    """The OS keyring did not answer in time (a locked keyring's prompt nobody answered)."""


class KeyringAbandonedError(KeyringTimeoutError):
    """The wait for the keyring was given up because the app is stopping."""


# -- bounded calls -----------------------------------------------------------------------------

_waiters: set[threading.Event] = set()
_abandoned: set[threading.Event] = set()
_waiters_lock = threading.Lock()


def abandon_keyring_calls() -> None:
    """Release every caller waiting for the keyring now (the app is stopping): each gets a
    KeyringAbandonedError at once; the stuck call itself stays on its daemon thread."""
    with _waiters_lock:
        for waiter in _waiters:
            _abandoned.add(waiter)
            waiter.set()


def bounded(fn: Callable[[], T], timeout: float = KEYRING_TIMEOUT_S) -> T:
    """`fn()` on a daemon thread; its result or its exception within `timeout` seconds, else
    KeyringTimeoutError. Blocks the calling thread (call it off an event loop)."""
    done = threading.Event()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # handed to the caller
            outcome["error"] = exc
        done.set()

    with _waiters_lock:
        _waiters.add(done)
    try:
        threading.Thread(target=work, name="kairos-keyring", daemon=True).start()
        done.wait(timeout)
    finally:
        with _waiters_lock:
            _waiters.discard(done)
            abandoned = done in _abandoned
            _abandoned.discard(done)
    if "error" in outcome:
        raise outcome["error"]
    if "value" not in outcome and abandoned:
        raise KeyringAbandonedError("the wait for the OS keyring was given up: the app is "
                                    "stopping")
    if "value" not in outcome:
        raise KeyringTimeoutError(
            f"the OS keyring did not answer within {timeout:g} s (is it locked, with an "
            "unlock prompt waiting?)")
    return outcome["value"]


async def bounded_async(fn: Callable[[], T], timeout: float = KEYRING_TIMEOUT_S) -> T:
    """`bounded(fn)` awaited without holding the loop; cancelling the caller stops the wait at
    once (the daemon thread is left to finish or to die with the process)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def work() -> None:
        try:
            value = bounded(fn, timeout)
        except BaseException as exc:
            _settle(loop, future, error=exc)
        else:
            _settle(loop, future, value=value)

    threading.Thread(target=work, name="kairos-keyring-wait", daemon=True).start()
    return await future


def _settle(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], *,
            value: Any = None, error: BaseException | None = None) -> None:
    def apply() -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)

    with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
        loop.call_soon_threadsafe(apply)


def usable_keyring() -> Any | None:
    """The keyring module when its active backend is a recommended secret store, else None.
    Choosing the backend may ask the session bus: call it through `bounded`."""
    try:
        import keyring
    except ImportError:
        return None
    try:
        backend = keyring.get_keyring()
        priority = float(backend.priority)
    except Exception as exc:  # a broken keyring configuration must not stop the app
        log.warning("keyring unavailable: %s", exc)
        return None
    return keyring if priority >= 1 else None


# -- what this home stored in the keyring -------------------------------------------------------

class KeyringMarker:
    """secrets/keyring.json: {"<secret name>": "<keyring user>"} for each secret this home put
    in the OS keyring (0600, written atomically)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def entries(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def has(self, name: str) -> bool:
        return name in self.entries()

    def _write(self, entries: dict[str, str]) -> None:
        if not entries:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            return
        private_dir(self.path.parent)
        atomic_write_text(self.path, json.dumps(entries, indent=2) + "\n", mode=0o600)

    def add(self, name: str, account: str) -> None:
        self._write({**self.entries(), name: account})

    def remove(self, name: str) -> None:
        entries = self.entries()
        if entries.pop(name, None) is not None:
            self._write(entries)


# -- one secret ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class KeyInfo:
    """What the panel and `kairos status` may show about a secret."""

    set: bool
    source: Source | None
    hint: str | None

    @classmethod
    def of(cls, key: str | None, source: Source | None) -> KeyInfo:
        return cls(True, source, key_hint(key)) if key else cls(False, None, None)

    def to_dict(self) -> dict[str, Any]:
        return {"set": self.set, "source": self.source, "hint": self.hint}


def key_hint(key: str) -> str:
    for prefix in ("sk-ant-", "github_pat_", "ghp_"):
        if key.startswith(prefix):
            return f"{prefix}…{key[-4:]}"
    return f"{key[:3]}…{key[-4:]}"


def check_key_format(key: str) -> str:
    """The key as it will be stored; ApiKeyError says what is wrong with a pasted value."""
    key = key.strip()
    if not key:
        raise ApiKeyError("the API key is empty; paste the key from console.anthropic.com")
    if any(c.isspace() for c in key) or not key.isprintable() or not key.isascii():
        raise ApiKeyError("the API key contains spaces or unusual characters; paste it again "
                          "as one line")
    if len(key) < 20:
        raise ApiKeyError("the API key is too short; Anthropic keys start with 'sk-ant-' and "
                          "are about 100 characters long")
    return key


class SecretStore:
    """One secret of a home: the environment, else the file (written only where no keyring
    works), else the keyring when the marker says this home stored it there."""

    name = "secret"
    env_var = ""

    def __init__(self, file: Path, *, account: str, timeout: float = KEYRING_TIMEOUT_S) -> None:
        """`account`: the keyring user name; it names the home, so two homes keep two."""
        self.file = file
        self.account = account
        self.timeout = timeout
        self.marker = KeyringMarker(file.parent / MARKER_NAME)

    def check(self, value: str) -> str:
        """The value as it will be stored; an error in the user's words when it cannot be."""
        value = value.strip()
        if not value or any(c.isspace() for c in value) or not value.isprintable():
            raise InputError(f"the {self.name} is empty or not one line; paste it again",
                             key=self.name)
        return value

    def load_local(self) -> tuple[str | None, Source | None]:
        """The environment or the file: instant, never asks the keyring."""
        env = os.environ.get(self.env_var, "").strip() if self.env_var else ""
        if env:
            return env, "env"
        with contextlib.suppress(FileNotFoundError):
            text = self.file.read_text(encoding="utf-8").strip()
            if text:
                return text, "file"
        return None, None

    @property
    def in_keyring(self) -> bool:
        """Whether this home stored the secret in the OS keyring (so reading it may prompt)."""
        return self.marker.has(self.name)

    def load(self) -> tuple[str | None, Source | None]:
        """load_local(), else the keyring when the marker says the secret is there. Blocks up
        to `timeout` when the keyring prompts; KeyringTimeoutError when nobody answers."""
        value, source = self.load_local()
        if value or not self.in_keyring:
            return value, source

        def read() -> str | None:
            ring = usable_keyring()
            return ring.get_password(KEYRING_SERVICE, self.account) if ring else None

        try:
            stored = bounded(read, self.timeout)
        except KeyringTimeoutError:
            raise
        except Exception as exc:
            log.warning("reading the keyring failed: %s", exc)
            return None, None
        if not stored:  # removed by hand (Seahorse, `keyring del`): stop asking
            self.marker.remove(self.name)
            return None, None
        return stored, "keyring"

    def info(self) -> KeyInfo:
        return KeyInfo.of(*self.load())

    def save(self, value: str) -> Source:
        """Store `value` in the keyring (removing any file copy) or, without one, in the file."""
        value = self.check(value)

        def write() -> bool:
            ring = usable_keyring()
            if ring is None:
                return False
            ring.set_password(KEYRING_SERVICE, self.account, value)
            return True

        try:
            stored = bounded(write, self.timeout)
        except KeyringTimeoutError:
            raise
        except Exception as exc:
            log.warning("the keyring refused the %s (%s); using the file instead", self.name,
                        type(exc).__name__)
            stored = False
        if stored:
            self.marker.add(self.name, self.account)
            with contextlib.suppress(FileNotFoundError):
                self.file.unlink()
            return "keyring"
        private_dir(self.file.parent)
        atomic_write_text(self.file, value + "\n", mode=0o600)
        return "file"

    def clear(self) -> bool:
        """Remove the stored secret from both places; True when something was removed."""
        removed = False
        if self.in_keyring:
            def delete() -> bool:
                ring = usable_keyring()
                if ring is None or not ring.get_password(KEYRING_SERVICE, self.account):
                    return False
                ring.delete_password(KEYRING_SERVICE, self.account)
                return True

            try:
                removed = bounded(delete, self.timeout)
            except KeyringTimeoutError:
                raise
            except Exception as exc:
                log.warning("removing the %s from the keyring failed: %s", self.name, exc)
            self.marker.remove(self.name)
        if self.file.exists():
            self.file.unlink()
            removed = True
        return removed


class ApiKeyStore(SecretStore):
    """The Anthropic API key (ANTHROPIC_API_KEY, secrets/anthropic_api_key, the keyring)."""

    name = "apiKey"
    env_var = "ANTHROPIC_API_KEY"

    def __init__(self, key_file: Path, *, account: str,
                 timeout: float = KEYRING_TIMEOUT_S) -> None:
        super().__init__(key_file, account=account, timeout=timeout)
        self.key_file = key_file

    def check(self, value: str) -> str:
        return check_key_format(value)


class GitHubTokenStore(SecretStore):
    """The GitHub token for private repositories (GITHUB_TOKEN, secrets/github_token, the
    keyring)."""

    name = "githubToken"
    env_var = "GITHUB_TOKEN"

    def check(self, value: str) -> str:
        value = value.strip()
        if not value:
            raise InputError("the GitHub token is empty; paste a token from "
                             "github.com/settings/tokens", key="githubToken")
        if any(c.isspace() for c in value) or not value.isprintable() or not value.isascii():
            raise InputError("the GitHub token contains spaces or unusual characters; paste "
                             "it again as one line", key="githubToken")
        if len(value) < 20:
            raise InputError("the GitHub token is too short; tokens start with 'ghp_' or "
                             "'github_pat_' and are 40 characters or more", key="githubToken")
        return value


def github_token_store(secrets_dir: Path, home_root: Path) -> GitHubTokenStore:
    return GitHubTokenStore(secrets_dir / "github_token", account=f"github-token:{home_root}")
