"""A real MCP channel server for the channel tests, run as `python channel_server.py` over stdio.

Why a real process: what ChannelManager has to get right (the capability check, the custom
`notifications/claude/channel` that the SDK drops unless a binding is registered, restarts when a
process dies) only shows up against a real server speaking the wire protocol through the MCP SDK.

Behaviour, driven by environment variables (all optional):

CHANNEL_MARKER_FILE   a line "<pid>" is appended on every start (the test counts starts with it)
CHANNEL_REPLY_FILE    the `reply(text)` tool appends `text` and a newline here
CHANNEL_EVENTS_FILE   after the client's `initialized`, one event per line of this file
CHANNEL_EVENT_COUNT   ... or this many events "event 1", "event 2", ...
CHANNEL_CRASH_AFTER   exit abruptly (status 3) after emitting the events ...
CHANNEL_CRASH_TIMES   ... on the first this-many starts only (counted in the marker file; default 1)
CHANNEL_NO_CAPABILITY "1": do not announce the experimental "claude/channel" capability
CHANNEL_EXTRA_META    a JSON object of string pairs added to every event's meta
CHANNEL_INSTRUCTIONS  the `instructions` of the initialize result
CHANNEL_PERMISSION    announce "claude/channel/permission" (Claude Code's permission relay):
                      every `notifications/claude/channel/permission_request` is appended as one
                      JSON line to CHANNEL_PERMISSION_FILE, and answered with a
                      `notifications/claude/channel/permission` verdict when this is "allow" or
                      "deny" (as the user's "yes abcde" in the chat would be); "record": no answer
CHANNEL_VERDICT_ID    answer with this request_id instead of the one received (a wrong id)

Every event carries meta {"chat_id": "42", "seq": "<n>"}, so the tests can check meta and order.
The `reply(text, files?)` tool takes files like fakechat's: each path is appended to the reply
file as "file: <path>" (what a real channel would upload to the chat).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Literal

import anyio
import mcp.types as types
from mcp.server import Server, ServerRequestContext
from mcp.server.stdio import stdio_server
from pydantic import BaseModel

CHANNEL_METHOD = "notifications/claude/channel"


class ChannelEventParams(BaseModel):
    content: str
    meta: dict[str, str]


class PermissionRequest(BaseModel):
    """Claude Code's relay request, with its snake_case keys (the SDK's NotificationParams
    would expect camelCase aliases)."""

    request_id: str
    tool_name: str
    description: str
    input_preview: str


class VerdictParams(BaseModel):
    request_id: str
    behavior: str


class Verdict(BaseModel):
    method: Literal["notifications/claude/channel/permission"] = (
        "notifications/claude/channel/permission")
    params: VerdictParams


class ChannelEvent(BaseModel):
    """The vendor notification. Not a `types.Notification`: that one coerces its params into the
    core NotificationParams, which drops `content` and turns `meta` into `_meta`."""

    method: Literal["notifications/claude/channel"] = CHANNEL_METHOD
    params: ChannelEventParams


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def _starts_so_far(marker: Path | None) -> int:
    if marker is None or not marker.exists():
        return 0
    return len(marker.read_text(encoding="utf-8").splitlines())


def _events() -> list[str]:
    events_file = _env_path("CHANNEL_EVENTS_FILE")
    if events_file is not None:
        return events_file.read_text(encoding="utf-8").splitlines()
    count = int(os.environ.get("CHANNEL_EVENT_COUNT", "0"))
    return [f"event {i}" for i in range(1, count + 1)]


async def list_tools(
    ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
) -> types.ListToolsResult:
    return types.ListToolsResult(tools=[types.Tool(
        name="reply",
        description="Send a reply to the chat the last event came from.",
        input_schema={"type": "object", "properties": {
            "text": {"type": "string"},
            **({"files": {"type": "array", "items": {"type": "string"}}}
               if os.environ.get("CHANNEL_FILES") == "1" else {})},
            "required": ["text"]},
    )])


async def call_tool(
    ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
) -> types.CallToolResult:
    if params.name != "reply":
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=f"unknown tool {params.name}")],
            is_error=True)
    text = str((params.arguments or {}).get("text", ""))
    files = [str(f) for f in (params.arguments or {}).get("files", [])]
    reply_file = _env_path("CHANNEL_REPLY_FILE")
    if reply_file is not None:
        with open(reply_file, "a", encoding="utf-8") as handle:
            handle.write(text + "\n" + "".join(f"file: {f}\n" for f in files))
    return types.CallToolResult(content=[types.TextContent(type="text", text=f"sent: {text}")])


def main() -> None:
    marker = _env_path("CHANNEL_MARKER_FILE")
    previous_starts = _starts_so_far(marker)
    if marker is not None:
        with open(marker, "a", encoding="utf-8") as handle:
            handle.write(f"{os.getpid()}\n")
    crash_after = os.environ.get("CHANNEL_CRASH_AFTER")
    crash_times = int(os.environ.get("CHANNEL_CRASH_TIMES", "1"))
    will_crash = crash_after is not None and previous_starts < crash_times
    events = _events()
    extra_meta: dict[str, str] = json.loads(os.environ.get("CHANNEL_EXTRA_META", "{}"))

    async def on_initialized(ctx: ServerRequestContext[Any],
                             params: types.NotificationParams | None) -> None:
        limit = int(crash_after) if will_crash and crash_after is not None else len(events)
        for seq, content in enumerate(events[:limit], start=1):
            # send_notification is typed for core notifications but dumps any model it is given
            # (method + params by alias), which is how a vendor notification goes out.
            event = ChannelEvent(params=ChannelEventParams(
                content=content, meta={"chat_id": "42", "seq": str(seq), **extra_meta}))
            await ctx.session.send_notification(event)  # type: ignore[arg-type]
        if will_crash:
            await anyio.sleep(0.2)  # let the stdout writer flush what was sent
            sys.stdout.flush()
            os._exit(3)

    permission = os.environ.get("CHANNEL_PERMISSION")

    async def on_permission_request(ctx: ServerRequestContext[Any],
                                    params: PermissionRequest) -> None:
        record = _env_path("CHANNEL_PERMISSION_FILE")
        if record is not None:
            with open(record, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(params.model_dump()) + "\n")
        if permission in ("allow", "deny"):
            answer = os.environ.get("CHANNEL_VERDICT_ID") or params.request_id
            # As a phone keyboard would send it: capitalised; the app lower-cases it.
            verdict = Verdict(params=VerdictParams(request_id=answer.upper(),
                                                   behavior=permission))
            await ctx.session.send_notification(verdict)  # type: ignore[arg-type]

    server: Server[Any] = Server("kairos-test-channel", on_list_tools=list_tools,
                                 on_call_tool=call_tool,
                                 instructions=os.environ.get("CHANNEL_INSTRUCTIONS"))
    server.add_notification_handler("notifications/initialized", types.NotificationParams,
                                    on_initialized)
    server.add_notification_handler("notifications/claude/channel/permission_request",
                                    PermissionRequest, on_permission_request)
    experimental: dict[str, dict[str, Any]] | None = None if os.environ.get(
        "CHANNEL_NO_CAPABILITY") == "1" else {"claude/channel": {}}
    if permission and experimental is not None:
        experimental["claude/channel/permission"] = {}

    async def serve() -> None:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options(
                experimental_capabilities=experimental))

    anyio.run(serve)


if __name__ == "__main__":
    main()
