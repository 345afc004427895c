"""Claude Code plugins and `.mcp.json` files: reading their MCP servers, expanding their `${VAR}`s.

Why: a plugin written for Claude Code (fakechat, telegram, discord, a user's own) should run here
as it ships, without the user rewriting its `.mcp.json` by hand. So a server entry is stored as
written (`${...}` and all) and expanded each time the server is started, the way Claude Code does.

What Claude Code does, as this module copies it (read in Claude Code's sources, services/mcp/
envExpansion.ts `expandEnvVarsInString`, utils/plugins/mcpPluginIntegration.ts
`resolvePluginMcpEnvironment` and `loadPluginMcpServers`, and its docs "Environment variable
expansion in .mcp.json" at code.claude.com/docs/en/mcp and "Plugin MCP servers" at
code.claude.com/docs/en/plugins-reference):
- A plugin is a folder. Its servers are in `.mcp.json` at the folder's root, as
  {"mcpServers": {NAME: ENTRY}} (or the bare {NAME: ENTRY} map the plugin docs show), and/or under
  "mcpServers" in `.claude-plugin/plugin.json` (an object, or the path of a JSON file relative to
  the folder); the manifest's entries win over `.mcp.json`'s. The plugin's name is the manifest's
  "name", else the folder's name.
- An entry is {"command", "args", "env"} (a stdio server; "type" absent or "stdio").
- In command, each of args and each env value: first `${CLAUDE_PLUGIN_ROOT}` becomes the plugin
  folder's absolute path and `${CLAUDE_PLUGIN_DATA}` the plugin's own data folder; then every
  `${VAR}` becomes the environment's VAR and `${VAR:-default}` VAR when it is set, else `default`.
  The pattern is `\\$\\{([^}]+)\\}`; the name is what comes before the first ":-" and the default
  is everything after it. A variable that is set wins even when it is empty (Claude Code tests
  `!== undefined`, not POSIX's `:-` emptiness). A bare `$VAR` is left as it is.
- CLAUDE_PLUGIN_ROOT and CLAUDE_PLUGIN_DATA are also put into the server's environment (the
  entry's own env wins over them).

Where this differs, on purpose:
- Claude Code starts a server whose `${VAR}` is unset (with the text left as it was) and only
  warns; here that is an error naming the variable, at `kairos plugins add` and at every start,
  and the server is not started (nothing is retried until the settings change).
- Remote servers ("type": "http", "sse", "ws") are refused with a message saying so: only stdio
  servers run here.
- `${user_config.KEY}` (plugin options Claude Code keeps in the OS keychain) is not supported;
  such a reference is reported like a missing variable.
- The server gets the MCP SDK's default environment (HOME, PATH, USER...) plus its entry's env, not
  the app's whole environment: the app's secrets (the Anthropic key) stay out of every plugin.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import InputError

MANIFEST = Path(".claude-plugin") / "plugin.json"
MCP_FILE = ".mcp.json"
PLUGIN_ROOT = "CLAUDE_PLUGIN_ROOT"
PLUGIN_DATA = "CLAUDE_PLUGIN_DATA"
VARIABLE = re.compile(r"\$\{([^}]+)\}")
SERVER_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
PLUGIN_NAME = re.compile(r"[^A-Za-z0-9_-]")
REMOTE_TYPES = ("http", "sse", "ws", "streamable-http")


class PluginError(InputError):
    """A plugin folder or .mcp.json cannot be used; the message names the file and the field."""

    def __init__(self, message: str) -> None:
        super().__init__(message, key="path")


class MissingVariableError(InputError):
    """A `${VAR}` of a server entry has no value and no default."""

    def __init__(self, server: str, name: str, where: str) -> None:
        super().__init__(
            f"server {server}: {where} uses ${{{name}}}, which is not set in the environment "
            f"and has no default; set {name} (or write ${{{name}:-value}}) and try again",
            key="env")
        self.server = server
        self.name = name


@dataclass
class Plugin:
    """What `kairos plugins add PATH` found: the plugin's name, folder and server entries (as
    written, nothing expanded)."""

    name: str
    root: Path
    servers: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: Path | None = None  # the file the servers came from (for messages)


def read_plugin(path: Path) -> Plugin:
    """The plugin at `path`: a plugin folder (with .mcp.json and/or .claude-plugin/plugin.json),
    or a .mcp.json file (its folder is the plugin's root). PluginError says what is wrong."""
    path = path.expanduser()
    if not path.exists():
        raise PluginError(f"{path} does not exist; give a plugin folder or a .mcp.json file")
    path = path.resolve()
    if path.is_file():
        root, files = path.parent, [path]
        manifest: dict[str, Any] = {}
    else:
        root = path
        manifest = _manifest(root)
        files = [root / MCP_FILE] if (root / MCP_FILE).is_file() else []
    name = manifest.get("name") if isinstance(manifest.get("name"), str) else None
    plugin = Plugin(name=safe_plugin_name(name or root.name), root=root,
                    source=files[0] if files else None)
    for file in files:
        plugin.servers.update(_servers_of(_json_object(file), file))
    declared = manifest.get("mcpServers")
    if isinstance(declared, str):
        file = (root / declared).resolve()
        plugin.servers.update(_servers_of(_json_object(file), file))
        plugin.source = plugin.source or file
    elif isinstance(declared, dict):
        plugin.servers.update(_servers_of({"mcpServers": declared}, root / MANIFEST))
        plugin.source = plugin.source or root / MANIFEST
    elif declared is not None:
        raise PluginError(f"{root / MANIFEST}: mcpServers must be an object or the path of a "
                          "JSON file")
    if not plugin.servers:
        raise PluginError(f"{path} declares no MCP server: expected {MCP_FILE} (with "
                          f"\"mcpServers\") or \"mcpServers\" in {MANIFEST}")
    return plugin


def safe_plugin_name(name: str) -> str:
    return PLUGIN_NAME.sub("-", name.strip())[:64] or "plugin"


def _manifest(root: Path) -> dict[str, Any]:
    file = root / MANIFEST
    return _json_object(file) if file.is_file() else {}


def _json_object(file: Path) -> dict[str, Any]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PluginError(f"{file} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PluginError(f"cannot read {file}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise PluginError(f"{file} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise PluginError(f"{file} must hold a JSON object")
    return data


def _servers_of(data: dict[str, Any], file: Path) -> dict[str, dict[str, Any]]:
    """The server entries of one file, checked; either {"mcpServers": {...}} or the bare map."""
    servers = data.get("mcpServers", data)
    if not isinstance(servers, dict):
        raise PluginError(f"{file}: mcpServers must be an object of servers by name")
    checked: dict[str, dict[str, Any]] = {}
    for name, entry in servers.items():
        where = f"{file}: server {name!r}"
        if not SERVER_NAME.match(name):
            raise PluginError(f"{where}: a server name is 1-64 letters, digits, '.', '_' or '-'")
        if not isinstance(entry, dict):
            raise PluginError(f"{where} must be an object with a command")
        kind = entry.get("type", "stdio")
        if kind in REMOTE_TYPES or (kind == "stdio" and "url" in entry and "command" not in entry):
            raise PluginError(f"{where} is a remote ({kind}) server; only stdio servers (a "
                              "command and its args) run here")
        if kind != "stdio":
            raise PluginError(f"{where}: unknown type {kind!r} (only \"stdio\" is supported)")
        command = entry.get("command")
        if not isinstance(command, str) or not command.strip():
            raise PluginError(f"{where}: command must be a non-empty string")
        args = entry.get("args", [])
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise PluginError(f"{where}: args must be a list of strings")
        env = entry.get("env", {})
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            raise PluginError(f"{where}: env must be an object of strings")
        checked[name] = {"command": command, "args": list(args), "env": dict(env)}
    return checked


# -- expansion ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Launch:
    """A server entry with every variable expanded: what is actually run."""

    command: str
    args: list[str]
    env: dict[str, str]


def expand(value: str, environ: Mapping[str, str], *, server: str, where: str,
           plugin_vars: Mapping[str, str] | None = None) -> str:
    """`value` with ${CLAUDE_PLUGIN_ROOT}/${CLAUDE_PLUGIN_DATA} (from `plugin_vars`), then
    ${VAR} and ${VAR:-default} (from `environ`) replaced; MissingVariableError names the first
    variable that has neither a value nor a default."""
    plugin_vars = plugin_vars or {}

    def plugin_var(match: re.Match[str]) -> str:
        name = match.group(1)
        return plugin_vars[name] if name in plugin_vars else match.group(0)

    resolved = VARIABLE.sub(plugin_var, value)

    def env_var(match: re.Match[str]) -> str:
        name, has_default, default = match.group(1).partition(":-")
        found = environ.get(name)
        if found is not None:
            return found
        if has_default:
            return default
        raise MissingVariableError(server, name, where)

    return VARIABLE.sub(env_var, resolved)


def launch(server: str, command: str, args: list[str], env: Mapping[str, str],
           environ: Mapping[str, str], *, plugin_root: str | None = None,
           plugin_data: str | None = None) -> Launch:
    """The entry of `server` as it will run: every field expanded as Claude Code does, and the
    plugin's folders added to its environment (its own env wins)."""
    plugin_vars: dict[str, str] = {}
    if plugin_root:
        plugin_vars[PLUGIN_ROOT] = plugin_root
    if plugin_data:
        plugin_vars[PLUGIN_DATA] = plugin_data

    def one(value: str, where: str) -> str:
        return expand(value, environ, server=server, where=where, plugin_vars=plugin_vars)

    expanded_env = {**plugin_vars}
    for key, value in env.items():
        expanded_env[key] = one(value, f"env {key}")
    return Launch(command=one(command, "command"),
                  args=[one(arg, f"args[{i}]") for i, arg in enumerate(args)],
                  env=expanded_env)
