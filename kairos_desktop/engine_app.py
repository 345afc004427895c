"""The application API of the running engine: the home's reads and actions (homeapp.py) plus
what needs the live parts (the loop, approvals, the dream, the sources, the panel's server).

Every front end in the process (the tray, the control server, the notebook) holds one of these
and nothing else of the engine, so each user action is written here once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from . import views
from .clock import Clock
from .errors import ConflictError, InputError, KairosError, NotRunningError
from .events import EventBus
from .home import Home
from .homeapp import JSON, HomeApp, HomeServices, SettingsState
from .keys import KeyInfo
from .queue import InboundItem
from .settings import Settings
from .status import EngineStatus


class LiveEngine(Protocol):
    """What the running engine (runtime.Engine, the composition root) gives its API: declared
    here so the API does not import the module that builds it."""

    home: Home
    clock: Clock
    bus: EventBus
    config: SettingsState
    services: HomeServices
    status: EngineStatus
    started: bool
    control: Any
    stop_requested: asyncio.Event
    on_show: Callable[[str | None], None] | None
    status_extra: dict[str, Callable[[], Any]]
    heartbeat: Any
    deliveries: Any
    dream: Any
    sources: list[Any]
    channels: Any
    approvals: Any
    subscriptions: Any
    transcript: Any

    @property
    def settings(self) -> Settings: ...
    @property
    def has_model(self) -> bool: ...
    def key_info(self) -> KeyInfo: ...
    def apply_settings(self) -> None: ...
    async def set_api_key(self, key: str) -> KeyInfo: ...
    async def clear_api_key(self) -> KeyInfo: ...
    def github_token_info(self) -> KeyInfo: ...
    async def set_github_token(self, token: str) -> KeyInfo: ...
    async def clear_github_token(self) -> KeyInfo: ...


class EngineApp(HomeApp):
    running = True

    def __init__(self, engine: LiveEngine) -> None:
        # The engine's services exist only once it started: read them through it.
        self._engine = engine
        self.home = engine.home
        self.bus = engine.bus
        self._state = engine.config
        self._told_paused = False
        self._pending: set[asyncio.Task[Any]] = set()

    # HomeApp's are plain attributes; here they follow the engine (built when it starts).
    @property
    def clock(self) -> Clock:  # type: ignore[override]
        return self._engine.clock

    @property
    def services(self) -> HomeServices:  # type: ignore[override]
        return self._engine.services

    # -- hooks -------------------------------------------------------------------------------

    def _on_user_message(self, item: InboundItem) -> None:
        self._engine.heartbeat.mark_interaction()
        self._engine.heartbeat.nudge()  # a hung model call is given up: the message goes now
        if self._engine.heartbeat.paused and not self._told_paused:
            self._told_paused = True  # once per pause: the first message gets the answer
            self._later(self._engine.deliveries.message(
                f"Paused: {self._engine.settings.assistant_name} will answer when you resume "
                "(Resume in the panel, or Pause again in the tray's menu).", "system"))

    def _later(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run `work` on the engine's loop after the current action (its events come first)."""
        task = asyncio.get_running_loop().create_task(work)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def _apply_settings(self, changes: JSON) -> None:
        self._engine.apply_settings()

    def _on_budget_raised(self) -> None:
        self._engine.heartbeat.wake_now()  # what waited for the budget goes on at once

    def key_info(self) -> KeyInfo:
        return self._engine.key_info()

    # -- reads -------------------------------------------------------------------------------

    def status(self) -> JSON:
        engine = self._engine
        data = engine.status.to_dict()
        data["dream"] = engine.dream.state.to_dict()
        for source in engine.sources:
            data[source.name] = source.status()
        upcoming = engine.services.scheduler.next_due()
        data["nextTask"] = ({"id": upcoming[1].id, "dueAt": upcoming[1].next_due_at,
                             "prompt": upcoming[1].prompt[:120]} if upcoming else None)
        for key, provider in list(engine.status_extra.items()):
            try:
                data[key] = provider()
            except Exception as exc:  # an outer layer's trouble must not break status
                data[key] = {"error": repr(exc)}
        data.update(assistantName=engine.settings.assistant_name, running=engine.started,
                    home=str(engine.home.root), paused=engine.heartbeat.paused,
                    queued=len(engine.services.queue), usageToday=engine.services.usage.day(),
                    held=len(engine.services.queue.held()),
                    budget=self.budget(),
                    approvalsPending=len(engine.approvals.pending()),
                    apiKey=engine.has_model, model=engine.settings.model,
                    settingsProblems=list(engine.config.problems))
        return data

    def transcript(self, limit: int = 30) -> JSON:
        return views.transcript_entries(self._engine.transcript, limit)

    def subscriptions(self) -> list[JSON]:
        return self._engine.subscriptions.list()

    def dream(self) -> JSON:
        engine = self._engine
        settings = engine.settings
        return views.dream_info(engine.dream, now=engine.clock.now(),
                                min_hours=settings.dream_min_hours,
                                max_turns=settings.dream_max_turns)

    def approvals(self) -> list[JSON]:
        return self._engine.approvals.pending()

    def _live_servers(self) -> dict[str, JSON] | None:
        return dict(self._engine.channels.status())

    def is_paused(self) -> bool:
        return bool(self._engine.heartbeat.paused)

    # -- actions -----------------------------------------------------------------------------

    def wake(self) -> None:
        self._engine.heartbeat.wake_now()

    def pause(self) -> None:
        """No ticks, no model calls; tasks are held and caught up on resume."""
        engine = self._engine
        self._told_paused = False
        engine.heartbeat.pause()
        engine.services.scheduler.set_paused(True)
        engine.services.daily_log.append("pause", "paused by the user")

    def resume(self) -> None:
        engine = self._engine
        engine.services.scheduler.set_paused(False)
        engine.services.scheduler.fire_due()  # what came due while paused joins the first turn
        engine.heartbeat.resume()
        engine.services.daily_log.append("pause", "resumed")

    def request_stop(self) -> None:
        self._engine.stop_requested.set()

    def start_dream(self, *, force: bool = False, allow_large_delete: bool = False) -> JSON:
        gate = self._engine.dream.maybe_start("requested", force=force,
                                              allow_large_delete=allow_large_delete)
        return {"started": gate.ok, "reason": gate.reason}

    def undo_dream(self) -> str:
        try:
            return self._engine.dream.undo()
        except KairosError as exc:
            raise ConflictError(str(exc)) from None

    def decide_approval(self, approval_id: str, allow: bool, *, by: str) -> JSON:
        return self._engine.approvals.decide(approval_id, allow, by=by)

    def reply_from_notification(self, text: str) -> None:
        """A reply typed into a notification (KDE) is the user's message."""
        if text.strip():
            self.send(text)

    def set_panel_focused(self, focused: bool) -> None:
        """While the panel has the user's focus they are present (the model prefers a chat
        message to a notification); leaving it starts the usual presence window."""
        heartbeat = self._engine.heartbeat
        if heartbeat.panel_focused or focused:
            heartbeat.mark_interaction()
        if heartbeat.panel_focused != focused:
            heartbeat.panel_focused = focused
            self.bus.publish("presence", focused=focused)

    def panel_ready(self) -> None:
        self.bus.publish("panel", ready=True,
                         at=self.clock.now().isoformat(timespec="milliseconds"))

    def note(self, text: str) -> None:
        """A front end's word about this desktop (no tray in the session...) in the daily log."""
        self._engine.services.daily_log.append("desktop", text)

    def _control(self) -> Any:
        control = self._engine.control
        if control is None:
            raise NotRunningError("the control API is off (start(control_api=False)); there "
                                  "is no panel")
        return control

    def panel_link(self) -> str:
        """A single-use link to the panel (a browser's command line is readable by others)."""
        return str(self._control().panel_link())

    def panel_address(self) -> str:
        """The panel's address with this run's token (for the app's own window only)."""
        control = self._control()
        return f"{control.url}/?token={control.token}"

    def show(self) -> None:
        if self._engine.on_show is None:
            raise ConflictError("this instance runs headless: there is no window to show")
        self._engine.on_show(None)

    async def set_api_key(self, key: str) -> JSON:
        return (await self._engine.set_api_key(key)).to_dict()

    async def clear_api_key(self) -> JSON:
        return (await self._engine.clear_api_key()).to_dict()

    def github_token_info(self) -> KeyInfo:
        return self._engine.github_token_info()

    async def set_github_token(self, token: str) -> JSON:
        """The GitHub token for private repositories: kept like the API key, used at once."""
        if not isinstance(token, str):
            raise InputError("the GitHub token must be text", key="githubToken")
        return (await self._engine.set_github_token(token)).to_dict()

    async def clear_github_token(self) -> JSON:
        return (await self._engine.clear_github_token()).to_dict()
