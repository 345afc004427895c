"""What a channel sends and what the model reads of it: the event, its meta, the items.

A channel is an ordinary stdio MCP server that announces `capabilities.experimental
["claude/channel"]` and sends `notifications/claude/channel` {content, meta}. Everything in an
event comes from outside the user, so it is bounded here (content, meta values), its meta keys
are kept only when they can be attributes of the tag the prompt wraps it in, and every item made
from it is marked external.

The method and capability names are Claude Code's (its channels reference,
code.claude.com/docs/en/channels-reference, and services/mcp/channelNotification.ts): the event
`notifications/claude/channel`; the permission relay's capability `claude/channel/permission`, its
outbound `notifications/claude/channel/permission_request` {request_id, tool_name, description,
input_preview} and its inbound verdict `notifications/claude/channel/permission` {request_id,
behavior: "allow" | "deny"}.
"""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ...queue import InboundItem

if TYPE_CHECKING:
    from mcp.types import ServerCapabilities

log = logging.getLogger(__name__)

CHANNEL_METHOD = "notifications/claude/channel"
CHANNEL_CAPABILITY = "claude/channel"
PERMISSION_CAPABILITY = "claude/channel/permission"
PERMISSION_REQUEST_METHOD = "notifications/claude/channel/permission_request"
PERMISSION_METHOD = "notifications/claude/channel/permission"
# A server's instructions go into every system prompt: bounded.
MAX_INSTRUCTIONS_CHARS = 4_000
MAX_EVENT_CHARS = 20_000
MAX_SUMMARY_LATEST_CHARS = 500
MAX_META_VALUE_CHARS = 500
# Meta keys become attributes of the tag the prompt wraps the event in: identifiers only.
META_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
RESERVED_META_KEYS = frozenset({"source", "at"})


class ChannelEvent(BaseModel):
    """The params of `notifications/claude/channel`. Scalar meta values are turned into strings
    rather than rejected: a server sending {"seq": 3} should not lose the event."""

    model_config = ConfigDict(extra="ignore")

    content: str
    meta: dict[str, str] = Field(default_factory=dict)

    @field_validator("meta", mode="before")
    @classmethod
    def _stringify_values(cls, value: Any) -> Any:
        if value is None:
            return {}
        if not isinstance(value, dict):
            return value
        return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}


class PermissionVerdict(BaseModel):
    """The params of `notifications/claude/channel/permission`: the user's answer, relayed."""

    model_config = ConfigDict(extra="ignore")

    request_id: str = Field(..., min_length=1, max_length=64)
    behavior: Literal["allow", "deny"]


def announces(capabilities: ServerCapabilities | None, name: str) -> bool:
    return capabilities is not None and name in (capabilities.experimental or {})


def announces_channel(capabilities: ServerCapabilities | None) -> bool:
    return announces(capabilities, CHANNEL_CAPABILITY)


def cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n[... {len(text) - limit} more characters cut]"


def clean_meta(server: str, meta: dict[str, str]) -> dict[str, str]:
    """Keep the keys that can be tag attributes; values are escaped by the prompt renderer."""
    clean: dict[str, str] = {}
    for key, value in meta.items():
        if META_KEY.match(key) and key not in RESERVED_META_KEYS:
            clean[key] = cap(value, MAX_META_VALUE_CHARS)
        else:
            log.warning("channel %s: meta key %r dropped (identifiers only; %s are reserved)",
                        server, key, ", ".join(sorted(RESERVED_META_KEYS)))
    return clean


def held_back_text(server: str, count: int, limit: int, latest: str) -> str:
    """The ONE summary of what the rate limit held back in a minute."""
    noun, verb = ("message", "was") if count == 1 else ("messages", "were")
    return (f"{count} more {noun} from channel {server} {verb} held back (rate limit: "
            f"{limit} per minute); latest: {cap(latest, MAX_SUMMARY_LATEST_CHARS)}")


def channel_item(server: str, text: str, meta: dict[str, str], now: str) -> InboundItem:
    """A channel's event as a queue item: someone else's words, waking the loop."""
    return InboundItem(kind="channel", text=text, priority="next", source=f"channel:{server}",
                       created_at=now, external=True, wakes=True, meta=meta)
