"""A scripted fake of the Anthropic Messages API, served over real HTTP on loopback.

Why this exists: kairos_desktop talks to Claude through the official ``anthropic``
SDK, and the behaviour we care about in tests (retries, streaming, tool-use
round trips, prompt-cache accounting, timeouts) lives partly *inside* that SDK.
Mocking the SDK would test our assumptions about it rather than the SDK itself.
So tests point a real ``Anthropic`` / ``AsyncAnthropic`` client at this server
(``base_url=fake.base_url``, any dummy api_key) and script what "Claude" answers.

The server is standard library only (a ``ThreadingHTTPServer`` driven by a
daemon accept thread, HTTP/1.1 keep-alive, ``Content-Length`` bodies and
``Transfer-Encoding: chunked`` server-sent events). It validates requests the
way the real API does (400 ``invalid_request_error`` with a precise message),
counts tokens roughly (characters / 4) and simulates prompt caching under the
real rules (explicit breakpoints, 20-block lookback, 5m / 1h TTLs on an
injectable clock, a minimum cacheable prefix), so that usage numbers reported
to the caller are self-consistent and a benchmark can rely on them:
``input_tokens + cache_read_input_tokens + cache_creation_input_tokens`` is
always the total prompt size.

Typical use::

    with FakeAnthropic() as fake:
        fake.enqueue(tool_use("read_file", {"path": "a.txt"}), text("done"))
        client = Anthropic(api_key="test", base_url=fake.base_url)
        ...
        assert fake.history[1].last_user_text == "contents of a.txt"
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import http.server
import json
import math
import re
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

__all__ = [
    "FakeAnthropic",
    "RecordedRequest",
    "Refusal",
    "Reply",
    "ScriptItem",
    "UsageTotals",
    "broken",
    "delay",
    "disconnect",
    "error",
    "hang",
    "prompt_tokens",
    "text",
    "tool_use",
    "tool_uses",
    "web_fetch",
    "web_search",
    "web_search_error",
]

MESSAGES_PATH = "/v1/messages"
COUNT_TOKENS_PATH = "/v1/messages/count_tokens"
MAX_CACHE_BREAKPOINTS = 4
CACHE_LOOKBACK_BLOCKS = 20
_TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}
_TOOL_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
# The server tools' versions the SDK (anthropic 2.15) types, by the name they must carry.
SERVER_TOOL_TYPES = {
    "web_search": ("web_search_20250305", "web_search_20260209", "web_search_20260318"),
    "web_fetch": ("web_fetch_20250910", "web_fetch_20260209", "web_fetch_20260309",
                  "web_fetch_20260318"),
}
_SERVER_RESULT_TYPES = {"web_search_tool_result": "web_search",
                        "web_fetch_tool_result": "web_fetch"}

_DEFAULT_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_DEFAULT_ERROR_MESSAGES = {
    "invalid_request_error": "Invalid request",
    "authentication_error": "invalid x-api-key",
    "billing_error": "Your credit balance is too low",
    "permission_error": "Your API key does not have permission to use the specified resource.",
    "not_found_error": "Not found",
    "timeout_error": "Request timed out",
    "conflict_error": "Conflict",
    "request_too_large": "Request exceeds the maximum allowed number of bytes.",
    "rate_limit_error": "Number of requests has exceeded your rate limit",
    "api_error": "Internal server error",
    "overloaded_error": "Overloaded",
}


# --------------------------------------------------------------------------- replies


@dataclass(frozen=True)
class Reply:
    """One scripted answer. Build it with :func:`text`, :func:`tool_use`, :func:`error`...

    ``content`` holds API content blocks; a ``tool_use`` block whose ``id`` is
    ``None`` gets a fresh unique ``toolu_...`` id each time the reply is served.
    """

    status: int = 200
    content: tuple[Mapping[str, Any], ...] = ()
    stop_reason: str | None = "end_turn"
    error_type: str | None = None
    error_message: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop_connection: bool = False
    # "truncated": a 200 whose body (JSON, or the event stream) stops half way;
    # "bad_sse": an event stream whose data lines are not JSON; "garbage": a non-JSON body.
    broken: str | None = None
    # Never answer (until the fake stops, or release_hangs()): an API that hangs.
    hang: bool = False

    @property
    def is_error(self) -> bool:
        return self.status >= 400


def text(s: str, *, stop_reason: str = "end_turn") -> Reply:
    """A reply with a single text block."""
    return Reply(content=({"type": "text", "text": s},), stop_reason=stop_reason)


def tool_use(
    name: str, input: dict[str, Any], *, id: str | None = None, text: str | None = None
) -> Reply:
    """A reply calling one tool (``stop_reason="tool_use"``), optionally after a text block."""
    blocks: list[Mapping[str, Any]] = []
    if text is not None:
        blocks.append({"type": "text", "text": text})
    blocks.append({"type": "tool_use", "id": id, "name": name, "input": dict(input)})
    return Reply(content=tuple(blocks), stop_reason="tool_use")


def tool_uses(*calls: tuple[str, dict[str, Any]]) -> Reply:
    """A reply with several ``tool_use`` blocks (parallel tool calls)."""
    if not calls:
        raise ValueError("tool_uses() needs at least one (name, input) pair")
    blocks = tuple(
        {"type": "tool_use", "id": None, "name": name, "input": dict(inp)} for name, inp in calls
    )
    return Reply(content=blocks, stop_reason="tool_use")


# Server tools (web search, web fetch) run inside the API: one reply carries the
# ``server_tool_use`` block, its result block and the text that cites it, in the shapes of the
# SDK's ServerToolUseBlock, WebSearchToolResultBlock / WebFetchToolResultBlock and TextBlock
# with CitationsWebSearchResultLocation; ``usage.server_tool_use`` counts the uses. A block id
# of ``None`` gets a fresh ``srvtoolu_...`` id (the result's ``tool_use_id`` follows it).


def _server_use(name: str, input: dict[str, Any]) -> dict[str, Any]:
    return {"type": "server_tool_use", "id": None, "name": name, "input": dict(input)}


def _then(blocks: list[Mapping[str, Any]], then: Reply | None, answer: str | None = None
          ) -> Reply:
    """A server tool's reply: its `blocks`, the text `answer` if any, then what `then` holds
    (its stop reason, else end_turn)."""
    if answer is not None:
        blocks.append({"type": "text", "text": answer})
    if then is None:
        return Reply(content=tuple(blocks), stop_reason="end_turn")
    return Reply(content=(*blocks, *then.content), stop_reason=then.stop_reason or "end_turn")


def web_search(
    query: str,
    results: list[tuple[str, str]],
    *,
    answer: str | None = None,
    cite: int | None = 0,
    then: Reply | None = None,
) -> Reply:
    """A reply that searched ``query`` and found ``results`` [(url, title)], then wrote
    ``answer`` citing result number ``cite`` (None: no citation). ``then`` (a tool_use reply)
    appends its blocks and stop reason: the model searches, then calls a tool of ours."""
    found = [{"type": "web_search_result", "url": url, "title": title,
              "encrypted_content": "Eq" + hashlib.sha256(url.encode()).hexdigest()[:24],
              "page_age": "3 days ago"} for url, title in results]
    blocks: list[Mapping[str, Any]] = [
        _server_use("web_search", {"query": query}),
        {"type": "web_search_tool_result", "tool_use_id": None, "content": found},
    ]
    if answer is not None:
        block: dict[str, Any] = {"type": "text", "text": answer}
        if cite is not None and results:
            url, title = results[cite]
            block["citations"] = [{"type": "web_search_result_location", "url": url,
                                   "title": title, "cited_text": answer[:150],
                                   "encrypted_index": "Eo" + url[-8:]}]
        blocks.append(block)
    return _then(blocks, then)


def web_search_error(query: str, code: str = "unavailable", *, answer: str | None = None,
                     then: Reply | None = None) -> Reply:
    """A search that failed inside the API: the result block carries the error code
    (``max_uses_exceeded``, ``too_many_requests``, ``unavailable``, ``query_too_long``...)."""
    blocks: list[Mapping[str, Any]] = [
        _server_use("web_search", {"query": query}),
        {"type": "web_search_tool_result", "tool_use_id": None,
         "content": {"type": "web_search_tool_result_error", "error_code": code}},
    ]
    return _then(blocks, then, answer)


def web_fetch(url: str, page: str, *, title: str | None = None, answer: str | None = None,
              then: Reply | None = None) -> Reply:
    """A reply that fetched ``url`` (its text ``page``), then wrote ``answer``."""
    blocks: list[Mapping[str, Any]] = [
        _server_use("web_fetch", {"url": url}),
        {"type": "web_fetch_tool_result", "tool_use_id": None, "content": {
            "type": "web_fetch_result", "url": url, "retrieved_at": "2026-11-22T08:59:00Z",
            "content": {"type": "document", "title": title,
                        "source": {"type": "text", "media_type": "text/plain", "data": page},
                        "citations": {"enabled": True}}}},
    ]
    return _then(blocks, then, answer)


def error(
    status: int,
    *,
    type: str | None = None,
    message: str | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """An API error in the real shape ``{"type": "error", "error": {"type": ..., "message": ...}}``.

    ``type`` defaults to the type the real API uses for ``status`` (429 ->
    ``rate_limit_error``, 529 -> ``overloaded_error``, other 5xx -> ``api_error``...).
    Note the SDK only honours ``retry-after`` / ``retry-after-ms`` values > 0; ``"0"``
    falls back to its exponential backoff (~0.4-0.5 s for the first retry).
    """
    if status < 400:
        raise ValueError(f"error() needs a 4xx/5xx status, got {status}")
    err_type = type or _DEFAULT_ERROR_TYPES.get(
        status, "api_error" if status >= 500 else "invalid_request_error"
    )
    return Reply(
        status=status,
        stop_reason=None,
        error_type=err_type,
        error_message=message
        if message is not None
        else _DEFAULT_ERROR_MESSAGES.get(err_type, err_type),
        headers=dict(headers or {}),
    )


def delay(seconds: float, reply: Reply) -> Reply:
    """Serve ``reply`` only after ``seconds`` of real time (for client timeout tests)."""
    return dataclasses.replace(reply, delay=seconds)


def disconnect() -> Reply:
    """Close the connection without answering (the SDK sees a connection error and retries)."""
    return Reply(status=0, stop_reason=None, drop_connection=True)


BROKEN_KINDS = ("truncated", "bad_sse", "garbage")


def broken(kind: str = "truncated", reply: Reply | None = None) -> Reply:
    """A 200 whose body cannot be read: cut half way ("truncated", JSON or event stream), an
    event stream whose data is not JSON ("bad_sse"), or a body that is not JSON ("garbage").
    ``reply`` is what the body would have said (a text reply by default)."""
    if kind not in BROKEN_KINDS:
        raise ValueError(f"broken() kind must be one of {BROKEN_KINDS}, not {kind!r}")
    return dataclasses.replace(reply or text("cut short"), broken=kind)


def hang() -> Reply:
    """Take the request and never answer (until :meth:`FakeAnthropic.release_hangs` or the
    fake stops): an API that hangs. The connection stays open, so only a client timeout ends
    the call."""
    return Reply(status=0, stop_reason=None, hang=True)


@dataclass(frozen=True)
class Refusal:
    """A request the fake refuses for its content, whatever the script says, as the real API
    refuses a prompt that is too long or a bad image (see :meth:`FakeAnthropic.refuse`)."""

    contains: str
    status: int = 400
    message: str = "prompt is too long: 250000 tokens > 200000 maximum"


# --------------------------------------------------------------------------- records


@dataclass
class RecordedRequest:
    """One HTTP request the fake received (also rejected and failed ones)."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    received_at: float
    """time.monotonic() once the request's bytes were all read, before they were parsed."""
    reply_status: int = 0
    """Status the server answered (or is about to answer) with; 0 if undecided or dropped."""
    method: str = "POST"
    usage: dict[str, Any] | None = None
    """The usage the server answered with (input, cache read, cache write, output tokens);
    None until a successful reply was sent."""

    @property
    def model(self) -> str:
        """The model id the request asked for."""
        return str(self.body.get("model", ""))

    @property
    def messages(self) -> list[dict[str, Any]]:
        msgs = self.body.get("messages")
        return msgs if isinstance(msgs, list) else []

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def system_text(self) -> str:
        system = self.body.get("system")
        if isinstance(system, str):
            return system
        if isinstance(system, list):
            return "\n".join(
                b.get("text", "") for b in system if isinstance(b, dict) and b.get("type") == "text"
            )
        return ""

    @property
    def last_user_text(self) -> str:
        for msg in reversed(self.messages):
            if isinstance(msg, dict) and msg.get("role") == "user":
                return _content_text(msg.get("content"))
        return ""

    @property
    def tool_names(self) -> list[str]:
        tools = self.body.get("tools")
        if not isinstance(tools, list):
            return []
        return [t["name"] for t in tools if isinstance(t, dict) and isinstance(t.get("name"), str)]


def _content_text(content: Any) -> str:
    """All text of a message content, including text nested inside ``tool_result`` blocks."""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    if isinstance(content, list):
        for block in content:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text":
                parts.append(str(block.get("text", "")))
            elif block.get("type") == "tool_result":
                inner = _content_text(block.get("content"))
                if inner:
                    parts.append(inner)
    return "\n".join(parts)


ScriptItem: TypeAlias = Reply | Callable[[RecordedRequest], Reply]
"""What the script holds: a fixed reply, or a function of the request that returns one."""


@dataclass
class UsageTotals:
    """Cumulative usage over every successful /v1/messages reply."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    requests: int = 0

    @property
    def total_input_tokens(self) -> int:
        return self.input_tokens + self.cache_read_input_tokens + self.cache_creation_input_tokens


# --------------------------------------------------------------------------- tokens & cache


def _tokens(s: str) -> int:
    return math.ceil(len(s) / 4)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _strip_cache_control(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_cache_control(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [_strip_cache_control(v) for v in value]
    return value


def _text_blocks(content: Any) -> list[Any]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list):
        return content
    return []


def _find_cache_control(block: Any) -> Any:
    """The block's cache_control (a tool_result's nested blocks count as the tool_result's)."""
    if not isinstance(block, dict):
        return None
    cc = block.get("cache_control")
    if cc is not None:
        return cc
    if block.get("type") == "tool_result" and isinstance(block.get("content"), list):
        for inner in block["content"]:
            if isinstance(inner, dict) and inner.get("cache_control") is not None:
                return inner["cache_control"]
    return None


@dataclass
class _PromptBlock:
    where: str  # "tools.0", "system.1", "messages.2.content.0"
    key: str  # canonical identity (section, position, role, block sans cache_control)
    tokens: int
    cache_control: Any


def _prompt_blocks(body: Mapping[str, Any]) -> list[_PromptBlock]:
    """The prompt as the ordered block sequence: tools, then system, then message content."""
    out: list[_PromptBlock] = []

    def add(where: str, ident: dict[str, Any], block: Any) -> None:
        clean = _strip_cache_control(block)
        out.append(
            _PromptBlock(
                where=where,
                key=_canonical({**ident, "b": clean}),
                tokens=_tokens(_canonical(clean)),
                cache_control=_find_cache_control(block),
            )
        )

    tools = body.get("tools")
    if isinstance(tools, list):
        for i, tool in enumerate(tools):
            add(f"tools.{i}", {"s": "tools"}, tool)
    for i, block in enumerate(_text_blocks(body.get("system"))):
        add(f"system.{i}", {"s": "system"}, block)
    messages = body.get("messages")
    if isinstance(messages, list):
        for m, msg in enumerate(messages):
            if not isinstance(msg, dict):
                continue
            for i, block in enumerate(_text_blocks(msg.get("content"))):
                add(
                    f"messages.{m}.content.{i}",
                    {"s": "messages", "m": m, "r": msg.get("role")},
                    block,
                )
    return out


def prompt_tokens(body: Mapping[str, Any]) -> int:
    """The fake's token count for a request body: sum of ceil(len(canonical block JSON) / 4)."""
    return sum(b.tokens for b in _prompt_blocks(body))


def _output_tokens(content: list[dict[str, Any]]) -> int:
    n = 0
    for block in content:
        if block.get("type") == "text":
            n += _tokens(str(block.get("text", "")))
        elif block.get("type") == "tool_use":
            n += _tokens(str(block.get("name", "")) + _canonical(block.get("input", {})))
        else:
            n += _tokens(_canonical(block))
    return max(n, 1)


@dataclass
class _CacheEntry:
    expires_at: float
    ttl: float


@dataclass
class _Usage:
    input_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int
    ephemeral_5m_input_tokens: int
    ephemeral_1h_input_tokens: int

    def as_dict(self, output_tokens: int,
                server_tool_use: Mapping[str, int] | None = None) -> dict[str, Any]:
        usage: dict[str, Any] = {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": self.ephemeral_5m_input_tokens,
                "ephemeral_1h_input_tokens": self.ephemeral_1h_input_tokens,
            },
            "output_tokens": output_tokens,
            "service_tier": "standard",
        }
        if server_tool_use is not None:
            usage["server_tool_use"] = dict(server_tool_use)
        return usage


def _server_tool_counts(content: list[dict[str, Any]]) -> dict[str, int] | None:
    """usage.server_tool_use of a reply (ServerToolUsage): None when it used none."""
    uses = [b.get("name") for b in content if b.get("type") == "server_tool_use"]
    if not uses:
        return None
    return {"web_search_requests": uses.count("web_search"),
            "web_fetch_requests": uses.count("web_fetch")}


# --------------------------------------------------------------------------- validation


class _Invalid(Exception):
    pass


def _validate(body: Any, *, require_max_tokens: bool = True) -> None:
    """Raise _Invalid with a message modelled on the real API's for a malformed request."""
    if not isinstance(body, dict):
        raise _Invalid("Request body must be a JSON object")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise _Invalid("model: Field required")
    if require_max_tokens:
        if "max_tokens" not in body:
            raise _Invalid("max_tokens: Field required")
        mt = body["max_tokens"]
        if not isinstance(mt, int) or isinstance(mt, bool) or mt < 1:
            raise _Invalid("max_tokens: Input should be greater than or equal to 1")
    if "messages" not in body:
        raise _Invalid("messages: Field required")
    messages = body["messages"]
    if not isinstance(messages, list):
        raise _Invalid("messages: Input should be a valid list")
    if not messages:
        raise _Invalid("messages: at least one message is required")
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or msg.get("role") not in ("user", "assistant"):
            role = msg.get("role") if isinstance(msg, dict) else None
            # The SDK's MessageParam also allows role "system"; this fake does not model it.
            raise _Invalid(
                f"messages.{i}.role: Input should be 'user' or 'assistant' (got {role!r}; "
                "the fake server does not model system-role messages)"
            )
        content = msg.get("content")
        if not isinstance(content, (str, list)):
            raise _Invalid(f"messages.{i}.content: Field required")
        is_final_assistant = i == len(messages) - 1 and msg["role"] == "assistant"
        if not content and not is_final_assistant:
            raise _Invalid(
                f"messages.{i}: all messages must have non-empty content "
                "except for the optional final assistant message"
            )
        if isinstance(content, list):
            for j, block in enumerate(content):
                if not isinstance(block, dict) or not isinstance(block.get("type"), str):
                    raise _Invalid(
                        f"messages.{i}.content.{j}: "
                        "Input should be a valid content block with a `type`"
                    )
    if messages[0]["role"] != "user":
        raise _Invalid('messages: first message must use the "user" role')
    for i in range(1, len(messages)):
        if messages[i]["role"] == messages[i - 1]["role"]:
            role = messages[i]["role"]
            raise _Invalid(
                f'messages: roles must alternate between "user" and "assistant", '
                f'but found multiple "{role}" roles in a row (messages.{i - 1} and messages.{i})'
            )
    _validate_tool_pairing(messages)
    _validate_server_results(messages)
    _validate_tools(body.get("tools"))
    _validate_system(body.get("system"))
    _validate_cache_control(body)


def _blocks_of(msg: Mapping[str, Any], type_: str) -> list[dict[str, Any]]:
    content = msg.get("content")
    if not isinstance(content, list):
        return []
    return [b for b in content if isinstance(b, dict) and b.get("type") == type_]


def _validate_tool_pairing(messages: list[dict[str, Any]]) -> None:
    for i, msg in enumerate(messages):
        if msg["role"] == "user":
            results = _blocks_of(msg, "tool_result")
            if not results:
                continue
            prev_ids = (
                {b.get("id") for b in _blocks_of(messages[i - 1], "tool_use")} if i > 0 else set()
            )
            for j, block in enumerate(msg["content"]):
                if not (isinstance(block, dict) and block.get("type") == "tool_result"):
                    continue
                tid = block.get("tool_use_id")
                if not isinstance(tid, str):
                    raise _Invalid(
                        f"messages.{i}.content.{j}.tool_result.tool_use_id: Field required"
                    )
                if tid not in prev_ids:
                    raise _Invalid(
                        f"messages.{i}.content.{j}: unexpected `tool_use_id` found in "
                        f"`tool_result` blocks: {tid}. Each `tool_result` block must have "
                        "a corresponding `tool_use` block in the previous message."
                    )
        elif i + 1 < len(messages):
            uses = _blocks_of(msg, "tool_use")
            if not uses:
                continue
            answered = {b.get("tool_use_id") for b in _blocks_of(messages[i + 1], "tool_result")}
            missing = [str(b.get("id")) for b in uses if b.get("id") not in answered]
            if missing:
                raise _Invalid(
                    f"messages.{i}: `tool_use` ids were found without `tool_result` blocks "
                    f"immediately after: {', '.join(missing)}. Each `tool_use` block must have "
                    "a corresponding `tool_result` block "
                    "in the next message."
                )


def _validate_tools(tools: Any) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise _Invalid("tools: Input should be a valid list")
    seen: set[str] = set()
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise _Invalid(f"tools.{i}: Input should be a valid dictionary")
        name = tool.get("name")
        custom = tool.get("type") in (None, "custom")
        prefix = f"tools.{i}.custom" if custom else f"tools.{i}"
        if not isinstance(name, str):
            raise _Invalid(f"{prefix}.name: Field required")
        if not _TOOL_NAME_RE.match(name):
            raise _Invalid(f"{prefix}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'")
        if custom and not isinstance(tool.get("input_schema"), dict):
            raise _Invalid(f"{prefix}.input_schema: Field required")
        if not custom:
            _validate_server_tool(prefix, tool)
        if name in seen:
            raise _Invalid(f"tools: Tool names must be unique. Duplicate name: {name}")
        seen.add(name)


def _validate_server_tool(prefix: str, tool: Mapping[str, Any]) -> None:
    """The server tools the fake knows (web search, web fetch), checked as the API does."""
    kind, name = str(tool.get("type")), tool.get("name")
    known = next((n for n, kinds in SERVER_TOOL_TYPES.items() if kind in kinds), None)
    if known is None:
        return  # another server tool (code execution, bash...): not modelled
    if name != known:
        raise _Invalid(f"{prefix}.{kind}.name: Input should be '{known}'")
    uses = tool.get("max_uses")
    if uses is not None and (not isinstance(uses, int) or isinstance(uses, bool) or uses < 1):
        raise _Invalid(f"{prefix}.{kind}.max_uses: Input should be greater than or equal to 1")
    if tool.get("allowed_domains") and tool.get("blocked_domains"):
        raise _Invalid(f"{prefix}.{kind}: Cannot specify both allowed_domains and "
                       "blocked_domains")
    for key in ("allowed_domains", "blocked_domains"):
        for j, domain in enumerate(tool.get(key) or []):
            if not isinstance(domain, str) or "://" in domain or " " in domain \
                    or domain.count("*") > 1 or "*" in domain.split("/", 1)[0]:
                raise _Invalid(f"{prefix}.{kind}.{key}.{j}: invalid domain {domain!r}")


def _validate_server_results(messages: list[dict[str, Any]]) -> None:
    """A server tool's result block follows its server_tool_use in the same assistant
    message, as the API returned them."""
    for i, msg in enumerate(messages):
        if msg["role"] != "assistant" or not isinstance(msg.get("content"), list):
            continue
        used: dict[str, str] = {}
        for j, block in enumerate(msg["content"]):
            if not isinstance(block, dict):
                continue
            if block.get("type") == "server_tool_use":
                used[str(block.get("id"))] = str(block.get("name"))
            elif block.get("type") in _SERVER_RESULT_TYPES:
                tid = block.get("tool_use_id")
                if used.get(str(tid)) != _SERVER_RESULT_TYPES[block["type"]]:
                    raise _Invalid(
                        f"messages.{i}.content.{j}: {block['type']} block with tool_use_id "
                        f"{tid!r} does not follow a matching server_tool_use block")


def _validate_system(system: Any) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        raise _Invalid("system: Input should be a valid string or list of text blocks")
    for i, block in enumerate(system):
        if (
            not isinstance(block, dict)
            or block.get("type") != "text"
            or not isinstance(block.get("text"), str)
        ):
            raise _Invalid(f"system.{i}: Input should be a text block")


def _breakpoints(body: Mapping[str, Any], blocks: list[_PromptBlock]) -> list[tuple[int, str]]:
    """Explicit cache breakpoints as (block index, ttl label).

    A top-level ``cache_control`` (automatic caching) marks the last block.
    """
    found: list[tuple[int, str, Any]] = [
        (i, b.where, b.cache_control) for i, b in enumerate(blocks) if b.cache_control
    ]
    top = body.get("cache_control")
    if top is not None and blocks and (not found or found[-1][0] != len(blocks) - 1):
        found.append((len(blocks) - 1, "cache_control", top))
    out: list[tuple[int, str]] = []
    for index, where, cc in found:
        if not isinstance(cc, dict) or cc.get("type") != "ephemeral":
            raise _Invalid(f"{where}.cache_control.type: Input should be 'ephemeral'")
        ttl = cc.get("ttl", "5m")
        if ttl is None:
            ttl = "5m"
        if ttl not in _TTL_SECONDS:
            raise _Invalid(f"{where}.cache_control.ttl: Input should be '5m' or '1h'")
        out.append((index, ttl))
    return out


def _validate_cache_control(body: Mapping[str, Any]) -> None:
    bps = _breakpoints(body, _prompt_blocks(body))
    if len(bps) > MAX_CACHE_BREAKPOINTS:
        raise _Invalid(
            f"A maximum of {MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. "
            f"Found {len(bps)}."
        )
    seen_5m = False
    for _, ttl in bps:
        if ttl == "5m":
            seen_5m = True
        elif seen_5m:
            raise _Invalid(
                "a ttl='1h' cache_control block must not come after a ttl='5m' "
                "cache_control block. Note that blocks are processed in the following "
                "order: `tools`, `system`, `messages`."
            )


# --------------------------------------------------------------------------- HTTP plumbing


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, fake: FakeAnthropic) -> None:
        super().__init__(("127.0.0.1", 0), _Handler, bind_and_activate=False)
        self.fake = fake
        # Bind by hand: HTTPServer.server_bind() calls socket.getfqdn(), a reverse DNS lookup.
        self.socket.bind(("127.0.0.1", 0))
        self.server_address = self.socket.getsockname()
        self.server_name = "127.0.0.1"
        self.server_port = self.server_address[1]
        self.server_activate()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that resets a kept-alive connection is normal (a process stopping): stay quiet.
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _dispatch(self) -> None:
        try:
            self.server.fake._handle(self)
        except (TimeoutError, BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    do_POST = _dispatch
    do_GET = _dispatch
    do_PUT = _dispatch
    do_PATCH = _dispatch
    do_DELETE = _dispatch


def _read_body(h: _Handler) -> bytes:
    if "chunked" in h.headers.get("Transfer-Encoding", "").lower():
        chunks: list[bytes] = []
        while True:
            size = int(h.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(h.rfile.read(size))
            h.rfile.readline()
    length = int(h.headers.get("Content-Length") or 0)
    return h.rfile.read(length) if length > 0 else b""


def _new_id(prefix: str) -> str:
    return f"{prefix}_01{uuid.uuid4().hex[:22]}"


def _split(s: str, parts: int) -> list[str]:
    if len(s) <= 1 or parts <= 1:
        return [s]
    step = math.ceil(len(s) / parts)
    return [s[i : i + step] for i in range(0, len(s), step)]


# --------------------------------------------------------------------------- the fake


class FakeAnthropic:
    """A scripted Anthropic Messages API on ``127.0.0.1`` for the real SDK to talk to.

    * Each valid POST /v1/messages consumes the next scripted item (a :class:`Reply`
      or a callable getting the :class:`RecordedRequest`); rejected requests (401,
      404, 400 validation) are recorded but consume nothing.
    * With an empty script the answer is ``on_empty``, else a 500 "fake server script
      exhausted after N requests" carrying ``x-should-retry: false`` so the SDK does
      not retry it.
    * Things about the SDK (anthropic 2.12) worth knowing when scripting: it retries
      408/409/429/5xx and connection errors ``max_retries`` times (default 2); it only
      honours ``retry-after`` / ``retry-after-ms`` when > 0 (``"0"`` means its own
      0.5 s-ish backoff; use ``{"retry-after-ms": "1"}`` for an instant retry);
      ``x-should-retry: true|false`` overrides the status-based decision; the api key
      is sent as ``Authorization: Bearer``, not ``x-api-key``.
    * ``history`` and ``totals`` return snapshots; the records inside ``history`` are
      the live objects (``reply_status`` is filled in as the reply is decided).
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] | None = None,
        min_cacheable_tokens: int = 1024,
        on_empty: Reply | Callable[[RecordedRequest], Reply] | None = None,
        max_prompt_tokens: int | None = None,
    ) -> None:
        self._clock: Callable[[], float] = clock or time.monotonic
        self.min_cacheable_tokens = min_cacheable_tokens
        self.on_empty = on_empty
        # Like the model's context window: a longer prompt gets the real API's 400 "prompt is
        # too long: N tokens > M maximum" (counted as prompt_tokens() counts), consuming nothing.
        self.max_prompt_tokens = max_prompt_tokens
        self._refusals: list[Refusal] = []
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._script: deque[Reply | Callable[[RecordedRequest], Reply]] = deque()
        self._history: list[RecordedRequest] = []
        self._totals = UsageTotals()
        self._cache: dict[str, _CacheEntry] = {}
        self._async_waiters: list[
            tuple[int, asyncio.AbstractEventLoop, asyncio.Future[RecordedRequest]]
        ] = []
        self._conns: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._consumed = 0

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> FakeAnthropic:
        if self._server is not None:
            raise RuntimeError("FakeAnthropic already started")
        self._stopping.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._accept_loop, name="fake-anthropic-accept", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        with contextlib.suppress(OSError):  # wake the blocking accept()
            socket.create_connection(("127.0.0.1", server.server_port), timeout=1).close()
        if thread is not None:
            thread.join(timeout=2)
        server.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:  # wake handler threads idling on keep-alive connections
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeAnthropic is not started; use start() or a with-block")
        return f"http://127.0.0.1:{self._server.server_port}"

    def _accept_loop(self) -> None:
        server = self._server
        assert server is not None
        while not self._stopping.is_set():
            try:
                conn, addr = server.socket.accept()
            except OSError:
                return
            if self._stopping.is_set():
                conn.close()
                return
            server.process_request(conn, addr)

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    # ---------------------------------------------------------------- scripting & inspection

    def refuse(self, contains: str, *, status: int = 400, message: str | None = None) -> Refusal:
        """Refuse every request whose messages contain ``contains`` (anywhere in their JSON),
        whatever the script says and without consuming it: the real API's answer to one bad
        prompt (400 "prompt is too long", 400 for a bad image, 413 for a body too large)."""
        refusal = Refusal(contains, status, message if message is not None else
                          Refusal.message)
        with self._lock:
            self._refusals.append(refusal)
        return refusal

    def release_hangs(self) -> None:
        """Let every request held by :func:`hang` end (its connection is closed unanswered)."""
        self._release.set()

    def enqueue(self, *replies: Reply | Callable[[RecordedRequest], Reply]) -> None:
        """Append replies to the script; each successful /v1/messages request consumes one."""
        with self._lock:
            self._script.extend(replies)

    @property
    def pending(self) -> int:
        """Scripted replies not consumed yet."""
        with self._lock:
            return len(self._script)

    @property
    def history(self) -> list[RecordedRequest]:
        """Every request received, in order (a snapshot list; the records themselves are live)."""
        with self._lock:
            return list(self._history)

    @property
    def totals(self) -> UsageTotals:
        """Cumulative usage (a snapshot copy)."""
        with self._lock:
            return dataclasses.replace(self._totals)

    def cache_entries(self) -> int:
        """Number of live (unexpired) prompt-cache entries."""
        now = self._clock()
        with self._lock:
            return sum(1 for e in self._cache.values() if e.expires_at > now)

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    def _describe_history(self) -> str:
        if not self._history:
            return "no requests"
        return "; ".join(
            f"#{i + 1} {r.method} {r.path} -> {r.reply_status}" for i, r in enumerate(self._history)
        )

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> RecordedRequest:
        """Block until at least ``n`` requests arrived; return the ``n``-th one."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._history) >= n, timeout=timeout):
                raise AssertionError(
                    f"FakeAnthropic: expected at least {n} request(s) within {timeout}s, "
                    f"got {len(self._history)} ({self._describe_history()})"
                )
            return self._history[n - 1]

    async def await_requests(self, n: int, timeout: float = 5.0) -> RecordedRequest:
        """Async twin of :meth:`wait_for_requests` (no polling, no executor thread)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[RecordedRequest] = loop.create_future()
        waiter = (n, loop, fut)
        with self._lock:
            if len(self._history) >= n:
                return self._history[n - 1]
            self._async_waiters.append(waiter)
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            with self._lock:
                msg = (
                    f"FakeAnthropic: expected at least {n} request(s) within {timeout}s, "
                    f"got {len(self._history)} ({self._describe_history()})"
                )
            raise AssertionError(msg) from None
        finally:
            with self._lock:
                if waiter in self._async_waiters:
                    self._async_waiters.remove(waiter)

    def _record(self, req: RecordedRequest) -> None:
        with self._cond:
            self._history.append(req)
            count = len(self._history)
            ready = [w for w in self._async_waiters if w[0] <= count]
            self._async_waiters = [w for w in self._async_waiters if w[0] > count]
            self._cond.notify_all()
        for n, loop, fut in ready:
            with contextlib.suppress(RuntimeError):  # the loop may be closed already
                loop.call_soon_threadsafe(_resolve, fut, self._history[n - 1])

    # ---------------------------------------------------------------- request handling

    def _handle(self, h: _Handler) -> None:
        raw = _read_body(h)
        # The request has arrived once its bytes are in: parsing them is this fake's work, not
        # the client's, and must not count in what a bench times up to here.
        received_at = time.monotonic()
        path = h.path.split("?", 1)[0]
        headers = {k.lower(): v for k, v in h.headers.items()}
        try:
            parsed: Any = json.loads(raw) if raw else {}
            json_ok = True
        except ValueError:
            parsed, json_ok = {}, False
        req = RecordedRequest(
            path=path,
            headers=headers,
            body=parsed if isinstance(parsed, dict) else {},
            received_at=received_at,
            method=h.command,
        )
        self._record(req)
        try:
            self._respond(h, req, parsed, json_ok)
        except (TimeoutError, BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            raise
        except Exception as exc:  # a bug in the fake or a scripted callable: tell the test
            h.close_connection = True
            with contextlib.suppress(OSError):
                self._send_error(
                    h,
                    req,
                    500,
                    "api_error",
                    f"fake server internal error: {exc!r}",
                    {"x-should-retry": "false", "connection": "close"},
                )

    def _respond(self, h: _Handler, req: RecordedRequest, parsed: Any, json_ok: bool) -> None:
        path, headers = req.path, req.headers
        if not headers.get("x-api-key") and not headers.get("authorization"):
            self._send_error(h, req, 401, "authentication_error", "x-api-key header is required")
            return
        if h.command != "POST" or path not in (MESSAGES_PATH, COUNT_TOKENS_PATH):
            self._send_error(h, req, 404, "not_found_error", f"Not found: {h.command} {path}")
            return
        if not json_ok:
            self._send_error(
                h,
                req,
                400,
                "invalid_request_error",
                "There was an issue with your request body: invalid JSON",
            )
            return
        try:
            _validate(parsed, require_max_tokens=path == MESSAGES_PATH)
        except _Invalid as exc:
            self._send_error(h, req, 400, "invalid_request_error", str(exc))
            return

        if path == COUNT_TOKENS_PATH:
            req.reply_status = 200
            self._send_json(h, 200, {"input_tokens": prompt_tokens(req.body)})
            return

        refused = self._refusal_for(req)
        if refused is not None:
            status, message = refused
            self._send_error(h, req, status, _DEFAULT_ERROR_TYPES.get(
                status, "invalid_request_error"), message)
            return

        reply = self._next_reply(req)
        if reply.hang:
            req.reply_status = 0
            h.close_connection = True
            while not (self._stopping.is_set() or self._release.is_set()):
                self._stopping.wait(0.05)  # the handler's own thread; the client gave up or not
            with contextlib.suppress(OSError):
                h.connection.shutdown(socket.SHUT_RDWR)
            return
        if reply.drop_connection:
            req.reply_status = 0
            h.close_connection = True
            with contextlib.suppress(OSError):
                h.connection.shutdown(socket.SHUT_RDWR)
            return
        req.reply_status = reply.status
        if reply.delay > 0 and self._stopping.wait(reply.delay):
            h.close_connection = True
            return
        if reply.is_error:
            self._send_error(
                h,
                req,
                reply.status,
                reply.error_type or "api_error",
                reply.error_message or "",
                reply.headers,
            )
            return
        self._send_message(h, req, reply)

    def _refusal_for(self, req: RecordedRequest) -> tuple[int, str] | None:
        """(status, message) when the request is refused for its content, else None."""
        with self._lock:
            refusals = list(self._refusals)
            limit = self.max_prompt_tokens
        if refusals:
            messages = json.dumps(req.messages, ensure_ascii=False)
            for refusal in refusals:
                if refusal.contains in messages:
                    return refusal.status, refusal.message
        if limit is not None:
            size = prompt_tokens(req.body)
            if size > limit:
                return 400, f"prompt is too long: {size} tokens > {limit} maximum"
        return None

    def _next_reply(self, req: RecordedRequest) -> Reply:
        with self._lock:
            item: Reply | Callable[[RecordedRequest], Reply] | None
            if self._script:
                item = self._script.popleft()
                self._consumed += 1
            else:
                item = self.on_empty
            consumed = self._consumed
        if item is None:
            # x-should-retry: false, so a test that forgot to script fails fast (no retries).
            return error(
                500,
                type="api_error",
                message=f"fake server script exhausted after {consumed} requests",
                headers={"x-should-retry": "false"},
            )
        if isinstance(item, Reply):
            return item
        try:
            result = item(req)
        except Exception as exc:  # surface a broken callable as a 500 the test will see
            return error(
                500,
                message=f"fake server reply callable raised {exc!r}",
                headers={"x-should-retry": "false"},
            )
        if not isinstance(result, Reply):
            return error(
                500,
                message=f"fake server reply callable returned {type(result).__name__}, not Reply",
                headers={"x-should-retry": "false"},
            )
        return result

    # ---------------------------------------------------------------- responses

    def _base_headers(self) -> dict[str, str]:
        return {"request-id": _new_id("req"), "anthropic-organization-id": "fake-org"}

    def _send_json(
        self, h: _Handler, status: int, payload: Any, extra_headers: Mapping[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for k, v in {**self._base_headers(), **(extra_headers or {})}.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    def _send_error(
        self,
        h: _Handler,
        req: RecordedRequest,
        status: int,
        err_type: str,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        req.reply_status = status
        request_id = _new_id("req")
        payload = {
            "type": "error",
            "error": {"type": err_type, "message": message},
            "request_id": request_id,
        }
        self._send_json(h, status, payload, {"request-id": request_id, **(headers or {})})

    def _send_message(self, h: _Handler, req: RecordedRequest, reply: Reply) -> None:
        body = req.body
        content: list[dict[str, Any]] = []
        server_id = None
        for block in reply.content:
            b = json.loads(json.dumps(dict(block)))  # deep copy
            if b.get("type") == "tool_use" and not b.get("id"):
                b["id"] = _new_id("toolu")
            if b.get("type") == "server_tool_use":
                b["id"] = b.get("id") or _new_id("srvtoolu")
                server_id = b["id"]
            if b.get("type") in _SERVER_RESULT_TYPES and not b.get("tool_use_id"):
                b["tool_use_id"] = server_id
            content.append(b)
        output_tokens = _output_tokens(content)
        usage = self._account(body, output_tokens)
        server_tool_use = _server_tool_counts(content)
        message: dict[str, Any] = {
            "id": _new_id("msg"),
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": reply.stop_reason,
            "stop_sequence": None,
            "usage": usage.as_dict(output_tokens, server_tool_use),
        }
        req.usage = dict(message["usage"])
        extra = dict(reply.headers)
        if reply.broken is not None:
            self._send_broken(h, reply.broken, message, bool(body.get("stream")), extra)
            return
        if not body.get("stream"):
            self._send_json(h, 200, message, extra)
            return
        self._send_stream(h, message, usage, output_tokens, extra)

    def _send_broken(self, h: _Handler, kind: str, message: dict[str, Any], stream: bool,
                     extra_headers: Mapping[str, str]) -> None:
        """A 200 the client cannot read (see :func:`broken`); the connection is closed after."""
        h.close_connection = True
        if stream:
            start = {**message, "content": [], "stop_reason": None}
            first = json.dumps({"type": "message_start", "message": start})
            events = f"event: message_start\ndata: {first}\n\n"
            if kind == "truncated":
                body = events + 'event: content_block_start\ndata: {"type": "content_bl'
            elif kind == "bad_sse":
                body = events + "event: content_block_start\ndata: {not json at all\n\n"
            else:
                body = "<html>502 Bad Gateway</html>\n"
            content_type = "text/event-stream; charset=utf-8"
        else:
            full = json.dumps(message)
            body = full[: len(full) // 2] if kind == "truncated" else "<html>oops</html>"
            content_type = "application/json"
        data = body.encode()
        h.send_response(200)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(data)))
        h.send_header("Connection", "close")  # so the client does not reuse it: it is closed
        for k, v in {**self._base_headers(), **extra_headers}.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    def _send_stream(
        self,
        h: _Handler,
        message: dict[str, Any],
        usage: _Usage,
        output_tokens: int,
        extra_headers: Mapping[str, str],
    ) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream; charset=utf-8")
        h.send_header("Cache-Control", "no-cache")
        h.send_header("Transfer-Encoding", "chunked")
        for k, v in {**self._base_headers(), **extra_headers}.items():
            h.send_header(k, v)
        h.end_headers()

        def emit(event: str, data: dict[str, Any]) -> None:
            payload = f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()
            h.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))

        start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
        start["usage"] = {**message["usage"], "output_tokens": 1}
        emit("message_start", {"type": "message_start", "message": start})
        emit("ping", {"type": "ping"})
        for index, block in enumerate(message["content"]):
            if block.get("type") == "text":
                emit(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
                for citation in block.get("citations") or []:
                    emit(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "citations_delta", "citation": citation},
                        },
                    )
                for piece in _split(block["text"], 3) if block["text"] else []:
                    emit(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "text_delta", "text": piece},
                        },
                    )
            elif block.get("type") in ("tool_use", "server_tool_use"):
                emit(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {**block, "input": {}},
                    },
                )
                pieces = ["", *_split(json.dumps(block["input"]), 2)]
                for piece in pieces:
                    emit(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "input_json_delta", "partial_json": piece},
                        },
                    )
            else:
                emit(
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": block},
                )
            emit("content_block_stop", {"type": "content_block_stop", "index": index})
        emit(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {
                    "input_tokens": usage.input_tokens,
                    "cache_creation_input_tokens": usage.cache_creation_input_tokens,
                    "cache_read_input_tokens": usage.cache_read_input_tokens,
                    "output_tokens": output_tokens,
                    **({"server_tool_use": message["usage"]["server_tool_use"]}
                       if "server_tool_use" in message["usage"] else {}),
                },
            },
        )
        emit("message_stop", {"type": "message_stop"})
        h.wfile.write(b"0\r\n\r\n")

    # ---------------------------------------------------------------- prompt caching

    def _account(self, body: Mapping[str, Any], output_tokens: int) -> _Usage:
        """Apply the prompt-cache rules to one request; update cache and totals; return usage."""
        blocks = _prompt_blocks(body)
        breakpoints = _breakpoints(body, blocks)
        # Prefix identity: a running hash over the model and the blocks so far.
        hashes: list[str] = []
        cumulative: list[int] = []
        running = hashlib.sha256(_canonical({"model": body["model"]}).encode()).hexdigest()
        total = 0
        for block in blocks:
            running = hashlib.sha256((running + block.key).encode()).hexdigest()
            hashes.append(running)
            total += block.tokens
            cumulative.append(total)

        with self._lock:
            now = self._clock()
            hit = -1
            for bp, _ttl in breakpoints:
                for j in range(bp, max(-1, bp - CACHE_LOOKBACK_BLOCKS - 1), -1):
                    entry = self._cache.get(hashes[j])
                    if entry is not None and entry.expires_at > now:
                        hit = max(hit, j)
                        break
            read = cumulative[hit] if hit >= 0 else 0
            if hit >= 0:
                entry = self._cache[hashes[hit]]
                entry.expires_at = now + entry.ttl
            written_end = read
            per_ttl = {"5m": 0, "1h": 0}
            for bp, ttl in sorted(set(breakpoints)):
                if bp <= hit or cumulative[bp] < self.min_cacheable_tokens:
                    continue
                if cumulative[bp] <= written_end:
                    continue
                seconds = _TTL_SECONDS[ttl]
                self._cache[hashes[bp]] = _CacheEntry(expires_at=now + seconds, ttl=seconds)
                per_ttl[ttl] += cumulative[bp] - written_end
                written_end = cumulative[bp]
            creation = written_end - read
            usage = _Usage(
                input_tokens=total - written_end,
                cache_read_input_tokens=read,
                cache_creation_input_tokens=creation,
                ephemeral_5m_input_tokens=per_ttl["5m"],
                ephemeral_1h_input_tokens=per_ttl["1h"],
            )
            t = self._totals
            t.input_tokens += usage.input_tokens
            t.output_tokens += output_tokens
            t.cache_read_input_tokens += usage.cache_read_input_tokens
            t.cache_creation_input_tokens += usage.cache_creation_input_tokens
            t.requests += 1
        return usage


def _resolve(fut: asyncio.Future[RecordedRequest], req: RecordedRequest) -> None:
    if not fut.done():
        fut.set_result(req)
