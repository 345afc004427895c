"""Web search and web fetch: the Messages API's server tools, offered only when switched on.

They run on Anthropic's side, inside the model call: the request names them (the versions the
SDK types today, web_search_20260318 and web_fetch_20260318), the reply carries
`server_tool_use` blocks and their results (`web_search_tool_result`, `web_fetch_tool_result`),
which stay in the transcript as they came (the API wants them back on the next call), and
`usage.server_tool_use` counts what is paid (prices.py).

What they bring in is text from outside: the system prompt says it is data, never instructions,
and asks for the URL of every source relied on; `with_sources` adds the sources a turn cited to a
message or a file note that left them out. An error a server tool reports (a result block with
an error code) is the model's to read; it is logged and shown, and it cannot loop: the uses of a
turn are capped (`limit_per_turn`), and a request the API refuses because of these tools is sent
again once without them, which stay off until the settings change (`refuses_server_tools`,
`settings_key`: the agent turn keeps that state).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..settings import Settings
from .base import ToolProvider

WEB_SEARCH_TYPE = "web_search_20260318"
WEB_FETCH_TYPE = "web_fetch_20260318"
SERVER_TOOLS = ("web_search", "web_fetch")
RESULT_TYPES = {"web_search_tool_result": "web_search", "web_fetch_tool_result": "web_fetch"}
# A fetched page is cut to about this many tokens: one page must not eat a day's budget.
FETCH_MAX_CONTENT_TOKENS = 20_000


def settings_key(settings: Settings) -> tuple[Any, ...]:
    """What the server tools' definitions depend on: a change makes refused tools worth a try."""
    return (settings.web_search_enabled, settings.web_fetch_enabled,
            settings.web_search_max_uses, settings.web_fetch_max_uses,
            tuple(settings.web_allowed_domains), tuple(settings.web_blocked_domains))


def server_tools(settings: Settings) -> list[dict[str, Any]]:
    """The server tools' definitions for a request, as the settings switch them on."""
    domains: dict[str, Any] = {}
    if settings.web_allowed_domains:
        domains["allowed_domains"] = list(settings.web_allowed_domains)
    elif settings.web_blocked_domains:
        domains["blocked_domains"] = list(settings.web_blocked_domains)
    tools: list[dict[str, Any]] = []
    if settings.web_search_enabled:
        tools.append({"type": WEB_SEARCH_TYPE, "name": "web_search",
                      "max_uses": settings.web_search_max_uses, **domains})
    if settings.web_fetch_enabled:
        tools.append({"type": WEB_FETCH_TYPE, "name": "web_fetch",
                      "max_uses": settings.web_fetch_max_uses, **domains,
                      "citations": {"enabled": True},
                      "max_content_tokens": FETCH_MAX_CONTENT_TOKENS})
    return tools


class WebTools:
    """The server tools as a provider of the tool registry: every request that lists the
    registry's tools offers them, as the settings are at that call."""

    def __init__(self, settings: Callable[[], Settings]) -> None:
        self._settings = settings

    def definitions(self) -> list[dict[str, Any]]:
        return server_tools(self._settings())

    async def call(self, name: str, arguments: dict[str, Any]) -> tuple[str, bool]:
        # Never reached: the API runs these itself and sends no tool_use for them.
        return f"{name} runs on Anthropic's side, not here", True

    def provider(self) -> ToolProvider:
        return ToolProvider(definitions=self.definitions, call=self.call)


def is_server_tool(definition: dict[str, Any]) -> bool:
    return definition.get("name") in SERVER_TOOLS and "type" in definition


def without_server_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`tools` without the web's server tools (the last one keeps the cache breakpoint)."""
    kept = [t for t in tools if not is_server_tool(t)]
    if kept and tools and "cache_control" in tools[-1] and "cache_control" not in kept[-1]:
        kept[-1] = {**kept[-1], "cache_control": tools[-1]["cache_control"]}
    return kept


def refuses_server_tools(tools: list[dict[str, Any]], message: str, status: int | None) -> bool:
    """A 400/403 about a request that offers the web's server tools and names one of them (not
    enabled for the organisation, not available for the model): the tools, not the turn, are
    what the API refuses."""
    if status not in (400, 403) or not any(is_server_tool(t) for t in tools):
        return False
    words = message.lower()
    return any(name in words or name.replace("_", " ") in words for name in SERVER_TOOLS) \
        or "server tool" in words


def uses_so_far(messages: list[dict[str, Any]]) -> Counter[str]:
    """Server-tool uses in `messages` (a turn's messages so far), by tool name."""
    used: Counter[str] = Counter()
    for message in messages:
        if message.get("role") != "assistant" or not isinstance(message.get("content"), list):
            continue
        for block in message["content"]:
            if block.get("type") == "server_tool_use" and block.get("name") in SERVER_TOOLS:
                used[block["name"]] += 1
    return used


def limit_per_turn(tools: list[dict[str, Any]], messages: list[dict[str, Any]]
                   ) -> list[dict[str, Any]]:
    """`tools` with each server tool's max_uses lowered by what the turn used already (gone when
    none is left). The first call of a turn sends them unchanged: an idle tick's prefix, and
    with it the prompt cache, stays the same."""
    used = uses_so_far(messages)
    if not used:
        return tools
    limited: list[dict[str, Any]] = []
    for tool in tools:
        if is_server_tool(tool) and used[tool["name"]]:
            left = int(tool.get("max_uses") or 0) - used[tool["name"]]
            if left <= 0:
                continue
            tool = {**tool, "max_uses": left}
        limited.append(tool)
    if limited and "cache_control" in tools[-1] and "cache_control" not in limited[-1]:
        limited[-1] = {**limited[-1], "cache_control": tools[-1]["cache_control"]}
    return limited


@dataclass(frozen=True)
class WebSource:
    url: str
    title: str


def sources(content: list[dict[str, Any]]) -> list[WebSource]:
    """What a reply relied on from the web: the pages its text cites and the pages it fetched,
    in order, each URL once."""
    found: dict[str, WebSource] = {}
    for block in content:
        kind = block.get("type")
        if kind == "text":
            for citation in block.get("citations") or []:
                url = citation.get("url")
                if isinstance(url, str) and url not in found:
                    found[url] = WebSource(url, str(citation.get("title") or url))
        elif kind == "web_fetch_tool_result":
            result = block.get("content")
            if isinstance(result, dict) and isinstance(result.get("url"), str):
                url = result["url"]
                document = result.get("content")
                title = document.get("title") if isinstance(document, dict) else None
                found.setdefault(url, WebSource(url, str(title or url)))
    return list(found.values())


def errors(content: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(tool, error code) for each server-tool result of a reply that is an error."""
    found: list[tuple[str, str]] = []
    for block in content:
        tool = RESULT_TYPES.get(str(block.get("type")))
        result = block.get("content")
        if tool and isinstance(result, dict) and str(result.get("type", "")).endswith("_error"):
            found.append((tool, str(result.get("error_code", "unknown"))))
    return found


def uses(content: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(tool, input) of each server-tool use in a reply: what it searched or fetched."""
    found: list[tuple[str, dict[str, Any]]] = []
    for block in content:
        if block.get("type") == "server_tool_use":
            given = block.get("input")
            found.append((str(block.get("name")), given if isinstance(given, dict) else {}))
    return found


def with_sources(text: str, cited: list[WebSource]) -> str:
    """`text` with a Sources list for the cited pages it does not name already."""
    missing = [s for s in cited if s.url not in text]
    if not missing:
        return text
    lines = "\n".join(f"- [{s.title}]({s.url})" if s.title != s.url else f"- {s.url}"
                      for s in missing)
    return f"{text.rstrip()}\n\nSources:\n{lines}"


__all__ = ["WebSource", "WebTools", "errors", "limit_per_turn", "refuses_server_tools",
           "server_tools", "settings_key", "sources", "uses", "with_sources",
           "without_server_tools"]
