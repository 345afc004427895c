"""MCP channels: chat bridges and webhooks that push events to the assistant while it runs.

A channel is an ordinary stdio MCP server that announces `capabilities.experimental
["claude/channel"]` and sends `notifications/claude/channel` {content, meta}. Each event becomes an
external inbound item that wakes the loop; the server's own tools (a `reply` tool, typically) are
offered to the model as `SERVER__TOOL`.

events.py is what a channel sends and what the model reads of it, session.py one connection to
one server (process, MCP session, stderr), state.py what is known of a server, and manager.py
the source itself (which servers run, restarts with backoff, the rate limit, the tools).
"""

from __future__ import annotations

from .events import CHANNEL_CAPABILITY, CHANNEL_METHOD, ChannelEvent
from .manager import ChannelManager
from .session import ChannelError, ChannelSpawnError
from .state import RemoteTool, ServerState, State

__all__ = [
    "CHANNEL_CAPABILITY",
    "CHANNEL_METHOD",
    "ChannelError",
    "ChannelEvent",
    "ChannelManager",
    "ChannelSpawnError",
    "RemoteTool",
    "ServerState",
    "State",
]
