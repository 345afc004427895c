"""What is known about one channel server: its state, counters, tools, and rate-limit window.

Why one record: the supervisor (manager.py) and the connection (session.py) both update it, and
status() reads it; none of it is stored, a restart of the app starts every count at zero.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import anyio

from ...settings import ChannelServer

if TYPE_CHECKING:
    from mcp.client.session import ClientSession

State = Literal["starting", "running", "restarting", "failed", "refused", "stopped"]


@dataclass
class RemoteTool:
    """One tool of a server, as the model sees it."""

    server: str
    remote_name: str
    model_name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(eq=False)  # one record per connection attempt series: compared by identity
class ServerState:
    name: str
    config: ChannelServer
    state: State = "starting"
    restarts: int = 0
    delivered: int = 0
    rate_limited: int = 0
    malformed: int = 0
    lost: int = 0
    ignored: int = 0
    is_channel: bool = False
    # Declares claude/channel/permission too: approval requests are relayed to it, and its
    # verdicts answer them.
    relays_permission: bool = False
    # The `instructions` of its initialize result (bounded); None when it gave none.
    instructions: str | None = None
    last_error: str | None = None
    told_user: bool = False
    tools: dict[str, RemoteTool] = field(default_factory=dict)
    session: ClientSession | None = None
    task: asyncio.Task[None] | None = None
    scope: anyio.CancelScope | None = None
    # Set when this server must stop (the manager stops, or the settings no longer run it).
    retired: asyncio.Event = field(default_factory=asyncio.Event)
    # Rate limit: monotonic times of the events let through in the last minute, and the surplus.
    window: deque[float] = field(default_factory=deque)
    held: int = 0
    held_latest: str = ""
    held_meta: dict[str, str] = field(default_factory=dict)
    flush_task: asyncio.Task[None] | None = None
    # Per connection: valid channel frames read off the wire vs events the binding handed over.
    expected: int = 0
    handled: int = 0
    drained: asyncio.Event = field(default_factory=asyncio.Event)
    # Told when `state` changes (the panel shows it live).
    on_change: Callable[[ServerState], None] | None = None

    def __setattr__(self, name: str, value: Any) -> None:
        changed = name == "state" and getattr(self, "state", value) != value
        super().__setattr__(name, value)
        listener = getattr(self, "on_change", None)
        if changed and listener is not None:
            listener(self)

    def to_status(self) -> dict[str, Any]:
        return {
            "state": self.state, "restarts": self.restarts, "rate_limited": self.rate_limited,
            "tools": sorted(self.tools), "channel": self.is_channel, "delivered": self.delivered,
            "held": self.held, "malformed": self.malformed, "lost": self.lost,
            "ignored": self.ignored, "last_error": self.last_error,
            "permissionRelay": self.relays_permission,
            "instructions": self.instructions is not None,
            "toolsPolicy": self.config.tools or "default",
            "plugin": self.config.plugin,
        }
