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
    assert any(p.startswith("minSleepDurationMs:") and "'soon'" in p for p in loaded.problems)
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
    with pytest.raises(SettingsError, match="invalid value for maxSleepDurationMs"):
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
