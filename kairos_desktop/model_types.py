"""What a model call returns, as plain values: a reply, its tool calls and its token usage.

They live apart from the client (model.py, the only module that imports anthropic) so that
pricing, the agent turn and tests can name them without loading the SDK.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ToolCall:
    id: str
    name: str
    input: dict[str, Any]


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0  # all cache writes; the two below split them by TTL when known
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    # Server tools the API ran during the call (usage.server_tool_use), each paid per use.
    web_search_requests: int = 0
    web_fetch_requests: int = 0


@dataclass
class ModelReply:
    # API content blocks as dicts, ready to be sent back as the assistant message.
    content: list[dict[str, Any]]
    stop_reason: str | None
    usage: Usage
    model: str
    # The tool_use blocks of `content`, in order.
    tool_calls: list[ToolCall] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(b["text"] for b in self.content if b.get("type") == "text").strip()


__all__ = ["ModelReply", "ToolCall", "Usage"]
