"""The channels source: starts the allowed servers, keeps them up, limits their floods, and
offers their tools (through the gate) and their instructions to the model.

Why it is built this way:
- Only servers the user named in `allowedChannelPlugins` are ever spawned: a channel injects text
  into the prompt, so running one is a trust decision. Others are refused and listed in `refused`.
  Settings apply at once: a server added and allowed starts, one removed or no longer allowed
  stops, one whose entry changed restarts, all without restarting the app.
- A chatty or hostile channel must not flood the model: at most `channelRateLimitPerMinute` events
  per rolling minute pass; the surplus is counted and summarised in ONE item when the minute ends,
  never dropped silently.
- A server that dies is restarted with exponential backoff (1 s, 2 s, 4 s... at most 5 min); the
  user hears about it once per server, not on every restart. One that cannot be run at all (its
  command is missing, a `${VAR}` of its entry is unset) fails once, until its settings change.
- Every tool call goes through the gate (gate.py: the folder rules, the `tools` setting, the
  user's approval, the permission relay).
- Scheduling (the rate window, the backoff) waits on the injected Clock, so tests drive it with
  FakeClock.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

from ...approvals import Approvals
from ...clock import Clock
from ...errors import KairosError
from ...journal import DailyLog
from ...queue import InboundItem
from ...settings import ChannelServer, Settings
from ...tools.base import ToolProvider, ToolResult
from ..base import Source
from .events import (
    MAX_EVENT_CHARS,
    ChannelEvent,
    PermissionVerdict,
    cap,
    channel_item,
    clean_meta,
    held_back_text,
)
from .gate import ToolGate
from .session import ChannelSpawnError, describe, serve_once
from .state import RemoteTool, ServerState

log = logging.getLogger(__name__)

RATE_WINDOW_SECONDS = 60.0
BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 300.0
# A session that stayed up this long before dying starts the backoff over at 1 s.
STABLE_SECONDS = 300.0
MODEL_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
NOT_ALLOWED = ("not in allowedChannelPlugins; add it there to let it start and send messages to "
               "the assistant")


class ChannelManager(Source):
    """Starts the allowed channel servers, turns their events into inbound items, routes the
    model's calls to their tools, and restarts them when they die. Settings come through
    apply_settings() only."""

    name = "channels"

    def __init__(self, *, put: Callable[[InboundItem], Any], clock: Clock,
                 daily_log: DailyLog | None = None,
                 notify_user: Callable[[str], Awaitable[Any]] | None = None,
                 approvals: Approvals | None = None, workspace: Path | None = None,
                 on_change: Callable[[str], None] | None = None) -> None:
        self._settings = Settings()
        self._on_change = on_change
        self._put = put
        self._clock = clock
        self._daily_log = daily_log
        self._notify_user = notify_user
        self._approvals = approvals
        self._gate = ToolGate(approvals=approvals, workspace=workspace, daily_log=daily_log)
        self._servers: dict[str, ServerState] = {}
        self._retiring: set[ServerState] = set()
        self.refused: dict[str, str] = {}
        self._started = False
        self._stopping = False
        self._unwatch: Callable[[], None] | None = None

    @property
    def settings(self) -> Settings:
        """The settings in force (the last apply_settings())."""
        return self._settings

    def apply_settings(self, settings: Settings) -> None:
        """Take `settings`; while running, start, stop and restart servers to match them."""
        self._settings = settings
        if self._started and not self._stopping:
            self._reconcile()

    # ----------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Start every configured server the user allowed. Never raises: a server that cannot
        start is reported in status() (and, once, to the user)."""
        if self._started:
            return
        self._started = True
        if self._approvals is not None:
            self._unwatch = self._approvals.on_request(self._relay)
        self._reconcile()

    def _reconcile(self) -> None:
        """Make the running servers the allowed ones of the settings (on the loop thread)."""
        try:
            settings = self.settings
            wanted: dict[str, ChannelServer] = {}
            refused: dict[str, str] = {}
            if settings.channels_enabled:
                allowed = set(settings.allowed_channel_plugins)
                for name, config in settings.channel_servers.items():
                    if name in allowed:
                        wanted[name] = config
                    else:
                        refused[name] = NOT_ALLOWED
            elif settings.channel_servers and not self._servers:
                log.info("channels are disabled (channelsEnabled is false); no server started")
            for name, server in list(self._servers.items()):
                if wanted.get(name) != server.config:
                    self._retire(server)
            for name, why in refused.items():
                if self.refused.get(name) != why:
                    self._refuse(name, why)
            if refused != self.refused and self._on_change is not None:
                self._on_change(self.name)
            self.refused = refused
            for name, config in wanted.items():
                if name not in self._servers:
                    self._spawn(name, config)
        except Exception:  # applying settings must never take the engine down with it
            log.exception("starting or stopping the channel servers failed")

    def _spawn(self, name: str, config: ChannelServer) -> None:
        server = ServerState(name=name, config=config, on_change=self._changed)
        self._servers[name] = server
        self._changed(server)
        server.task = asyncio.get_running_loop().create_task(
            self._supervise(server), name=f"channel:{name}")

    def _retire(self, server: ServerState) -> None:
        """Stop one server (removed, no longer allowed, or changed); its held events are put
        once it has stopped."""
        self._servers.pop(server.name, None)
        self._retiring.add(server)
        self._changed(server)
        server.retired.set()
        if server.scope is not None:
            server.scope.cancel()
        server.tools = {}
        log.info("channel server %s is stopped: the settings no longer run it as it was",
                 server.name)

        async def finish() -> None:
            await self._wait_for(server)
            self._retiring.discard(server)

        asyncio.get_running_loop().create_task(finish(), name=f"channel:{server.name}:stop")

    async def _wait_for(self, server: ServerState) -> None:
        pending = [t for t in (server.task, server.flush_task) if t]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        self._flush_held(server)
        if server.state != "failed":
            server.state = "stopped"
        server.session = None
        server.tools = {}

    async def stop(self) -> None:
        """Stop every server (the SDK closes stdin, then terminates the process tree) and put the
        summaries of events still held by the rate limit, so that none is lost. Before start()
        there is nothing to stop."""
        if not self._started:
            return
        self._stopping = True
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        everyone = [*self._servers.values(), *self._retiring]
        for server in everyone:
            server.retired.set()
            if server.scope is not None:
                server.scope.cancel()
        await asyncio.gather(*(self._wait_for(s) for s in everyone), return_exceptions=True)
        self._retiring.clear()
        await self._gate.close()

    def _changed(self, server: ServerState) -> None:
        if self._on_change is None:
            return
        try:
            self._on_change(self.name)
        except Exception:  # a front end's trouble must not stop a server
            log.exception("telling of channel %s's change failed", server.name)

    def _refuse(self, name: str, why: str) -> None:
        log.warning("channel server %s was not started: %s", name, why)
        self._log_day(f"channel server {name} was not started: {why}")

    # -------------------------------------------------------------------------------- status

    def status(self) -> dict[str, dict[str, Any]]:
        """Per server, for the doctor and the status panel."""
        report: dict[str, dict[str, Any]] = {}
        for name, why in self.refused.items():
            config = self.settings.channel_servers.get(name)
            report[name] = {"state": "refused", "reason": why, "restarts": 0, "rate_limited": 0,
                            "tools": [], "plugin": config.plugin if config else None}
        for name, server in self._servers.items():
            report[name] = server.to_status()
        return report

    def instructions(self) -> list[tuple[str, str]]:
        """(server, instructions) of every running server that gave some, by name: the prompt
        builder puts one block per server, in this stable order."""
        return sorted((s.name, s.instructions) for s in self._servers.values()
                      if s.state == "running" and s.instructions)

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

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        """Run the tool the model knows as `name` ("server__tool") through the gate."""
        found = next(((s, s.tools[name]) for s in self._servers.values() if name in s.tools),
                     None)
        if found is None:
            known = ", ".join(sorted(n for s in self._servers.values() for n in s.tools))
            return ToolResult(f"There is no channel tool named {name!r}. Channel tools: "
                              f"{known or 'none (no channel server is connected)'}.", True)
        server, tool = found
        if server.session is None or server.state != "running":
            return ToolResult(f"Channel {server.name} is not connected right now (state: "
                              f"{server.state}); it is restarted automatically, so try again "
                              "later.", True)
        return await self._gate.call(server, tool, arguments, self.settings)

    def _relay(self, record: dict[str, Any]) -> None:
        self._gate.relay(record, list(self._servers.values()))

    def _verdict(self, server: ServerState, verdict: PermissionVerdict) -> None:
        self._gate.verdict(server, verdict)

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
        """Run one server until it is retired (or the manager stops), restarting it when it
        dies."""
        attempt = 0
        with anyio.CancelScope() as scope:
            server.scope = scope
            while not server.retired.is_set():
                began = self._clock.monotonic()
                try:
                    reason = await serve_once(server, clock=self._clock, deliver=self._deliver,
                                              name_tools=self._model_tools,
                                              log_day=self._log_day, on_verdict=self._verdict)
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
                if server.retired.is_set():
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
                if await self._clock.wait(server.retired, delay):
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
        await self._clock.wait(server.retired, due - self._clock.monotonic())
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
