"""`kairos plugins add PATH | list | allow | disallow | remove`, with the app closed (the home's
settings change for its next start) and running (the change applies at once: the server
starts and `list` shows its live state)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from kairos_desktop.home import Home
from tests.cli.harness import Cli, StartApp
from tests.conftest import write_settings
from tests.sources.test_plugins_in_engine import plugin_folder
from tests.waiting import wait_until


def test_plugins_are_added_listed_allowed_and_removed_offline(
        cli: Cli, home: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = plugin_folder(tmp_path)
    monkeypatch.delenv("KAIROS_TEST_PYTHON", raising=False)
    missing = cli("plugins", "add", str(root))
    assert missing.code == 2
    assert "server screen: command uses ${KAIROS_TEST_PYTHON}, which is not set" in missing.err
    nowhere = cli("plugins", "add", str(tmp_path / "nowhere"))
    assert nowhere.code == 2 and "does not exist" in nowhere.err
    assert cli("plugins", "list").out.startswith("no MCP server is configured")

    monkeypatch.setenv("KAIROS_TEST_PYTHON", sys.executable)
    added = cli("plugins", "add", str(root))
    assert added.code == 0
    assert added.out.splitlines() == [
        f"added plugin screen-tools ({root.resolve()}): screen",
        "not allowed yet: `kairos plugins allow screen-tools` lets it start"]
    listed = cli("plugins", "list").out
    assert listed.startswith("screen  [plugin screen-tools]  off (channels are off")
    assert "allowed: no; tools: default" in listed

    allowed = cli("plugins", "allow", "screen-tools")
    assert allowed.out.splitlines()[0] == "screen-tools: allowed"
    assert "turn them on with `kairos settings set channelsEnabled true`" in allowed.out
    [row] = json.loads(cli("plugins", "list", "--json").out)
    assert (row["name"], row["allowed"], row["pluginRoot"]) == ("screen", True,
                                                                str(root.resolve()))

    assert cli("plugins", "remove", "nope").code == 1
    assert cli("plugins", "remove", "screen-tools").out == "removed screen\n"
    settings = json.loads(home.settings_file.read_text())
    assert settings["channelServers"] == {} and settings["allowedChannelPlugins"] == []


def test_a_plugin_added_to_the_running_app_starts_at_once(
        cli: Cli, home: Home, tmp_path: Path, start_app: StartApp,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAIROS_TEST_PYTHON", sys.executable)  # the app runs in this process
    root = plugin_folder(tmp_path)
    write_settings(home, {"channelsEnabled": True})
    start_app(home)
    added = cli("plugins", "add", str(root), "--allow")
    assert added.code == 0 and "starting it now" in added.out
    wait_until(lambda: "screen  [plugin screen-tools]  running" in cli("plugins", "list").out,
               20, "the plugin's server to run")
    listed = cli("plugins", "list").out
    assert "offers: screen__huge_image, screen__notes, screen__screenshot" in listed
    assert cli("plugins", "disallow", "screen").code == 0
    wait_until(lambda: "screen  [plugin screen-tools]  refused" in cli("plugins", "list").out,
               20, "the server to stop")
