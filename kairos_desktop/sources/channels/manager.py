"""The channels source: starts the allowed servers, keeps them up, limits their floods, and
offers their tools to the model.

Why it is built this way:
- Only servers the user named in `allowedChannelPlugins` are ever spawned: a channel injects text
  into the prompt, so running one is a trust decision. Others are refused and listed in `refused`.
  Which servers run is decided at start(); settings applied later change the rate limit at once,
  the set of servers at the next start.
- A chatty or hostile channel must not flood the model: at most `channelRateLimitPerMinute` events
  per rolling minute pass; the surplus is counted and summarised in ONE item when the minute ends,
  never dropped silently.
- A server that dies is restarted with exponential backoff (1 s, 2 s, 4 s... at most 5 min); the
  user hears about it once per server, not on every restart.
- Scheduling (the rate window, the backoff) waits on the injected Clock, so tests drive it with
  FakeClock.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from ...clock import Clock
from ...errors import KairosError
from ...journal import DailyLog
from ...queue import InboundItem
from ...settings import Settings
from ...tools.base import ToolProvider
from ..base import Source
from .events import MAX_EVENT_CHARS, ChannelEvent, cap, channel_item, clean_meta, held_back_text
from .session import ChannelSpawnError, call_remote, describe, serve_once
from .state import RemoteTool, ServerState

log = logging.getLogger(__name__)

RATE_WINDOW_SECONDS = 60.0
BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 300.0
# A session that stayed up this long before dying starts the backoff over at 1 s.
STABLE_SECONDS = 300.0
MODEL_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


class ChannelManager(Source):
    """Starts the allowed channel servers, turns their events into inbound items, routes the
    model's calls to their tools, and restarts them when they die. Settings come through
    apply_settings() only."""

    name = "channels"

    def __init__(self, *, put: Callable[[InboundItem], Any], clock: Clock,
                 daily_log: DailyLog | None = None,
                 notify_user: Callable[[str], Awaitable[Any]] | None = None) -> None:
        self._settings = Settings()
        self._put = put
        self._clock = clock
        self._daily_log = daily_log
        self._notify_user = notify_user
        self._servers: dict[str, ServerState] = {}
        self.refused: dict[str, str] = {}
        self._started = False
        self._stopping = False
        self._stop_event = asyncio.Event()

    @property
    def settings(self) -> Settings:
        """The settings in force (the last apply_settings())."""
        return self._settings

    def apply_settings(self, settings: Settings) -> None:
        self._settings = settings

    # ----------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Start every configured server the user allowed. Never raises: a server that cannot
        start is reported in status() (and, once, to the user)."""
        if self._started:
            return
        self._started = True
        try:
            settings = self.settings
            if not settings.channels_enabled:
                log.info("channels are disabled (channelsEnabled is false); no server started")
                return
            allowed = set(settings.allowed_channel_plugins)
            for name, config in settings.channel_servers.items():
                if name not in allowed:
                    self._refuse(name, "not in allowedChannelPlugins; add it there to let it "
                                       "start and send messages to the assistant")
                    continue
                server = ServerState(name=name, config=config)
                self._servers[name] = server
                server.task = asyncio.get_running_loop().create_task(
                    self._supervise(server), name=f"channel:{name}")
        except Exception:  # start() must never take the engine down with it
            log.exception("starting the channel servers failed")

    async def stop(self) -> None:
        """Stop every server (the SDK closes stdin, then terminates the process tree) and put the
        summaries of events still held by the rate limit, so that none is lost. Before start()
        there is nothing to stop."""
        if not self._started:
            return
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
        for name, server in self._servers.items():
            report[name] = server.to_status()
        return report

    # --------------------------------------------------------------------------------- tools

    def tools(self) -> list[ToolProvider]:
        return [ToolProvider(self.tool_definitions, self.call_tool)]

    def tool_definitions(self) -> list[dict[str, Any]]:
        """The connected servers' tools, in the Messages API tool shape."""
        return [
            {"name": t.model_name, "description": t.description, "input_schema": t.input_schema}
            for s in self._servers.values() if s.state == "running"
            for t in s.tools.values()
        ]

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> tuple[str, bool]:
        """Run the tool the model knows as `name` ("server__tool"); returns (text, is_error)."""
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
        return await call_remote(session, tool, arguments)

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

    # ---------------------------------------------------------------------------- supervisor

    async def _supervise(self, server: ServerState) -> None:
        """Run one server for as long as the manager runs, restarting it when it dies."""
        attempt = 0
        with anyio.CancelScope() as scope:
            server.scope = scope
            while not self._stopping:
                began = self._clock.monotonic()
                try:
                    reason = await serve_once(server, clock=self._clock, deliver=self._deliver,
                                              name_tools=self._model_tools,
                                              log_day=self._log_day)
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
                    reason = f"unexpected error: {describe(exc)}"
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

    async def _tell_user_once(self, server: ServerState, message: str) -> None:
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

    # ---------------------------------------------------------------------------- rate limit

    def _deliver(self, server: ServerState, event: ChannelEvent) -> None:
        """A valid event of a channel server: let it through, or hold it for the summary."""
        now = self._clock.monotonic()
        self._flush_if_due(server, now)
        while server.window and now - server.window[0] >= RATE_WINDOW_SECONDS:
            server.window.popleft()
        content = cap(event.content, MAX_EVENT_CHARS)
        meta = clean_meta(server.name, event.meta)
        limit = self.settings.channel_rate_limit_per_minute
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

    def _flush_if_due(self, server: ServerState, now: float) -> None:
        if server.held and server.window and now - server.window[0] >= RATE_WINDOW_SECONDS:
            self._flush_held(server)

    async def _flush_later(self, server: ServerState, due: float) -> None:
        await self._clock.wait(self._stop_event, due - self._clock.monotonic())
        self._flush_held(server)

    def _flush_held(self, server: ServerState) -> None:
        """Put the ONE summary of the events the rate limit held back."""
        if server.held == 0:
            return
        count = server.held
        server.held = 0
        limit = self.settings.channel_rate_limit_per_minute
        self._emit(server, held_back_text(server.name, count, limit, server.held_latest),
                   {**server.held_meta, "held_back": str(count)})
        log.info("channel %s: %d event(s) summarised after the rate limit", server.name, count)

    def _emit(self, server: ServerState, text: str, meta: dict[str, str]) -> None:
        item = channel_item(server.name, text, meta,
                            self._clock.now().isoformat(timespec="seconds"))
        try:
            self._put(item)
        except (KairosError, OSError):
            log.exception("queueing an event from channel %s failed", server.name)


def _safe_name(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_-]", "_", name)
