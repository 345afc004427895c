"""Settings: camelCase JSON, validation that names the key, a malformed file never replaced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kairos_desktop.errors import SettingsError
from kairos_desktop.settings import (
    Settings,
    load_settings,
    parse_cli_value,
    update_settings_file,
)


def test_defaults_are_safe_and_stored_in_camel_case() -> None:
    data = Settings().to_json_dict()
    assert data["assistantName"] == "Kairos"
    assert data["maxSleepDurationMs"] == 3_300_000
    assert data["allowedFolders"] == []
    assert "claude-sonnet-4-5" not in data["model"]


def test_an_invalid_value_falls_back_for_that_key_only_and_keeps_the_file(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    original = json.dumps({"assistantName": "Ada", "minSleepDurationMs": "soon"})
    path.write_text(original)
    loaded = load_settings(path)
    assert loaded.settings.assistant_name == "Ada"
    assert loaded.settings.min_sleep_duration_ms == 60_000
    assert 'minSleepDurationMs must be a whole number (not "soon"); the default (60000) is in ' \
        "use" in loaded.problems
    assert path.read_text() == original


def test_a_malformed_file_is_kept_and_defaults_are_used(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text('{"assistantName": "Ada",')
    loaded = load_settings(path)
    assert loaded.settings == Settings()
    assert not loaded.writable
    assert "is not valid JSON" in loaded.problems[0]
    with pytest.raises(SettingsError, match=r"not valid JSON.*fix it or delete it"):
        update_settings_file(path, {"assistantName": "Bob"})
    assert path.read_text() == '{"assistantName": "Ada",'


def test_unknown_keys_are_reported_and_preserved_on_write(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"fromTheFuture": 1}))
    assert "unknown key 'fromTheFuture'" in load_settings(path).problems[0]
    update_settings_file(path, {"assistantName": "Ada"})
    assert json.loads(path.read_text()) == {"fromTheFuture": 1, "assistantName": "Ada"}


def test_setting_an_unknown_key_names_it_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{}")
    with pytest.raises(SettingsError, match="unknown setting 'sleepyTime'") as info:
        update_settings_file(path, {"sleepyTime": 5})
    assert info.value.key == "sleepyTime"
    assert path.read_text() == "{}"


def test_setting_a_bad_value_names_the_key_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{}")
    with pytest.raises(SettingsError, match=r"^maxSleepDurationMs must be -1 .* or a positive"):
        update_settings_file(path, {"maxSleepDurationMs": 0})
    with pytest.raises(SettingsError, match="maxSleepDurationMs must be -1 or at least"):
        update_settings_file(path, {"maxSleepDurationMs": 30_000})
    assert path.read_text() == "{}"


def test_cli_values_are_json_when_they_parse_and_text_otherwise() -> None:
    assert parse_cli_value("120000") == 120000
    assert parse_cli_value("false") is False
    assert parse_cli_value('["~/notes"]') == ["~/notes"]
    assert parse_cli_value("Ada Lovelace") == "Ada Lovelace"


def test_minus_one_max_sleep_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    settings = update_settings_file(path, {"maxSleepDurationMs": -1})
    assert settings.max_sleep_duration_ms == -1
    assert json.loads(path.read_text()) == {"maxSleepDurationMs": -1}


# -- strict types, and every message in words ---------------------------------------------------

PYDANTIC_WORDS = ("Input should", "should match pattern", "valid dictionary", "instance of",
                  "^", "Value error", "Field required", "Extra inputs")


@pytest.mark.parametrize(("key", "value", "says"), [
    ("maxToolIterations", True, "maxToolIterations must be a whole number (not true)"),
    ("maxToolIterations", 3.0, "maxToolIterations must be a whole number (not 3.0)"),
    ("maxToolIterations", 2.5, "maxToolIterations must be a whole number (not 2.5)"),
    ("maxToolIterations", "5", 'maxToolIterations must be a whole number (not "5")'),
    ("notificationsEnabled", "yes", 'notificationsEnabled must be true or false (not "yes")'),
    ("notificationsEnabled", "true", 'notificationsEnabled must be true or false (not "true")'),
    ("notificationsEnabled", 1, "notificationsEnabled must be true or false (not 1)"),
    ("notifyBurstWindowMinutes", True, "notifyBurstWindowMinutes must be a number (not true)"),
    ("dreamMinHours", float("inf"), "dreamMinHours must be a finite number (not Infinity)"),
    ("dreamMaxDeleteShare", float("nan"), "dreamMaxDeleteShare must be a finite number"),
    ("quietHours", {"start": "25:00", "end": "07:00"},
     'quietHours.start must be a time like 22:00 (not "25:00")'),
    ("quietHours", 5, 'quietHours must be an object, like {"start": "22:00", "end": "07:00"}'),
    ("quietHours", {"start": "22:00"}, "quietHours.end is missing"),
    ("allowedFolders", [1], "allowedFolders[0] must be text (not 1)"),
    ("allowedFolders", "~/notes", 'allowedFolders must be a list, like ["~/Documents"]'),
    ("runCommandAllowlist", ["git", None], "runCommandAllowlist[1] must be text (not null)"),
    ("notifyStatuses", ["loud"], "notifyStatuses[0] must be 'normal' or 'proactive'"),
    ("watchedFolders", [{"path": "/x", "wake": "yes"}],
     'watchedFolders[0].wake must be true or false (not "yes")'),
    ("channelServers", {"a": {"command": "x", "args": "y"}},
     'channelServers.a.args must be a list (not "y")'),
    ("assistantName", "", "assistantName must not be empty"),
    ("minSleepDurationMs", -5, "minSleepDurationMs must be at least 1000 (not -5)"),
    ("inboxDir", "inbox/here", "inboxDir must be an absolute folder"),
    ("timeZone", "Mars/Olympus_Mons", "timeZone must be a time zone name such as"),
])
def test_types_are_strict_and_the_refusal_names_the_key_in_words(
        tmp_path: Path, key: str, value: object, says: str) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{}")
    with pytest.raises(SettingsError) as info:
        update_settings_file(path, {key: value})
    message = str(info.value)
    assert message.startswith(says) and info.value.key == key
    assert not any(words in message for words in PYDANTIC_WORDS), message
    assert path.read_text() == "{}"


def test_a_number_setting_takes_an_int_and_what_is_stored_is_what_was_checked(
        tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    settings = update_settings_file(path, {"notifyBurstWindowMinutes": 3,
                                           "notificationsEnabled": False,
                                           "inboxDir": "~/Kairos Inbox"})
    assert settings.notify_burst_window_minutes == 3 and settings.notifications_enabled is False
    assert json.loads(path.read_text()) == {"notifyBurstWindowMinutes": 3,
                                            "notificationsEnabled": False,
                                            "inboxDir": "~/Kairos Inbox"}


def test_a_hand_edited_file_with_lax_values_falls_back_per_key_in_words(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    original = json.dumps({"assistantName": "Ada", "notificationsEnabled": "yes",
                           "maxToolIterations": True, "inboxDir": "relative",
                           "quietHours": {"start": "9pm", "end": "07:00"}})
    path.write_text(original)
    loaded = load_settings(path)
    assert loaded.settings.assistant_name == "Ada"
    assert loaded.settings.notifications_enabled is True  # the default, not "yes" read as true
    assert loaded.settings.max_tool_iterations == 20
    assert loaded.settings.inbox_dir is None and loaded.settings.quiet_hours is None
    assert sorted(loaded.problems) == sorted([
        'notificationsEnabled must be true or false (not "yes"); the default (true) is in use',
        "maxToolIterations must be a whole number (not true); the default (20) is in use",
        "inboxDir must be an absolute folder such as ~/Inbox or /home/you/Inbox (not "
        "'relative', which would depend on the folder kairos is started in); it is left unset "
        "(the default)",
        'quietHours.start must be a time like 22:00 (not "9pm"); it is left unset (the default)',
    ])
    assert path.read_text() == original
