"""Settings > Channels and tools in headless Chromium against a real running app: a Claude Code
plugin added by its folder starts (its ${CLAUDE_PLUGIN_ROOT} server, live state shown as the
engine reports it), stops when no longer allowed, and goes when removed; a wrong path is said
under the form and changes nothing."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from tests.sources.test_plugins_in_engine import plugin_folder
from tests.ui.conftest import Panel, expect


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("KAIROS_TEST_PYTHON", sys.executable)  # the app's environment
    return {"channelsEnabled": True}


def test_a_plugin_is_added_allowed_and_removed_from_the_settings_view(
        panel: Panel, tmp_path: Path) -> None:
    root = plugin_folder(tmp_path)
    page = panel.open("settings")
    servers = page.get_by_test_id("servers")
    expect(servers).to_contain_text("No server yet.")

    page.get_by_test_id("server-path").fill(str(tmp_path / "nowhere"))
    page.get_by_test_id("server-add-button").click()
    expect(page.get_by_test_id("server-error")).to_contain_text("does not exist")

    page.get_by_test_id("server-path").fill(str(root))
    page.get_by_test_id("server-allow").check()
    page.get_by_test_id("server-add-button").click()
    row = servers.locator('[data-testid="server"][data-name="screen"]')
    expect(row).to_contain_text("screen (plugin screen-tools)")
    expect(row.get_by_test_id("server-state")).to_have_text("Running")  # the live state
    expect(row).to_contain_text("screen__screenshot")
    expect(page.get_by_test_id("server-error")).to_be_hidden()

    row.get_by_test_id("server-allowed").uncheck()
    expect(row.get_by_test_id("server-state")).to_have_text("Not allowed")
    listed = panel.app.kairos("plugins", "list")
    assert "screen  [plugin screen-tools]  refused" in listed.stdout

    row.get_by_test_id("server-remove").click()
    page.get_by_test_id("confirm-ok").click()
    expect(servers).to_contain_text("No server yet.")
    assert panel.app.kairos("plugins", "list").stdout.startswith("no MCP server is configured")
    # The one refused request is the wrong path's (the browser logs every 400).
    assert [e for e in panel.errors if "status of 400" not in e] == []
