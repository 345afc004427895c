"""The model's tools: one module per family, each tool a typed pydantic input plus a handler."""

from __future__ import annotations

from .base import Tool, ToolContext, ToolRegistry, ToolResult
from .cron import CRON_TOOLS
from .files import FILE_TOOLS
from .github import GITHUB_TOOLS
from .memory import MEMORY_TOOLS
from .messaging import MESSAGING_TOOLS
from .sleep import SLEEP_TOOL


def core_tools() -> list[Tool]:
    return [SLEEP_TOOL, *MESSAGING_TOOLS, *FILE_TOOLS, *CRON_TOOLS, *MEMORY_TOOLS, *GITHUB_TOOLS]


__all__ = ["Tool", "ToolContext", "ToolRegistry", "ToolResult", "core_tools"]
