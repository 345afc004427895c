"""Reading Claude Code plugin folders and .mcp.json files, and expanding their variables as Claude
Code does (${CLAUDE_PLUGIN_ROOT}, ${VAR}, ${VAR:-default}); a missing variable names itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kairos_desktop.sources.channels.plugins import (
    MissingVariableError,
    PluginError,
    expand,
    launch,
    read_plugin,
)


def write(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def test_a_plugin_folder_is_read_as_claude_code_ships_it(tmp_path: Path) -> None:
    root = tmp_path / "telegram"
    write(root / ".claude-plugin" / "plugin.json", {"name": "telegram", "version": "0.0.8"})
    write(root / ".mcp.json", {"mcpServers": {"telegram": {
        "command": "bun", "args": ["run", "--cwd", "${CLAUDE_PLUGIN_ROOT}", "start"]}}})
    plugin = read_plugin(root)
    assert (plugin.name, plugin.root) == ("telegram", root.resolve())
    assert plugin.servers == {"telegram": {
        "command": "bun", "args": ["run", "--cwd", "${CLAUDE_PLUGIN_ROOT}", "start"], "env": {}}}


def test_the_manifests_servers_win_and_a_bare_map_or_a_file_path_works(tmp_path: Path) -> None:
    root = tmp_path / "tools"
    write(root / ".mcp.json", {"db": {"command": "old"}, "time": {"command": "uvx",
                                                                  "args": ["mcp-server-time"]}})
    write(root / ".claude-plugin" / "plugin.json", {"name": "my tools!", "mcpServers": {
        "db": {"command": "${CLAUDE_PLUGIN_ROOT}/servers/db", "env": {"DB_URL": "${DB_URL}"}}}})
    plugin = read_plugin(root)
    assert plugin.name == "my-tools-"  # safe for a name in settings
    assert plugin.servers["db"]["command"] == "${CLAUDE_PLUGIN_ROOT}/servers/db"
    assert plugin.servers["time"]["args"] == ["mcp-server-time"]

    other = tmp_path / "other"
    write(other / "servers.json", {"mcpServers": {"x": {"command": "x"}}})
    write(other / ".claude-plugin" / "plugin.json", {"mcpServers": "servers.json"})
    assert list(read_plugin(other).servers) == ["x"]
    assert read_plugin(other).name == "other"  # no name in the manifest: the folder's

    file = write(tmp_path / "project" / ".mcp.json", {"mcpServers": {"y": {"command": "y"}}})
    alone = read_plugin(file)
    assert (alone.root, list(alone.servers)) == (file.parent, ["y"])


@pytest.mark.parametrize(("data", "words"), [
    ({"mcpServers": {"web": {"type": "http", "url": "https://x.example/mcp"}}},
     r"is a remote \(http\) server"),
    ({"mcpServers": {"bad": {"args": ["x"]}}}, "command must be a non-empty string"),
    ({"mcpServers": {"bad": {"command": "x", "args": "--flag"}}}, "args must be a list"),
    ({"mcpServers": {"bad": {"command": "x", "env": {"N": 3}}}}, "env must be an object of"),
    ({"mcpServers": {"no spaces": {"command": "x"}}}, "a server name is"),
    ({"mcpServers": {}}, "declares no MCP server"),
])
def test_what_cannot_run_is_refused_naming_the_file_and_the_field(
        tmp_path: Path, data: object, words: str) -> None:
    file = write(tmp_path / "p" / ".mcp.json", data)
    with pytest.raises(PluginError, match=words) as caught:
        read_plugin(tmp_path / "p")
    assert str(file) in str(caught.value) or "declares no" in words
    assert caught.value.key == "path"


def test_a_missing_folder_and_broken_json_are_clear(tmp_path: Path) -> None:
    with pytest.raises(PluginError, match="does not exist"):
        read_plugin(tmp_path / "nowhere")
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / ".mcp.json").write_text("{nope")
    with pytest.raises(PluginError, match=r"is not valid JSON \(line 1"):
        read_plugin(tmp_path / "p")


def test_variables_expand_as_claude_code_expands_them() -> None:
    env = {"HOME_DIR": "/home/ada", "EMPTY": "", "PORT": "8787"}

    def x(text: str) -> str:
        return expand(text, env, server="s", where="args[0]",
                      plugin_vars={"CLAUDE_PLUGIN_ROOT": "/plugins/chat"})

    assert x("${CLAUDE_PLUGIN_ROOT}/server.ts") == "/plugins/chat/server.ts"
    assert x("${HOME_DIR}/x:${PORT}") == "/home/ada/x:8787"
    assert x("${UNSET:-fallback}") == "fallback"
    assert x("${UNSET:-a:-b}") == "a:-b"  # the default is everything after the first ":-"
    assert x("${EMPTY:-fallback}") == ""  # set, even empty, wins (Claude Code: !== undefined)
    assert x("$HOME_DIR and ${}") == "$HOME_DIR and ${}"  # bare $VAR is not expanded
    with pytest.raises(MissingVariableError) as caught:
        x("--token=${TELEGRAM_BOT_TOKEN}")
    assert caught.value.name == "TELEGRAM_BOT_TOKEN"
    assert "server s: args[0] uses ${TELEGRAM_BOT_TOKEN}, which is not set" in str(caught.value)


def test_a_launch_expands_command_args_and_env_and_adds_the_plugin_folders() -> None:
    run = launch("db", "${CLAUDE_PLUGIN_ROOT}/bin/db", ["--data", "${CLAUDE_PLUGIN_DATA}"],
                 {"DB_URL": "${DB_URL:-sqlite://}", "CLAUDE_PLUGIN_DATA": "/mine"}, {},
                 plugin_root="/p", plugin_data="/d")
    assert run.command == "/p/bin/db" and run.args == ["--data", "/d"]
    # Claude Code puts both folders into the environment; the entry's own env wins.
    assert run.env == {"CLAUDE_PLUGIN_ROOT": "/p", "CLAUDE_PLUGIN_DATA": "/mine",
                       "DB_URL": "sqlite://"}
    with pytest.raises(MissingVariableError, match="command uses"):
        launch("x", "${CLAUDE_PLUGIN_ROOT}/x", [], {}, {})  # not a plugin: no root
