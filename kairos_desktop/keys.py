"""Where the Anthropic API key lives: the OS keyring where one works, else a 0600 file.

ANTHROPIC_API_KEY in the environment wins over both (a user who exports it expects that). The key
is never logged and never shown back in full: callers get a hint ("sk-ant-…wxyz"). The keyring is
tried lazily (importing `keyring` costs about 70 ms) and only used when its backend is one that
keyring itself recommends (priority >= 1: Secret Service, KWallet, the macOS Keychain, the
Windows Credential Locker). The "fail" backend of a headless Linux, and keyrings.alt's plaintext
file, are no better than our own 0600 file, so they count as no keyring.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .atomic import atomic_write_text
from .errors import ApiKeyError

log = logging.getLogger(__name__)

KEYRING_SERVICE = "kairos"  # the GitHub token lives there too, as user "github"
Source = Literal["env", "keyring", "file"]


@dataclass(frozen=True)
class KeyInfo:
    """What the panel and `kairos status` may show about the key."""

    set: bool
    source: Source | None
    hint: str | None

    @classmethod
    def of(cls, key: str | None, source: Source | None) -> KeyInfo:
        return cls(True, source, key_hint(key)) if key else cls(False, None, None)

    def to_dict(self) -> dict[str, Any]:
        return {"set": self.set, "source": self.source, "hint": self.hint}


def key_hint(key: str) -> str:
    prefix = "sk-ant-" if key.startswith("sk-ant-") else key[:3]
    return f"{prefix}…{key[-4:]}"


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


def usable_keyring() -> Any | None:
    """The keyring module when its active backend is a recommended secret store, else None."""
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


class ApiKeyStore:
    def __init__(self, key_file: Path, *, account: str) -> None:
        """`account`: the keyring user name; it names the home, so two homes keep two keys."""
        self.key_file = key_file
        self.account = account

    def load_local(self) -> tuple[str | None, Source | None]:
        """The environment or the file: instant, never asks the keyring."""
        env = os.environ.get("ANTHROPIC_API_KEY", "").strip()
        if env:
            return env, "env"
        if self.key_file.exists():
            text = self.key_file.read_text(encoding="utf-8").strip()
            if text:
                return text, "file"
        return None, None

    def load(self) -> tuple[str | None, Source | None]:
        """The environment, the file (written only where no keyring works), the keyring. The
        keyring may be slow: a locked one shows the user an unlock prompt."""
        key, source = self.load_local()
        if key:
            return key, source
        ring = usable_keyring()
        if ring is not None:
            try:
                stored = ring.get_password(KEYRING_SERVICE, self.account)
            except Exception as exc:
                log.warning("reading the keyring failed: %s", exc)
                stored = None
            if stored:
                return stored, "keyring"
        return None, None

    def info(self) -> KeyInfo:
        return KeyInfo.of(*self.load())

    def save(self, key: str) -> Source:
        """Store `key` in the keyring (removing any file copy) or, without one, in the file."""
        key = check_key_format(key)
        ring = usable_keyring()
        if ring is not None:
            try:
                ring.set_password(KEYRING_SERVICE, self.account, key)
            except Exception as exc:
                log.warning("the keyring refused the key (%s); using the file instead",
                            type(exc).__name__)
            else:
                with contextlib.suppress(FileNotFoundError):
                    self.key_file.unlink()
                return "keyring"
        self.key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write_text(self.key_file, key + "\n", mode=0o600)
        return "file"

    def clear(self) -> bool:
        """Remove the stored key from both places; True when something was removed."""
        removed = False
        ring = usable_keyring()
        if ring is not None:
            with contextlib.suppress(Exception):
                if ring.get_password(KEYRING_SERVICE, self.account):
                    ring.delete_password(KEYRING_SERVICE, self.account)
                    removed = True
        if self.key_file.exists():
            self.key_file.unlink()
            removed = True
        return removed
