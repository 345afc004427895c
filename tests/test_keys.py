"""The API key store: the OS keyring where a real backend is configured, else a 0600 file;
the environment wins; nothing but a hint is ever shown."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from kairos_desktop.errors import ApiKeyError
from kairos_desktop.home import Home

KEY = "sk-ant-api03-" + "a" * 80 + "9xYz"


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path / "home").ensure()


def test_without_a_keyring_the_key_goes_to_a_private_file(home: Home) -> None:
    store = home.api_keys()
    assert store.save(KEY) == "file"
    assert stat.S_IMODE(home.api_key_file.stat().st_mode) == 0o600
    assert store.info().to_dict() == {"set": True, "source": "file", "hint": "sk-ant-…9xYz"}


def test_with_a_keyring_the_key_lives_there_and_not_in_the_home(
        home: Home, secret_service: None) -> None:
    home.api_key_file.parent.mkdir(parents=True, exist_ok=True)
    home.api_key_file.write_text("sk-ant-an-older-file-key-000000\n")
    store = home.api_keys()
    assert store.save(KEY) == "keyring"
    assert not home.api_key_file.exists()  # the older plain copy is gone
    assert store.load() == (KEY, "keyring")
    assert not any(KEY in p.read_text() for p in home.root.rglob("*") if p.is_file())
    assert store.clear() is True and store.load() == (None, None)


def test_two_homes_keep_two_keys(tmp_path: Path, secret_service: None) -> None:
    first, second = Home(tmp_path / "a").ensure(), Home(tmp_path / "b").ensure()
    first.api_keys().save(KEY)
    assert second.api_keys().load() == (None, None)


def test_the_environment_wins(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    home.api_keys().save(KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-the-environment-1234")
    assert home.api_keys().info().source == "env"


@pytest.mark.parametrize(("pasted", "says"), [
    ("", "empty"), ("   ", "empty"), ("sk-ant-abc def-ghijklmnopqrstuvw", "spaces"),
    ("sk-ant-short", "too short"), ("sk-ant-ünïcode-0123456789abcdef", "unusual characters"),
])
def test_a_pasted_key_that_cannot_be_right_is_refused(home: Home, pasted: str,
                                                      says: str) -> None:
    with pytest.raises(ApiKeyError, match=says):
        home.api_keys().save(pasted)
    assert not home.api_key_file.exists()


def test_surrounding_whitespace_from_a_paste_is_dropped(home: Home) -> None:
    home.api_keys().save(f"  {KEY}\n")
    assert home.api_keys().load() == (KEY, "file")
