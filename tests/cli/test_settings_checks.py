"""`kairos settings set` refuses the same values whether the app runs or not: strict types, the
inbox folder's checks and the rules across settings are one validation, and a refusal (exit 2)
names the key in words and changes nothing, neither the file nor the running app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kairos_desktop.home import Home
from tests.cli.harness import Cli, RunningApp, StartApp


@pytest.fixture(params=["offline", "running"])
def app(request: pytest.FixtureRequest, home: Home) -> RunningApp | None:
    """None: no app runs, the CLI works on the files; else the CLI talks to a running app."""
    if request.param == "offline":
        return None
    start_app: StartApp = request.getfixturevalue("start_app")
    running = start_app(home)
    running.wait_sleeping(1)
    return running


@pytest.mark.parametrize(("key", "value", "says"), [
    ("maxToolIterations", "true", "maxToolIterations must be a whole number (not true)"),
    ("maxToolIterations", "3.0", "maxToolIterations must be a whole number (not 3.0)"),
    ("notificationsEnabled", "yes", 'notificationsEnabled must be true or false (not "yes")'),
    ("notificationsEnabled", "1", "notificationsEnabled must be true or false (not 1)"),
    ("notifyBurstWindowMinutes", "true", "notifyBurstWindowMinutes must be a number (not true)"),
    ("quietHours", '{"start": "25:00", "end": "07:00"}',
     'quietHours.start must be a time like 22:00 (not "25:00")'),
    ("allowedFolders", "[1]", "allowedFolders[0] must be text (not 1)"),
    ("inboxDir", "/proc/1/nope", "inboxDir must be a folder kairos can write in"),
    ("inboxDir", "inbox/here", "inboxDir must be an absolute folder"),
    ("maxSleepDurationMs", "30000", "maxSleepDurationMs must be -1 or at least "
                                    "minSleepDurationMs (60000)"),
])
def test_a_bad_value_is_refused_the_same_way_running_or_not(
        app: RunningApp | None, cli: Cli, home: Home, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, key: str, value: str, says: str) -> None:
    monkeypatch.chdir(tmp_path)  # where a relative folder would land
    before = home.settings_file.read_text()
    in_use = app.engine.settings.to_json_dict() if app else None
    refused = cli("settings", "set", key, value)
    assert (refused.code, refused.out) == (2, "")
    assert refused.err.startswith(f"kairos: {says}"), refused.err
    assert "should" not in refused.err and "pattern" not in refused.err
    assert home.settings_file.read_text() == before
    assert not (tmp_path / "inbox" / "here").exists()
    if app is not None:
        assert app.engine.settings.to_json_dict() == in_use


def test_an_inbox_folder_under_a_file_is_refused_running_or_not(
        app: RunningApp | None, cli: Cli, home: Home, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    before = home.settings_file.read_text()
    refused = cli("settings", "set", "inboxDir", str(blocker / "inbox"))
    assert refused.code == 2
    assert f"cannot write in {blocker / 'inbox'}" in refused.err
    assert home.settings_file.read_text() == before


def test_good_values_are_stored_as_given_running_or_not(
        app: RunningApp | None, cli: Cli, home: Home, tmp_path: Path) -> None:
    for key, value in (("notifyBurstWindowMinutes", "3"), ("notificationsEnabled", "false"),
                       ("maxToolIterations", "7"), ("inboxDir", str(tmp_path / "new inbox"))):
        assert cli("settings", "set", key, value).code == 0
    stored = json.loads(home.settings_file.read_text())
    assert (stored["notifyBurstWindowMinutes"], stored["notificationsEnabled"],
            stored["maxToolIterations"]) == (3, False, 7)
    assert (tmp_path / "new inbox").is_dir()
    if app is not None:
        assert app.engine.settings.max_tool_iterations == 7
        assert app.engine.settings.notifications_enabled is False
