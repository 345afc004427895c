"""MCP channels: chat bridges and webhooks that push events to the assistant while it runs.

A channel is an ordinary stdio MCP server that announces `capabilities.experimental
["claude/channel"]` and sends `notifications/claude/channel` {content, meta}. Each event becomes an
external inbound item that wakes the loop; the server's own tools (a `reply` tool, typically) are
offered to the model as `SERVER__TOOL`.

Why it is built this way:
- Only servers the user named in `allowedChannelPlugins` are ever spawned: a channel injects text
  into the prompt, so running one is a trust decision. Others are refused and listed in `refused`.
- The MCP client session drops a notification the negotiated protocol does not define unless a
  `NotificationBinding` is registered for it, so one is registered for the channel method. Bound
  notifications pass through a bounded queue that drops its oldest entry when full: the handler
  only validates, rate-limits and queues, it never waits.
- A chatty or hostile channel must not flood the model: at most `channelRateLimitPerMinute` events
  per rolling minute pass; the surplus is counted and summarised in ONE item when the minute ends,
  never dropped silently.
- A server that dies is restarted with exponential backoff (1 s, 2 s, 4 s... at most 5 min); the
  user hears about it once per server, not on every restart.
- Scheduling (the rate window, the backoff) waits on the injected Clock, so tests drive it with
  FakeClock. Bounds on I/O (connecting, a tool call, draining the last events of a dead server)
  are real-time timeouts, like the SDK's own.
- The `mcp` SDK is imported only when a server is actually started: it costs most of a second to
  import, and channels are off by default.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import anyio
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .. import __version__
from ..agent.queue import InboundItem
from ..clock import Clock
from ..errors import KairosError
from ..journal import DailyLog
from ..settings import ChannelServer, Settings

if TYPE_CHECKING:
    from mcp.client.session import ClientSession
    from mcp.shared.message import SessionMessage
    from mcp.types import CallToolResult, ServerCapabilities

log = logging.getLogger(__name__)

CHANNEL_METHOD = "notifications/claude/channel"
CHANNEL_CAPABILITY = "claude/channel"
RATE_WINDOW_SECONDS = 60.0
BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 300.0
# A session that stayed up this long before dying starts the backoff over at 1 s.
STABLE_SECONDS = 300.0
CONNECT_TIMEOUT_SECONDS = 30.0
CALL_TIMEOUT_SECONDS = 120.0
# How long a dead server's already-received events get to go through the SDK's delivery queue.
DRAIN_SECONDS = 2.0
MAX_EVENT_CHARS = 20_000
MAX_SUMMARY_LATEST_CHARS = 500
STDERR_TAIL_LINES = 20
STDERR_SETTLE_SECONDS = 0.5
MAX_TOOL_PAGES = 20
MODEL_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
# Meta keys become attributes of the tag the prompt wraps the event in: identifiers only.
META_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
RESERVED_META_KEYS = frozenset({"source", "at"})

State = Literal["starting", "running", "restarting", "failed", "refused", "stopped"]


class ChannelError(KairosError):
    """A channel server could not be started or talked to; the message names it and says why."""


class ChannelSpawnError(ChannelError):
    """The server's command cannot be run at all: retrying cannot help until settings change."""


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


@dataclass
class RemoteTool:
    """One tool of a server, as the model sees it."""

    server: str
    remote_name: str
    model_name: str
    description: str
    input_schema: dict[str, Any]


@dataclass
class _Server:
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
    last_error: str | None = None
    told_user: bool = False
    tools: dict[str, RemoteTool] = field(default_factory=dict)
    session: ClientSession | None = None
    task: asyncio.Task[None] | None = None
    scope: anyio.CancelScope | None = None
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


class ChannelManager:
    """Starts the allowed channel servers, turns their events into inbound items, routes the
    model's calls to their tools, and restarts them when they die."""

    def __init__(self, *, settings: Callable[[], Settings], put: Callable[[InboundItem], None],
                 clock: Clock, daily_log: DailyLog | None = None,
                 notify_user: Callable[[str], Awaitable[None]] | None = None) -> None:
        self._settings = settings
        self._put = put
        self._clock = clock
        self._daily_log = daily_log
        self._notify_user = notify_user
        self._servers: dict[str, _Server] = {}
        self.refused: dict[str, str] = {}
        self._started = False
        self._stopping = False
        self._stop_event = asyncio.Event()

    # ----------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Start every configured server the user allowed. Never raises: a server that cannot
        start is reported in status() (and, once, to the user)."""
        if self._started:
            return
        self._started = True
        try:
            settings = self._settings()
            if not settings.channels_enabled:
                log.info("channels are disabled (channelsEnabled is false); no server started")
                return
            allowed = set(settings.allowed_channel_plugins)
            for name, config in settings.channel_servers.items():
                if name not in allowed:
                    self._refuse(name, "not in allowedChannelPlugins; add it there to let it "
                                       "start and send messages to the assistant")
                    continue
                server = _Server(name=name, config=config)
                self._servers[name] = server
                server.task = asyncio.get_running_loop().create_task(
                    self._supervise(server), name=f"channel:{name}")
        except Exception:  # start() must never take the engine down with it
            log.exception("starting the channel servers failed")

    async def stop(self) -> None:
        """Stop every server (the SDK closes stdin, then terminates the process tree) and put the
        summaries of events still held by the rate limit, so that none is lost."""
        self._stopping = True
        self._stop_event.set()
        for server in self._servers.values():
            if server.scope is not None:
                server.scope.cancel()
        pending = [t for s in self._servers.values() for t in (s.task, s.flush_task) if t]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        for server in self._servers.values():
            self._flush_held(server)
            if server.state != "failed":
                server.state = "stopped"
            server.session = None
            server.tools = {}

    def _refuse(self, name: str, why: str) -> None:
        self.refused[name] = why
        log.warning("channel server %s was not started: %s", name, why)
        self._log_day(f"channel server {name} was not started: {why}")

    # -------------------------------------------------------------------------------- status

    def status(self) -> dict[str, dict[str, Any]]:
        """Per server, for the doctor and the status panel."""
        report: dict[str, dict[str, Any]] = {}
        for name, why in self.refused.items():
            report[name] = {"state": "refused", "reason": why, "restarts": 0, "rate_limited": 0,
                            "tools": []}
        for name, s in self._servers.items():
            report[name] = {
                "state": s.state, "restarts": s.restarts, "rate_limited": s.rate_limited,
                "tools": sorted(s.tools), "channel": s.is_channel, "delivered": s.delivered,
                "held": s.held, "malformed": s.malformed, "lost": s.lost, "ignored": s.ignored,
                "last_error": s.last_error,
            }
        return report

    # --------------------------------------------------------------------------------- tools

    def tool_definitions(self) -> list[dict[str, Any]]:
        """The connected servers' tools, in the Messages API tool shape."""
        return [
            {"name": t.model_name, "description": t.description, "input_schema": t.input_schema}
            for s in self._servers.values() if s.state == "running"
            for t in s.tools.values()
        ]

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> tuple[str, bool]:
        """Run the tool the model knows as `name` ("server__tool"); returns (text, is_error)."""
        from mcp.shared.exceptions import MCPError

        found = next(((s, s.tools[name]) for s in self._servers.values() if name in s.tools),
                     None)
        if found is None:
            known = ", ".join(sorted(n for s in self._servers.values() for n in s.tools))
            return (f"There is no channel tool named {name!r}. Channel tools: "
                    f"{known or 'none (no channel server is connected)'}.", True)
        server, tool = found
        session = server.session
        if session is None or server.state != "running":
            return (f"Channel {server.name} is not connected right now (state: {server.state}); "
                    "it is restarted automatically, so try again later.", True)
        try:
            result = await session.call_tool(tool.remote_name, arguments,
                                             read_timeout_seconds=CALL_TIMEOUT_SECONDS)
        except MCPError as exc:
            return f"{name} failed: {exc.message} (MCP error {exc.code}).", True
        except (RuntimeError, ValidationError, anyio.BrokenResourceError,
                anyio.ClosedResourceError) as exc:
            return f"{name} failed: {exc}", True
        return _result_text(result), bool(result.is_error)

    # ---------------------------------------------------------------------------- supervisor

    async def _supervise(self, server: _Server) -> None:
        """Run one server for as long as the manager runs, restarting it when it dies."""
        attempt = 0
        with anyio.CancelScope() as scope:
            server.scope = scope
            while not self._stopping:
                began = self._clock.monotonic()
                try:
                    reason = await self._run_once(server)
                except ChannelSpawnError as exc:
                    server.state = "failed"
                    server.last_error = str(exc)
                    log.error("channel server %s: %s", server.name, exc)
                    await self._tell_user_once(server, f"Channel {server.name} could not start: "
                                               f"{exc} Fix channelServers in the settings.")
                    return
                # The supervisor must outlive anything a broken server or the SDK can raise
                # (the SDK's task groups wrap errors in ExceptionGroups).
                except Exception as exc:
                    log.exception("channel server %s failed", server.name)
                    reason = f"unexpected error: {_describe(exc)}"
                server.session = None
                server.tools = {}
                if self._stopping:
                    return
                if self._clock.monotonic() - began >= STABLE_SECONDS:
                    attempt = 0
                delay = min(BACKOFF_FIRST_SECONDS * 2 ** attempt, BACKOFF_MAX_SECONDS)
                attempt += 1
                server.state = "restarting"
                server.last_error = reason
                log.warning("channel server %s stopped (%s); restarting in %g s",
                            server.name, reason, delay)
                await self._tell_user_once(
                    server, f"Channel {server.name} stopped ({reason}). It is restarted "
                            "automatically, waiting longer after each failure; you will not be "
                            "told again about this channel until the app restarts.")
                if await self._clock.wait(self._stop_event, delay):
                    return
                server.restarts += 1

    async def _run_once(self, server: _Server) -> str:
        """Connect, serve until the connection ends, and say why it ended. Failures inside the
        session are turned into that reason here: raised through the SDK's task groups they would
        arrive wrapped in an ExceptionGroup."""
        from mcp.client.extension import NotificationBinding
        from mcp.client.session import ClientSession
        from mcp.client.stdio import StdioServerParameters, stdio_client
        from mcp.shared.exceptions import MCPError
        from mcp.types import Implementation, JSONRPCNotification

        server.state = "starting" if server.restarts == 0 else "restarting"
        server.expected = server.handled = 0
        server.drained = asyncio.Event()
        closed = asyncio.Event()
        config = server.config

        def on_frame(frame: SessionMessage) -> None:
            message = frame.message
            if isinstance(message, JSONRPCNotification) and message.method == CHANNEL_METHOD:
                self._count_event(server, message.params)

        current: list[ClientSession] = []
        # Events that come before the server's tools are known wait here, so that the turn
        # they wake already offers the tools to answer them with.
        early: list[ChannelEvent] = []

        async def on_event(event: ChannelEvent) -> None:
            # Events can be handled before initialize() has returned here (the server may send
            # as soon as it has our `initialized`), but the capabilities are known by then. An
            # event sent before the handshake finds none, and is counted as ignored.
            if current:
                server.is_channel = _announces_channel(current[0].server_capabilities)
            if server.state != "running":
                early.append(event)
                return
            self._on_event(server, event)

        async with AsyncExitStack() as stack:
            stderr = _StderrTail(server.name)
            params = StdioServerParameters(command=config.command, args=config.args,
                                           env=config.env or None)
            try:
                read, write = await stack.enter_async_context(
                    stdio_client(params, errlog=stderr.writer))
            except OSError as exc:
                raise ChannelSpawnError(
                    f"cannot run {config.command!r} ({exc.strerror or exc}).") from exc
            finally:
                stderr.close_writer()  # the child has its own copy; EOF follows its exit
            session = await stack.enter_async_context(ClientSession(
                _WatchedReadStream(read, closed, on_frame), write,
                client_info=Implementation(name="kairos-desktop", version=__version__),
                notification_bindings=[NotificationBinding(
                    method=CHANNEL_METHOD, params_type=ChannelEvent, handler=on_event)],
            ))
            current.append(session)
            try:
                with anyio.fail_after(CONNECT_TIMEOUT_SECONDS):
                    init = await session.initialize()
                    tools = await self._list_tools(session)
            except TimeoutError:
                return (f"no answer to initialize within {CONNECT_TIMEOUT_SECONDS:g} s"
                        f"{await stderr.suffix()}")
            except MCPError as exc:
                return f"the connection failed while starting: {exc.message}{await stderr.suffix()}"
            except (ValidationError, RuntimeError) as exc:
                return f"the server answered the handshake wrongly: {exc}"
            server.is_channel = _announces_channel(init.capabilities)
            if not server.is_channel:
                # Kept for its tools only: a plain MCP server is still useful, but it was not
                # written to push messages, so nothing it sends reaches the model as an event.
                log.warning("server %s does not announce the %r capability: its tools are "
                            "offered, its notifications are ignored", server.name,
                            CHANNEL_CAPABILITY)
            server.tools = self._model_tools(server.name, tools)
            server.session = session
            server.state = "running"
            server.last_error = None
            for event in early:
                self._on_event(server, event)
            early.clear()
            log.info("channel server %s is running (%d tools)", server.name, len(server.tools))
            await self._clock.wait(closed, None)
            server.state = "restarting"
            server.session = None
            await self._drain(server)
            return f"its process exited{await stderr.suffix()}"
        raise AssertionError("unreachable: every path above returns or raises")

    @staticmethod
    async def _list_tools(session: ClientSession) -> list[Any]:
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

    def _model_tools(self, server: str, tools: list[Any]) -> dict[str, RemoteTool]:
        taken = {n for s in self._servers.values() if s.name != server for n in s.tools}
        result: dict[str, RemoteTool] = {}
        for tool in tools:
            model_name = f"{_safe_name(server)}__{_safe_name(tool.name)}"
            if not MODEL_TOOL_NAME.match(model_name) or model_name in taken | set(result):
                log.warning("tool %r of channel %s is not offered: its name %r is too long or "
                            "already taken", tool.name, server, model_name)
                continue
            schema = dict(tool.input_schema or {})
            schema.setdefault("type", "object")
            schema.setdefault("properties", {})
            description = (tool.description or "").strip() or "(no description)"
            result[model_name] = RemoteTool(
                server=server, remote_name=tool.name, model_name=model_name,
                description=f"[channel {server}] {description}", input_schema=schema)
        return result

    async def _drain(self, server: _Server) -> None:
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
            self._log_day(f"{missing} event(s) from channel {server.name} were lost when its "
                          "server stopped")

    async def _tell_user_once(self, server: _Server, message: str) -> None:
        if server.told_user:
            return
        server.told_user = True
        self._log_day(message)
        if self._notify_user is None:
            return
        try:
            await self._notify_user(message)
        except (KairosError, OSError, RuntimeError):
            log.exception("telling the user about channel %s failed", server.name)

    def _log_day(self, text: str) -> None:
        if self._daily_log is None:
            return
        try:
            self._daily_log.append("channel", text)
        except OSError:
            log.exception("writing the daily log failed")

    # -------------------------------------------------------------------------------- events

    def _count_event(self, server: _Server, params: dict[str, Any] | None) -> None:
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

    def _on_event(self, server: _Server, event: ChannelEvent) -> None:
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
        now = self._clock.monotonic()
        self._flush_if_due(server, now)
        while server.window and now - server.window[0] >= RATE_WINDOW_SECONDS:
            server.window.popleft()
        content = _cap(event.content, MAX_EVENT_CHARS)
        meta = _clean_meta(server.name, event.meta)
        limit = self._settings().channel_rate_limit_per_minute
        if len(server.window) < limit and server.held == 0:
            server.window.append(now)
            server.delivered += 1
            self._emit(server, content, meta)
            return
        server.held += 1
        server.rate_limited += 1
        server.held_latest = content
        server.held_meta = meta
        if server.flush_task is None or server.flush_task.done():
            due = (server.window[0] if server.window else now) + RATE_WINDOW_SECONDS
            server.flush_task = asyncio.get_running_loop().create_task(
                self._flush_later(server, due), name=f"channel:{server.name}:rate-limit")

    def _flush_if_due(self, server: _Server, now: float) -> None:
        if server.held and server.window and now - server.window[0] >= RATE_WINDOW_SECONDS:
            self._flush_held(server)

    async def _flush_later(self, server: _Server, due: float) -> None:
        await self._clock.wait(self._stop_event, due - self._clock.monotonic())
        self._flush_held(server)

    def _flush_held(self, server: _Server) -> None:
        """Put the ONE summary of the events the rate limit held back."""
        if server.held == 0:
            return
        count, latest = server.held, _cap(server.held_latest, MAX_SUMMARY_LATEST_CHARS)
        server.held = 0
        limit = self._settings().channel_rate_limit_per_minute
        noun, verb = ("message", "was") if count == 1 else ("messages", "were")
        text = (f"{count} more {noun} from channel {server.name} {verb} held back (rate limit: "
                f"{limit} per minute); latest: {latest}")
        self._emit(server, text, {**server.held_meta, "held_back": str(count)})
        log.info("channel %s: %d event(s) summarised after the rate limit", server.name, count)

    def _emit(self, server: _Server, text: str, meta: dict[str, str]) -> None:
        item = InboundItem(kind="channel", text=text, priority="next",
                           source=f"channel:{server.name}",
                           created_at=self._clock.now().isoformat(timespec="seconds"),
                           external=True, wakes=True, meta=meta)
        try:
            self._put(item)
        except (KairosError, OSError):
            log.exception("queueing an event from channel %s failed", server.name)


class _WatchedReadStream:
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

    def __aiter__(self) -> _WatchedReadStream:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        self._closed.set()
        await self._inner.aclose()

    async def __aenter__(self) -> _WatchedReadStream:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc_val: BaseException | None, exc_tb: TracebackType | None) -> None:
        await self.aclose()


class _StderrTail:
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


def _announces_channel(capabilities: ServerCapabilities | None) -> bool:
    return capabilities is not None and CHANNEL_CAPABILITY in (capabilities.experimental or {})


def _describe(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"


def _safe_name(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_-]", "_", name)


def _cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n[... {len(text) - limit} more characters cut]"


def _clean_meta(server: str, meta: dict[str, str]) -> dict[str, str]:
    """Keep the keys that can be tag attributes; values are escaped by the prompt renderer."""
    clean: dict[str, str] = {}
    for key, value in meta.items():
        if META_KEY.match(key) and key not in RESERVED_META_KEYS:
            clean[key] = _cap(value, 500)
        else:
            log.warning("channel %s: meta key %r dropped (identifiers only; %s are reserved)",
                        server, key, ", ".join(sorted(RESERVED_META_KEYS)))
    return clean


def _result_text(result: CallToolResult) -> str:
    parts: list[str] = []
    for block in result.content:
        text = getattr(block, "text", None)
        if isinstance(text, str):
            parts.append(text)
        else:
            parts.append(f"[{getattr(block, 'type', 'non-text')} content not shown]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    return "\n".join(parts) or "(the tool returned nothing)"
