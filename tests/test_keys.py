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


def test_the_keyring_is_not_asked_for_a_key_this_home_never_stored_there(
        home: Home, secret_service: None) -> None:
    import keyring

    # A key sits in the keyring under this home's name, but not put there by this home (by
    # hand, or by an older version): reading it would be the keyring's first call, the one
    # that prompts on a fresh account. Only the marker written by save() makes it read.
    keyring.set_password("kairos", f"anthropic-api-key:{home.root}", KEY)
    store = home.api_keys()
    assert store.in_keyring is False and store.load() == (None, None)
    store.save(KEY)
    marker = home.root / "secrets" / "keyring.json"
    assert stat.S_IMODE(marker.stat().st_mode) == 0o600
    assert store.in_keyring is True and store.load() == (KEY, "keyring")
    store.clear()
    assert not marker.exists() and store.load() == (None, None)


def test_a_key_removed_from_the_keyring_by_hand_is_not_asked_for_again(
        home: Home, secret_service: None) -> None:
    import keyring

    store = home.api_keys()
    store.save(KEY)
    keyring.delete_password("kairos", f"anthropic-api-key:{home.root}")
    assert store.load() == (None, None)
    assert store.in_keyring is False


def test_a_keyring_call_that_never_returns_is_given_up_after_its_timeout() -> None:
    import threading
    import time

    from kairos_desktop.keys import KeyringTimeoutError, bounded

    stuck = threading.Event()
    started = time.monotonic()
    with pytest.raises(KeyringTimeoutError, match=r"did not answer within 0\.2 s"):
        bounded(stuck.wait, timeout=0.2)
    assert time.monotonic() - started < 2
    stuck.set()


def test_a_stopping_app_releases_every_wait_for_the_keyring_at_once() -> None:
    import threading
    import time

    from kairos_desktop import keys
    from kairos_desktop.keys import KeyringAbandonedError, abandon_keyring_calls, bounded
    from tests.waiting import wait_until

    stuck = threading.Event()
    failures: list[BaseException] = []

    def wait() -> None:
        try:
            bounded(stuck.wait, timeout=60)
        except BaseException as exc:
            failures.append(exc)

    waiter = threading.Thread(target=wait)
    waiter.start()
    wait_until(lambda: keys._waiters, what="the waiter inside bounded()")
    started = time.monotonic()
    abandon_keyring_calls()
    waiter.join(5)
    assert time.monotonic() - started < 2
    assert [type(f) for f in failures] == [KeyringAbandonedError]
    stuck.set()


def test_the_github_token_has_the_same_home_as_the_key(home: Home,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from kairos_desktop.errors import InputError
    from kairos_desktop.keys import github_token_store

    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    store = github_token_store(home.secrets_dir, home.root)
    with pytest.raises(InputError, match="too short") as refused:
        store.save("ghp_short")
    assert refused.value.key == "githubToken"
    token = "github_pat_" + "b" * 40 + "Q9z1"
    assert store.save(token) == "file"
    assert store.info().to_dict() == {"set": True, "source": "file", "hint": "github_pat_…Q9z1"}
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_from_the_environment_000000000")
    assert store.load() == ("ghp_from_the_environment_000000000", "env")
    assert store.clear() is True
