"""`kairos plugins`: Claude Code plugins and MCP servers, written once against a Connection (the
running app applies a change at once; with it closed, the home's settings change for its next
start). Each command only formats what the Connection returns."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from .connection import on_connection

if TYPE_CHECKING:
    from ..application import Connection

OFF_HINT = ("channels are off (channelsEnabled is false), so no server starts; turn them on "
            "with `kairos settings set channelsEnabled true`")


@on_connection
def cmd_plugins_list(conn: Connection, args: argparse.Namespace) -> int:
    rows = conn.plugins()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no MCP server is configured; add a plugin with `kairos plugins add PATH`")
    for row in rows:
        print(_row_text(row))
    return 0


def _row_text(row: dict[str, Any]) -> str:
    origin = f"plugin {row['plugin']}" if row.get("plugin") else "channelServers"
    state = str(row["state"]) + (f" ({row['reason']})" if row.get("reason") else "")
    kind = {True: "channel", False: "tools only"}.get(bool(row["channel"]), "") \
        if row.get("channel") is not None else ""
    lines = [f"{row['name']}  [{origin}]  {state}",
             f"    {row['command']}",
             f"    allowed: {'yes' if row['allowed'] else 'no'}; tools: {row['tools']}"
             + (f"; {kind}" if kind else "")
             + ("; answers approvals from its chat" if row.get("permissionRelay") else "")]
    if row.get("toolNames"):
        lines.append(f"    offers: {', '.join(row['toolNames'])}")
    return "\n".join(lines)


@on_connection
def cmd_plugins_add(conn: Connection, args: argparse.Namespace) -> int:
    result = conn.add_plugin(args.path, allow=args.allow)
    servers = ", ".join(result["servers"])
    print(f"added plugin {result['plugin']} ({result['root']}): {servers}")
    if not result["allowed"]:
        print(f"not allowed yet: `kairos plugins allow {result['plugin']}` lets it start")
    elif not result["channelsEnabled"]:
        print(OFF_HINT)
    elif conn.running:
        print("starting it now (`kairos plugins list` shows its state)")
    return 0


@on_connection
def cmd_plugins_remove(conn: Connection, args: argparse.Namespace) -> int:
    result = conn.remove_plugin(args.name)
    print(f"removed {', '.join(result['removed'])}")
    return 0


@on_connection
def cmd_plugins_allow(conn: Connection, args: argparse.Namespace) -> int:
    allowed = args.plugins_command == "allow"
    result = conn.allow_server(args.name, allowed)
    print(f"{args.name}: {'allowed' if allowed else 'no longer allowed'}")
    if allowed and not result["channelsEnabled"]:
        print(OFF_HINT)
    return 0


def add_parsers(sub: Any) -> None:
    """`kairos plugins ...` on the command's subparsers."""
    plugins = sub.add_parser("plugins", help="Claude Code plugins and MCP servers (channels, "
                             "tools)")
    plugins_sub = plugins.add_subparsers(dest="plugins_command", required=True)
    listing = plugins_sub.add_parser("list", help="every MCP server, its state and its tools")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=cmd_plugins_list)
    add = plugins_sub.add_parser("add", help="add a plugin folder (with .mcp.json) or a "
                                 ".mcp.json file; ${CLAUDE_PLUGIN_ROOT} is its folder")
    add.add_argument("path")
    add.add_argument("--allow", action="store_true",
                     help="also let its servers start (allowedChannelPlugins)")
    add.set_defaults(handler=cmd_plugins_add)
    remove = plugins_sub.add_parser("remove", help="remove a plugin (all its servers) or one "
                                    "server")
    remove.add_argument("name")
    remove.set_defaults(handler=cmd_plugins_remove)
    for verb, words in (("allow", "let a plugin's servers (or one server) start"),
                        ("disallow", "stop letting them start (a running one stops)")):
        decide = plugins_sub.add_parser(verb, help=words)
        decide.add_argument("name")
        decide.set_defaults(handler=cmd_plugins_allow)
