"""One connection to one channel server: its process, the MCP session, its stderr, its end.

Why it is built this way:
- The MCP client session drops a notification the negotiated protocol does not define unless a
  `NotificationBinding` is registered for it, so one is registered for the channel method. Bound
  notifications pass through a bounded queue that drops its oldest entry when full: the handler
  only validates, counts and hands over (`deliver`), it never waits.
- The SDK offers no signal that a stdio server died, so the session's read stream is watched:
  its end is the server's end. Frames are counted as they are read, so that events still in the
  SDK's delivery queue when the server died are waited for briefly, and counted if lost.
- The server's stderr goes through a pipe read by a thread; its last lines say why it died.
- The entry is expanded (plugins.py: ${CLAUDE_PLUGIN_ROOT}, ${VAR}, ${VAR:-default}) at every
  start, so a variable set since applies; one that is missing is a ChannelSpawnError naming it.
- Claude Code's permission relay: a channel that declares both `claude/channel` and
  `claude/channel/permission` gets `notifications/claude/channel/permission_request`
  {request_id, tool_name, description, input_preview} for every approval request, and answers
  with `notifications/claude/channel/permission` {request_id, behavior: "allow" | "deny"}; a
  verdict from any other server is ignored.
- Bounds on I/O (connecting, a tool call, draining the last events) are real-time timeouts, like
  the SDK's own. The `mcp` SDK is imported only here, only when a server is actually started:
  it costs most of a second to import, and channels are off by default.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from contextlib import AsyncExitStack
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
from pydantic import BaseModel, ValidationError

from ... import __version__
from ...clock import Clock
from ...errors import KairosError
from ...tools.base import ToolResult
from .events import (
    CHANNEL_CAPABILITY,
    CHANNEL_METHOD,
    MAX_INSTRUCTIONS_CHARS,
    PERMISSION_CAPABILITY,
    PERMISSION_METHOD,
    PERMISSION_REQUEST_METHOD,
    ChannelEvent,
    PermissionVerdict,
    announces,
    announces_channel,
    cap,
)
from .plugins import Launch, MissingVariableError, launch
from .results import tool_result
from .state import RemoteTool, ServerState

if TYPE_CHECKING:
    from mcp.client.session import ClientSession
    from mcp.shared.message import SessionMessage

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 30.0
CALL_TIMEOUT_SECONDS = 120.0
# How long a dead server's already-received events get to go through the SDK's delivery queue.
DRAIN_SECONDS = 2.0
STDERR_TAIL_LINES = 20
STDERR_SETTLE_SECONDS = 0.5
MAX_TOOL_PAGES = 20

# What the manager does with a valid channel event (rate limit, queue); quick and synchronous.
Deliver = Callable[[ServerState, ChannelEvent], None]
# The model's names for a server's tools (unique across servers: the manager knows them all).
NameTools = Callable[[str, list[Any]], dict[str, RemoteTool]]
# What the manager does with a permission verdict of a relaying channel; quick and synchronous.
Verdict = Callable[[ServerState, PermissionVerdict], None]


class ChannelError(KairosError):
    """A channel server could not be started or talked to; the message names it and says why."""


class ChannelSpawnError(ChannelError):
    """The server's command cannot be run at all: retrying cannot help until settings change."""


def launch_of(server: ServerState) -> Launch:
    """The server's entry as it runs now (expanded from the environment); ChannelSpawnError
    naming a missing variable. Makes the plugin's data folder (0700) when it has one."""
    config = server.config
    try:
        run = launch(server.name, config.command, config.args, config.env, os.environ,
                     plugin_root=config.plugin_root, plugin_data=config.plugin_data)
    except MissingVariableError as exc:
        raise ChannelSpawnError(str(exc)) from None
    if config.plugin_data:
        try:
            os.makedirs(config.plugin_data, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise ChannelSpawnError(f"cannot make its data folder {config.plugin_data} "
                                    f"({exc.strerror or exc}).") from exc
    return run


async def serve_once(server: ServerState, *, clock: Clock, deliver: Deliver,
                     name_tools: NameTools, log_day: Callable[[str], None],
                     on_verdict: Verdict | None = None) -> str:
    """Connect, serve until the connection ends, and say why it ended. Failures inside the
    session are turned into that reason here: raised through the SDK's task groups they would
    arrive wrapped in an ExceptionGroup. ChannelSpawnError when the command cannot run."""
    from mcp.client.extension import NotificationBinding
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client
    from mcp.shared.exceptions import MCPError
    from mcp.types import Implementation, JSONRPCNotification

    server.state = "starting" if server.restarts == 0 else "restarting"
    server.expected = server.handled = 0
    server.drained = asyncio.Event()
    closed = asyncio.Event()
    run = launch_of(server)

    def on_frame(frame: SessionMessage) -> None:
        message = frame.message
        if isinstance(message, JSONRPCNotification) and message.method == CHANNEL_METHOD:
            count_event(server, message.params)

    current: list[ClientSession] = []
    # Events that come before the server's tools are known wait here, so that the turn
    # they wake already offers the tools to answer them with.
    early: list[ChannelEvent] = []

    async def on_event(event: ChannelEvent) -> None:
        # Events can be handled before initialize() has returned here (the server may send
        # as soon as it has our `initialized`), but the capabilities are known by then. An
        # event sent before the handshake finds none, and is counted as ignored.
        if current:
            server.is_channel = announces_channel(current[0].server_capabilities)
        if server.state != "running":
            early.append(event)
            return
        receive(server, event, deliver)

    async def on_permission(verdict: PermissionVerdict) -> None:
        if not server.relays_permission or on_verdict is None:
            log.warning("server %s sent a permission verdict without declaring %r: ignored",
                        server.name, PERMISSION_CAPABILITY)
            return
        on_verdict(server, verdict)

    async with AsyncExitStack() as stack:
        stderr = StderrTail(server.name)
        params = StdioServerParameters(command=run.command, args=run.args, env=run.env or None)
        try:
            read, write = await stack.enter_async_context(
                stdio_client(params, errlog=stderr.writer))
        except OSError as exc:
            raise ChannelSpawnError(
                f"cannot run {run.command!r} ({exc.strerror or exc}).") from exc
        finally:
            stderr.close_writer()  # the child has its own copy; EOF follows its exit
        session = await stack.enter_async_context(ClientSession(
            WatchedReadStream(read, closed, on_frame), write,
            client_info=Implementation(name="kairos-desktop", version=__version__),
            notification_bindings=[
                NotificationBinding(method=CHANNEL_METHOD, params_type=ChannelEvent,
                                    handler=on_event),
                NotificationBinding(method=PERMISSION_METHOD, params_type=PermissionVerdict,
                                    handler=on_permission)],
        ))
        current.append(session)
        try:
            with anyio.fail_after(CONNECT_TIMEOUT_SECONDS):
                init = await session.initialize()
                tools = await list_tools(session)
        except TimeoutError:
            return (f"no answer to initialize within {CONNECT_TIMEOUT_SECONDS:g} s"
                    f"{await stderr.suffix()}")
        except MCPError as exc:
            return f"the connection failed while starting: {exc.message}{await stderr.suffix()}"
        except (ValidationError, RuntimeError) as exc:
            return f"the server answered the handshake wrongly: {exc}"
        server.is_channel = announces_channel(init.capabilities)
        server.relays_permission = server.is_channel and announces(init.capabilities,
                                                                   PERMISSION_CAPABILITY)
        text = (init.instructions or "").strip()
        server.instructions = cap(text, MAX_INSTRUCTIONS_CHARS) if text else None
        if not server.is_channel:
            # Kept for its tools only: a plain MCP server is still useful, but it was not
            # written to push messages, so nothing it sends reaches the model as an event.
            log.warning("server %s does not announce the %r capability: its tools are "
                        "offered, its notifications are ignored", server.name,
                        CHANNEL_CAPABILITY)
        server.tools = name_tools(server.name, tools)
        server.session = session
        server.state = "running"
        server.last_error = None
        for event in early:
            receive(server, event, deliver)
        early.clear()
        log.info("channel server %s is running (%d tools)", server.name, len(server.tools))
        await clock.wait(closed, None)
        server.state = "restarting"
        server.session = None
        await drain(server, log_day)
        return f"its process exited{await stderr.suffix()}"
    raise AssertionError("unreachable: every path above returns or raises")


async def list_tools(session: ClientSession) -> list[Any]:
    from mcp.types import PaginatedRequestParams

    tools: list[Any] = []
    cursor: str | None = None
    for _ in range(MAX_TOOL_PAGES):
        page = await session.list_tools(
            params=PaginatedRequestParams(cursor=cursor) if cursor else None)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            break
    return tools


async def call_remote(session: ClientSession, tool: RemoteTool,
                      arguments: dict[str, Any]) -> ToolResult:
    """Run `tool` on its server, never raising for the server's trouble."""
    from mcp.shared.exceptions import MCPError

    name = tool.model_name
    try:
        result = await session.call_tool(tool.remote_name, arguments,
                                         read_timeout_seconds=CALL_TIMEOUT_SECONDS)
    except MCPError as exc:
        return ToolResult(f"{name} failed: {exc.message} (MCP error {exc.code}).", True)
    except (RuntimeError, ValidationError, anyio.BrokenResourceError,
            anyio.ClosedResourceError) as exc:
        return ToolResult(f"{name} failed: {exc}", True)
    return tool_result(result)


class _PermissionRequest(BaseModel):
    """Claude Code's outbound relay notification (a vendor one: not a types.Notification, whose
    params would be coerced into the core NotificationParams)."""

    method: str = PERMISSION_REQUEST_METHOD
    params: dict[str, str]


async def send_permission_request(session: ClientSession, params: dict[str, str]) -> None:
    """Send {request_id, tool_name, description, input_preview} to a relaying channel."""
    # send_notification dumps any model it is given (method + params by alias).
    await session.send_notification(_PermissionRequest(params=params))  # type: ignore[arg-type]


async def drain(server: ServerState, log_day: Callable[[str], None]) -> None:
    """Events read just before the connection ended may still sit in the SDK's delivery
    queue: give them a moment, and count (never hide) any that did not make it."""
    if server.handled < server.expected:
        with anyio.move_on_after(DRAIN_SECONDS):
            await server.drained.wait()
    missing = server.expected - server.handled
    if missing > 0:
        server.lost += missing
        log.error("%d event(s) from channel %s were lost when it stopped", missing,
                  server.name)
        log_day(f"{missing} event(s) from channel {server.name} were lost when its "
                "server stopped")


def count_event(server: ServerState, params: dict[str, Any] | None) -> None:
    """Called for every channel event read off the wire, in order, before the SDK dispatches
    it: counts what the binding must deliver, and reports what it will refuse."""
    try:
        ChannelEvent.model_validate(params or {})
    except ValidationError as exc:
        server.malformed += 1
        log.warning("channel %s sent a malformed event (ignored): %s", server.name,
                    "; ".join(e["msg"] for e in exc.errors()))
        return
    server.expected += 1
    server.drained.clear()


def receive(server: ServerState, event: ChannelEvent, deliver: Deliver) -> None:
    """The binding's handler: quick and synchronous (the SDK's queue drops when full)."""
    server.handled += 1
    if server.handled >= server.expected:
        server.drained.set()
    if not server.is_channel:
        server.ignored += 1
        if server.ignored == 1:
            log.warning("server %s sent a channel event but did not announce %r: ignored",
                        server.name, CHANNEL_CAPABILITY)
        return
    deliver(server, event)


def describe(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"


class WatchedReadStream:
    """The session's read stream, seen through: every message is shown to `on_frame` in wire
    order, and `closed` is set when the stream ends (the server process exited or the session
    closed). The SDK offers no other signal that a stdio server died."""

    def __init__(self, inner: Any, closed: asyncio.Event,
                 on_frame: Callable[[SessionMessage], None]) -> None:
        self._inner = inner
        self._closed = closed
        self._on_frame = on_frame

    def _seen(self, item: Any) -> Any:
        if not isinstance(item, Exception):
            self._on_frame(item)
        return item

    async def receive(self) -> Any:
        try:
            return self._seen(await self._inner.receive())
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            self._closed.set()
            raise

    def __aiter__(self) -> WatchedReadStream:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        self._closed.set()
        await self._inner.aclose()

    async def __aenter__(self) -> WatchedReadStream:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc_val: BaseException | None, exc_tb: TracebackType | None) -> None:
        await self.aclose()


class StderrTail:
    """The server's stderr through a pipe: each line is logged at debug level and the last few
    are kept, to say why a server died. A thread reads it because a plain pipe cannot be read
    asynchronously on every platform's event loop."""

    def __init__(self, name: str) -> None:
        read_fd, write_fd = os.pipe()
        self.writer = os.fdopen(write_fd, "w", encoding="utf-8")
        self.lines: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self._name = name
        self._thread = threading.Thread(target=self._pump, args=(read_fd,), daemon=True,
                                        name=f"channel-{name}-stderr")
        self._thread.start()

    def _pump(self, read_fd: int) -> None:
        with open(read_fd, encoding="utf-8", errors="replace") as stream:
            for raw in stream:
                line = raw.rstrip()
                if line:
                    self.lines.append(line)
                    log.debug("channel %s stderr: %s", self._name, line)

    def close_writer(self) -> None:
        with contextlib.suppress(OSError):
            self.writer.close()

    async def suffix(self) -> str:
        """The last lines, as an addition to a reason. The reader gets a moment to reach the
        end of the pipe (it does once the server exited), off the event loop."""
        await asyncio.to_thread(self._thread.join, STDERR_SETTLE_SECONDS)
        last = list(self.lines)[-3:]
        return f"; its last output: {' | '.join(last)}" if last else ""
