"""MCP channels: chat bridges and webhooks that push events to the assistant while it runs.

A channel is an ordinary stdio MCP server that announces `capabilities.experimental
["claude/channel"]` and sends `notifications/claude/channel` {content, meta}. Each event becomes an
external inbound item that wakes the loop; the server's own tools (a `reply` tool, typically) are
offered to the model as `SERVER__TOOL`, and its `instructions` go into the system prompt. Plain MCP
servers (tools only) run here too.

events.py is what a channel sends and what the model reads of it, plugins.py Claude Code's plugin
folders and `${VAR}` expansion, session.py one connection to one server (process, MCP session,
stderr), state.py what is known of a server, results.py what a tool's result becomes for the
model, trust.py and gate.py which tool calls run, ask or are refused (and the permission relay),
and manager.py the source itself (which servers run, restarts with backoff, the rate limit).
"""

from __future__ import annotations

from .events import CHANNEL_CAPABILITY, CHANNEL_METHOD, PERMISSION_CAPABILITY, ChannelEvent
from .manager import ChannelManager
from .plugins import MissingVariableError, Plugin, PluginError, read_plugin
from .session import ChannelError, ChannelSpawnError
from .state import RemoteTool, ServerState, State

__all__ = [
    "CHANNEL_CAPABILITY",
    "CHANNEL_METHOD",
    "PERMISSION_CAPABILITY",
    "ChannelError",
    "ChannelEvent",
    "ChannelManager",
    "ChannelSpawnError",
    "MissingVariableError",
    "Plugin",
    "PluginError",
    "RemoteTool",
    "ServerState",
    "State",
    "read_plugin",
]
