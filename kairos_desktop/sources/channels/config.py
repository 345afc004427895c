"""The MCP servers as the settings hold them: the rows `kairos plugins list` and the panel show,
and the settings changes that add, remove and allow them.

Why apart from the manager: the same answers are needed with the app closed (the CLI on the
home's files) and open (the panel, merged with each server's live state), and each change is one
`update_settings`, so it passes the same checks, is logged, and (running) is applied at once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...errors import InputError, NotFoundError
from ...settings import ChannelServer, Settings
from .plugins import Plugin, launch, safe_plugin_name

JSON = dict[str, Any]


def server_rows(settings: Settings, live: Mapping[str, Mapping[str, Any]] | None) -> list[JSON]:
    """One row per configured server, by name: its plugin, command, whether it is allowed, its
    tools policy and its state ("running", "restarting" and why... from `live`, the channels'
    status; without it, what the settings alone say)."""
    allowed = set(settings.allowed_channel_plugins)
    rows: list[JSON] = []
    for name, config in sorted(settings.channel_servers.items()):
        status = dict((live or {}).get(name) or {})
        if status:
            state = str(status.get("state", "unknown"))
        elif not settings.channels_enabled:
            state = "off"
        elif name not in allowed:
            state = "refused"
        else:
            state = "not running" if live is None else "starting"
        reason = status.get("last_error") or status.get("reason")
        if not reason and state == "off":
            reason = "channels are off (channelsEnabled is false)"
        elif not reason and state == "refused":
            reason = "not in allowedChannelPlugins"
        rows.append({
            "name": name, "plugin": config.plugin, "pluginRoot": config.plugin_root,
            "command": " ".join([config.command, *config.args]),
            "allowed": name in allowed, "tools": config.tools or "default",
            "state": state, "reason": reason,
            "channel": status.get("channel"), "permissionRelay": status.get("permissionRelay"),
            "toolNames": list(status.get("tools") or []),
            "restarts": int(status.get("restarts") or 0),
        })
    return rows


def add_changes(settings: Settings, plugin: Plugin, *, data_root: Path, allow: bool,
                environ: Mapping[str, str] | None = None) -> JSON:
    """The settings changes that add `plugin`'s servers (stored as written, with the plugin's
    folders); InputError when a server's name is taken by another one, or when one of its
    `${VAR}` has no value now (MissingVariableError names it). Adding the same plugin again
    replaces its entries."""
    environ = os.environ if environ is None else environ
    servers = dict(settings.channel_servers)
    data = data_root / safe_plugin_name(plugin.name)
    for name, entry in plugin.servers.items():
        existing = servers.get(name)
        if existing is not None and existing.plugin_root != str(plugin.root):
            owner = f"by plugin {existing.plugin}" if existing.plugin else "in channelServers"
            raise InputError(f"a server named {name!r} is already configured {owner}; remove it "
                             f"first (kairos plugins remove {existing.plugin or name})",
                             key="path")
        config = ChannelServer(command=entry["command"], args=entry["args"], env=entry["env"],
                               plugin=plugin.name, plugin_root=str(plugin.root),
                               plugin_data=str(data),
                               tools=existing.tools if existing is not None else None)
        launch(name, config.command, config.args, config.env, environ,
               plugin_root=config.plugin_root, plugin_data=config.plugin_data)
        servers[name] = config
    changes: JSON = {"channelServers": _dump(servers)}
    if allow:
        allowed = list(settings.allowed_channel_plugins)
        changes["allowedChannelPlugins"] = allowed + [n for n in plugin.servers
                                                      if n not in allowed]
    return changes


def remove_changes(settings: Settings, name: str) -> tuple[JSON, list[str]]:
    """(changes, removed server names) for removing plugin `name` (all its servers) or the one
    server `name`; NotFoundError when neither exists."""
    servers = dict(settings.channel_servers)
    gone = [n for n, c in servers.items() if c.plugin == name] or (
        [name] if name in servers else [])
    if not gone:
        known = sorted({c.plugin for c in servers.values() if c.plugin} | set(servers))
        raise NotFoundError(f"no plugin or server named {name!r}; configured: "
                            f"{', '.join(known) or 'none'}")
    for server in gone:
        del servers[server]
    changes: JSON = {"channelServers": _dump(servers)}
    allowed = [n for n in settings.allowed_channel_plugins if n not in gone]
    if allowed != list(settings.allowed_channel_plugins):
        changes["allowedChannelPlugins"] = allowed
    return changes, gone


def allow_changes(settings: Settings, name: str, allowed: bool) -> JSON:
    """Changes that allow (or stop allowing) server `name`, or every server of plugin `name`."""
    servers = settings.channel_servers
    names = [n for n, c in servers.items() if c.plugin == name] or (
        [name] if name in servers else [])
    if not names:
        raise NotFoundError(f"no plugin or server named {name!r}")
    current = list(settings.allowed_channel_plugins)
    if allowed:
        return {"allowedChannelPlugins": current + [n for n in names if n not in current]}
    return {"allowedChannelPlugins": [n for n in current if n not in names]}


def _dump(servers: Mapping[str, ChannelServer]) -> JSON:
    return {name: config.model_dump(by_alias=True, exclude_none=True)
            for name, config in servers.items()}
