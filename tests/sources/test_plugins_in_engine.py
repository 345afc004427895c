"""A Claude Code plugin installed into the running app, end to end: its folder's .mcp.json (with
${CLAUDE_PLUGIN_ROOT} and ${VAR}) starts a real MCP server (the SDK's MCPServer), its
instructions reach the model's system prompt, its tool call waits for the user's approval, and the
image it returns reaches the model as an image block."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from kairos_desktop.errors import InputError
from kairos_desktop.home import Home
from kairos_desktop.offline import OfflineApp
from tests.conftest import EngineFactory, wait_for, wait_sleeping, write_settings
from tests.fakes.anthropic_server import FakeAnthropic, RecordedRequest, Reply, tool_use
from tests.sources.tool_server import SMALL_PNG
from tests.waiting import until

TOOL_SERVER = Path(__file__).with_name("tool_server.py")


def plugin_folder(tmp_path: Path) -> Path:
    """A plugin as Claude Code's plugins ship: its server beside it, found through
    ${CLAUDE_PLUGIN_ROOT}; the interpreter through a variable of the environment."""
    root = tmp_path / "screen-tools"
    (root / ".claude-plugin").mkdir(parents=True)
    shutil.copy(TOOL_SERVER, root / "server.py")
    (root / ".claude-plugin" / "plugin.json").write_text(json.dumps({"name": "screen-tools"}))
    (root / ".mcp.json").write_text(json.dumps({"mcpServers": {"screen": {
        "command": "${KAIROS_TEST_PYTHON}",
        "args": ["${CLAUDE_PLUGIN_ROOT}/server.py"],
        "env": {"TOOL_ENV_FILE": "${CLAUDE_PLUGIN_ROOT}/env.json",
                "TOOL_INSTRUCTIONS": "${SCREEN_HINT:-Call screenshot to look at the screen.}"},
    }}}))
    return root


async def test_a_plugin_added_to_the_running_app_reaches_the_model(
        make_engine: EngineFactory, fake: FakeAnthropic, home: Home, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAIROS_TEST_PYTHON", sys.executable)
    root = plugin_folder(tmp_path)
    write_settings(home, {"channelsEnabled": True})

    def model(request: RecordedRequest) -> Reply:
        asked = "what is on my screen?" in request.last_user_text
        answered = request.messages[-1]["content"][-1].get("type") == "tool_result"
        if asked and not answered:
            return tool_use("screen__screenshot", {})
        return tool_use("Sleep", {"seconds": 3300})

    fake.on_empty = model
    engine = make_engine()
    await engine.start(control_api=False)
    await wait_sleeping(engine, 1)

    added = engine.app.add_plugin(str(root), allow=True)
    assert added == {"plugin": "screen-tools", "root": str(root.resolve()),
                     "servers": ["screen"], "allowed": True, "channelsEnabled": True}
    await until(lambda: engine.channels.status().get("screen", {}).get("state") == "running",
                "the plugin's server to start")
    [row] = engine.app.plugins()
    assert (row["name"], row["plugin"], row["state"], row["allowed"]) == (
        "screen", "screen-tools", "running", True)

    engine.app.send("what is on my screen?")
    request = await until(lambda: next((r for r in fake.history
                                        if "what is on my screen?" in r.last_user_text), None),
                          "the model to be asked", 20)
    assert "# Instructions from MCP servers" in request.system_text
    assert ('<server-instructions server="screen">\nCall screenshot to look at the screen.\n'
            "</server-instructions>") in request.system_text
    assert "screen__screenshot" in request.tool_names

    # Its tools ask by default: the call waits for the same approval as RunCommand.
    await wait_for(engine, lambda: bool(engine.approvals.pending()), 10, "the approval")
    [pending] = engine.app.approvals()
    assert pending["command"] == "screen__screenshot {}"
    engine.app.decide_approval(pending["id"], True, by="cli")
    answered = await until(lambda: next((r for r in fake.history if r.messages[-1]["content"][
        -1].get("type") == "tool_result"), None), "the tool's result to reach the model", 20)
    [result] = [b for b in answered.messages[-1]["content"] if b.get("type") == "tool_result"]
    assert result["content"][0] == {"type": "text", "text":
                                    "the screen:\n[image 1: image/png, 120 bytes, attached]"}
    assert result["content"][1] == {"type": "image", "source": {
        "type": "base64", "media_type": "image/png", "data": SMALL_PNG}}

    # ${CLAUDE_PLUGIN_ROOT} reached the server's environment too, as Claude Code sets it.
    env = json.loads((root / "env.json").read_text())
    assert env["CLAUDE_PLUGIN_ROOT"] == str(root.resolve())
    assert "ANTHROPIC_API_KEY" not in env  # the app's secrets stay out of plugins

    removed = engine.app.remove_plugin("screen-tools")
    assert removed == {"removed": ["screen"]}
    await until(lambda: "screen" not in engine.channels.status(), "the server to stop")
    assert "screen__screenshot" not in [d["name"] for d in engine.tools.definitions()]


def test_a_plugin_is_added_offline_and_a_missing_variable_is_refused_naming_it(
        home: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = plugin_folder(tmp_path)
    monkeypatch.delenv("KAIROS_TEST_PYTHON", raising=False)
    with OfflineApp.open(home) as app:
        with pytest.raises(InputError, match=r"uses \$\{KAIROS_TEST_PYTHON\}, which is not set"):
            app.add_plugin(str(root))
        assert app.plugins() == []  # nothing changed
        monkeypatch.setenv("KAIROS_TEST_PYTHON", sys.executable)
        app.add_plugin(str(root / ".mcp.json"))
        [row] = app.plugins()
        assert (row["name"], row["allowed"], row["state"]) == ("screen", False, "off")
    stored = json.loads(home.settings_file.read_text())["channelServers"]["screen"]
    # Stored as written: expanded at each start, from the environment of that start.
    assert stored["command"] == "${KAIROS_TEST_PYTHON}"
    assert stored["pluginRoot"] == str(root.resolve())
