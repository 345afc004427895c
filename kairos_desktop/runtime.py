"""The composition root: builds the engine's services from a home and its settings, starts them
in order and stops them in reverse through one AsyncExitStack.

Everything the engine runs (the heartbeat loop, the scheduler, the sources, the control API)
lives on ONE asyncio loop. Front ends never touch what is built here: they get `engine.app`, the
application API (application.py, implemented by engine_app.py). A start that fails half way
unwinds what it had started, because each step registers its own undo as it succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .agent.dream import AutoDream
from .agent.loop import AssistantLoop
from .agent.resume import session_to_continue
from .approvals import Approvals
from .clock import Clock, SystemClock, local_zone
from .delivery.deliveries import Deliveries
from .delivery.inbox import Inbox
from .delivery.notifier import ConsoleNotifier, Notifier
from .delivery.outbox import Outbox
from .delivery.policy import NotificationPolicy
from .engine_app import EngineApp
from .errors import ApiKeyError, InputError
from .events import EventBus
from .home import Home, HomeLock
from .homeapp import HomeServices, SettingsState
from .journal import DailyLog
from .keys import (
    KEYRING_TIMEOUT_S,
    KeyInfo,
    KeyringAbandonedError,
    KeyringTimeoutError,
    abandon_keyring_calls,
    bounded_async,
    check_key_format,
    github_token_store,
)
from .keys import Source as KeySource
from .memory.files import MemoryFiles
from .paths import FolderPolicy
from .queue import InboundQueue
from .scheduler.runtime import Scheduler
from .settings import Settings, load_settings
from .sources import (
    ChannelManager,
    FolderWatcher,
    PRSubscriptions,
    SourceContext,
    build_sources,
    find_source,
)
from .sources import Source as EventSource
from .status import EngineStatus
from .store import Store
from .tools import ToolRegistry, core_tools
from .tools.commands import run_command_provider
from .tools.web import WebTools
from .transcript import Transcript, latest_session_id, new_session_id
from .usage import UsageLedger

if TYPE_CHECKING:
    from .model import ModelClient

log = logging.getLogger(__name__)

T = TypeVar("T")


class Engine:
    """One home's running assistant. Use `engine.app` for everything a user does."""

    # Built by _build() when the engine starts (none exists before start()).
    services: HomeServices
    notifications: NotificationPolicy
    deliveries: Deliveries
    transcript: Transcript
    tools: ToolRegistry
    web: WebTools
    dream: AutoDream
    sources: list[EventSource]
    channels: ChannelManager
    subscriptions: PRSubscriptions
    folders: FolderWatcher
    approvals: Approvals
    heartbeat: AssistantLoop

    def __init__(self, home: Home | Path | str | None = None, *, clock: Clock | None = None,
                 notifier: Notifier | None = None, api_key: str | None = None,
                 base_url: str | None = None, model_max_retries: int = 2,
                 model_timeout: float = 120.0, freeze_heap: bool = False) -> None:
        """`freeze_heap`: this process runs only the app (`kairos run`, the tray app), so what
        it loads at start may be moved out of the garbage collector's reach (see _freeze);
        never in a notebook, whose own objects would be frozen with it."""
        self.home = home if isinstance(home, Home) else Home(home)
        self._own_clock = clock is None
        self.clock = clock or SystemClock()
        self.bus = EventBus()
        self.notifier = notifier or ConsoleNotifier()
        self._api_key = api_key
        self._base_url = base_url
        self._model_max_retries = model_max_retries
        self._model_timeout = model_timeout
        self._freeze_heap = freeze_heap
        self._sdk_frozen = False  # _freeze ran since the SDK (the first model client) came in
        self.status = EngineStatus()
        self.config = SettingsState(Settings(), [])
        self._key_info = KeyInfo.of(None, None)
        self._github_info = KeyInfo.of(None, None)  # what the PR source polls with
        self._lock = HomeLock(self.home.lock_file)
        self._model: ModelClient | None = None
        self._start_key: str | None = None  # the key found at start, until its client exists
        self._stack: contextlib.AsyncExitStack | None = None
        self._grace = 5.0
        self._cut_session: str | None = None  # the session a stop cut short, gone on here
        self._reading_secrets = False  # the heartbeat waits for the keyring (at start only)
        self.control: Any = None
        self.started = False
        # Set by the control API's /api/stop (and the tray's Quit); whoever runs the engine
        # then stops it.
        self.stop_requested = asyncio.Event()
        # Set by the desktop layer: bring the app's window (or the tray menu) to the user.
        self.on_show: Callable[[str | None], None] | None = None
        # Extra sections of the status from outer layers (the tray's geometry...).
        self.status_extra: dict[str, Callable[[], Any]] = {}
        self.app = EngineApp(self)

    # -- settings ----------------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        return self.config.current

    @property
    def settings_problems(self) -> list[str]:
        return self.config.problems

    def policy(self) -> FolderPolicy:
        return FolderPolicy(self.home.workspace_dir,
                            [*self.settings.allowed_folders, str(self.home.memory_dir)])

    def apply_settings(self) -> None:
        """The one way a settings change reaches the live services."""
        settings = self.settings
        self.status.model = settings.model
        for source in self.sources:
            source.apply_settings(settings)
        self.heartbeat.wake_now()  # new sleep bounds or model apply from the next tick

    # The home's services, by name (tests and the engine's parts read them).
    @property
    def store(self) -> Store:
        return self.services.store

    @property
    def queue(self) -> InboundQueue:
        return self.services.queue

    @property
    def usage(self) -> UsageLedger:
        return self.services.usage

    @property
    def outbox(self) -> Outbox:
        return self.services.outbox

    @property
    def inbox(self) -> Inbox:
        return self.services.inbox

    @property
    def scheduler(self) -> Scheduler:
        return self.services.scheduler

    @property
    def memory(self) -> MemoryFiles:
        return self.services.memory

    @property
    def daily_log(self) -> DailyLog:
        return self.services.daily_log

    # -- life cycle --------------------------------------------------------------------------

    async def start(self, *, session_id: str | None = None, resume: bool = False,
                    control_api: bool = True) -> None:
        """Take the home, build and start everything (and the control API)."""
        if self.started:
            raise RuntimeError("this engine is already running")
        self.home.ensure()
        async with contextlib.AsyncExitStack() as stack:
            await asyncio.to_thread(self._lock.acquire)  # may wait a moment for a CLI command
            stack.callback(self._lock.release)
            self._build(session_id=session_id, resume=resume)
            stack.callback(self.services.close)
            stack.callback(lambda: self.daily_log.append(
                "stop", f"stopped ({len(self.queue)} item(s) left queued)"))
            stack.push_async_callback(self.notifications.close)
            stack.push_async_callback(self._close_model)
            await self._start_services(stack, control_api=control_api)
            self._stack = stack.pop_all()
        self.started = True
        self._freeze()

    def _build(self, *, session_id: str | None, resume: bool) -> None:
        """Every service, built in one place; nothing here starts a task, a thread or a
        process (reading settings.json and store.json is all the I/O)."""
        loaded = load_settings(self.home.settings_file)
        self.config.current, self.config.problems = loaded.settings, list(loaded.problems)
        for problem in loaded.problems:
            log.warning("settings: %s", problem)
        if self._own_clock:  # cron times need the zone's DST rules: the setting, else the system's
            self.clock = SystemClock(local_zone(self.settings.time_zone))
        settings = lambda: self.config.current  # noqa: E731 - read at each use
        self.services = HomeServices.open(
            self.home, clock=self.clock, settings=settings, bus=self.bus,
            inbox_dir=self.app.inbox_dir(), seed_builtins=True)
        svc = self.services
        self.notifications = NotificationPolicy(self.notifier, clock=self.clock,
                                                settings=settings)
        self.status_extra["notificationsHeld"] = self.notifications.held_info
        self.deliveries = Deliveries(
            outbox=svc.outbox, inbox=svc.inbox, notifier=self.notifications,
            daily_log=svc.daily_log, bus=self.bus, settings=settings, policy=self.policy)
        if session_id is None and resume:
            session_id = latest_session_id(self.home.sessions_dir)
        if session_id is None:
            # A stop cut the last session's turn short: it goes on there (agent/resume.py).
            session_id = self._cut_session = session_to_continue(self.home.sessions_dir)
        session_id = session_id or new_session_id(self.clock.now())
        self.transcript = Transcript.open(self.home.sessions_dir, session_id)
        self.deliveries.session_id = session_id
        self.keys = self.home.api_keys()
        self.github_tokens = github_token_store(self.home.secrets_dir, self.home.root)
        self._github_info = KeyInfo.of(*self.github_tokens.load_local())
        api_key, source = (self._api_key, "env") if self._api_key else self.keys.load_local()
        self._key_info = KeyInfo.of(api_key, source)
        # The client is made once the app is up: importing the SDK takes about a second.
        self._start_key = api_key
        self.tools = ToolRegistry(core_tools())
        # The web's server tools, when the settings switch them on (they run on the API's side).
        self.web = WebTools(settings)
        self.tools.add_provider(self.web.provider())
        svc.budget.tell = self._tell_budget
        self.dream = AutoDream(
            memory=svc.memory, store=svc.store, clock=self.clock, settings=settings,
            model=lambda: self._model, daily_log=svc.daily_log, deliveries=self.deliveries,
            bus=self.bus, usage=svc.usage, policy=self.policy,
            user_present=self._user_present)
        svc.scheduler.on_dream = self._nightly_dream
        # Before the sources: an MCP tool call that must ask waits on the same broker.
        self.approvals = Approvals(clock=self.clock, daily_log=svc.daily_log, bus=self.bus,
                                   notify=self.deliveries.notify, settings=settings)
        self.sources = build_sources(SourceContext(
            clock=self.clock, put=svc.queue.put, daily_log=svc.daily_log, store=svc.store,
            put_many=svc.queue.put_many, approvals=self.approvals,
            workspace=self.home.workspace_dir,
            on_change=lambda name: self.bus.publish("sources", source=name),
            notify_user=lambda text: self.deliveries.message(text, "system"),
            exclude=(self.home.root,),  # the home changes on every tick: never report it
            github_token=self._github_token, blocking_timeout=KEYRING_TIMEOUT_S), self.settings)
        for each in self.sources:
            for provider in each.tools():
                self.tools.add_provider(provider)
        # Typed handles, for the loop's PR tools, the status and the tests.
        self.channels = find_source(self.sources, ChannelManager)
        self.subscriptions = find_source(self.sources, PRSubscriptions)
        self.folders = find_source(self.sources, FolderWatcher)
        self.tools.add_provider(run_command_provider(
            approvals=self.approvals, settings=settings, workspace=self.home.workspace_dir,
            daily_log=svc.daily_log))
        self.status.session_id = session_id
        self.status.model = self.settings.model
        self.heartbeat = AssistantLoop(
            settings=settings, clock=self.clock, queue=svc.queue, transcript=self.transcript,
            model=lambda: self._model, tools=self.tools, policy=self.policy,
            deliveries=self.deliveries, daily_log=svc.daily_log, usage=svc.usage, bus=self.bus,
            status=self.status, scheduler=svc.scheduler, memory=svc.memory,
            subscriptions=self.subscriptions, on_active_turn=self._record_activity)
        self.heartbeat.instructions = self.channels.instructions  # MCP servers' instructions

    async def _start_services(self, stack: contextlib.AsyncExitStack, *,
                              control_api: bool) -> None:
        """Start in order; each step registers its own undo, so `stack` unwinds in reverse."""
        running = asyncio.get_running_loop()
        self.queue.bind(running)
        resumed = "resumed" if self.transcript.turns else "new"
        self.daily_log.append(
            "start", f"{self.settings.assistant_name} started ({resumed} session "
            f"{self.status.session_id}, model {self.settings.model}, {len(self.queue)} queued "
            "item(s))")
        if self._cut_session is not None:
            self.daily_log.append("start", f"session {self._cut_session} stopped in the middle "
                                  "of a turn: it goes on in that session, from where it stopped")
        for problem in self.settings_problems:
            self.daily_log.append("settings", problem)
        if control_api:
            from .control.server import ControlServer

            self.control = ControlServer(self.app, self.home, self.clock)
            await self.control.start()
            stack.push_async_callback(self._stop_control)
        await self._check_yesterdays_log()
        for finding in self.daily_log.breaks_found:  # found by the appends of this start
            await self.deliveries.message(
                f"The daily log's end was not what was recorded: {finding}. A 'chain break' "
                "entry now records it; `kairos logs verify` lists it.", "system")
        await self._tell_notices()
        self.scheduler.fire_due()  # what was missed while closed joins the very first turn
        heartbeat = running.create_task(self._secrets_then_heartbeat(), name="kairos-heartbeat")
        stack.push_async_callback(self._end_heartbeat, heartbeat)
        scheduler = running.create_task(self.scheduler.run(), name="kairos-scheduler")
        stack.push_async_callback(_finish, scheduler)
        stack.callback(self.scheduler.stop)
        scan = running.create_task(self.dream.scan_loop(), name="kairos-dream-scan")
        stack.push_async_callback(_finish, scan)
        stack.push_async_callback(self.dream.stop)
        # The log search index catches up in the background (a thread, a batch of logs at a
        # time), so the model's first MemorySearch on years of logs never waits for all of it.
        warm_stop = threading.Event()
        warming = running.create_task(asyncio.to_thread(self.memory.log_index.warm, warm_stop),
                                      name="kairos-log-index")
        stack.push_async_callback(_finish, warming)
        stack.callback(warm_stop.set)  # first: the thread ends after its batch
        for source in self.sources:
            await source.start()
            stack.push_async_callback(source.stop)
        stack.callback(self.approvals.cancel_all, "the app is stopping")

    async def stop(self, *, grace: float = 5.0) -> None:
        """Clean stop: the loop ends its turn (or is cancelled after `grace` seconds); queued
        items that no finished turn consumed stay in the store for the next start."""
        if not self.started or self._stack is None:
            return
        self._grace = grace
        self.heartbeat.stop()  # first, so its turn ends while the rest stops
        self.scheduler.stop()
        abandon_keyring_calls()  # a read stuck in an unanswered keyring prompt holds nothing
        stack, self._stack = self._stack, None
        try:
            await stack.aclose()
        finally:
            self.started = False

    async def run_until_stopped(self, exit_after: float | None = None) -> None:
        """Wait for a stop request (control API, signal) or `exit_after` seconds, then stop."""
        await self.clock.wait(self.stop_requested, exit_after)
        await self.stop()

    async def _end_heartbeat(self, task: asyncio.Task[None]) -> None:
        self.heartbeat.stop()
        if self._reading_secrets:  # no turn to finish yet: only a keyring read to drop
            await _cancel(task)
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), self._grace)
        except TimeoutError:
            await _cancel(task)
        except Exception:
            log.exception("heartbeat loop ended with an error")

    async def _stop_control(self) -> None:
        if self.control is not None:
            await self.control.stop()
            self.control = None

    async def _close_model(self) -> None:
        if self._model is not None:
            await self._model.close()

    async def _secrets_then_heartbeat(self) -> None:
        """The OS keyring is asked only now, with the control API (and the tray) already up:
        a locked keyring's unlock prompt holds the first tick, not the app. It is asked only
        when this home stored the key there (keys.py: a first start prompts for nothing)."""
        if self._start_key and self._model is None:
            # Off the loop: the anthropic SDK's import (about a second) never holds the API.
            await asyncio.to_thread(importlib.import_module, "kairos_desktop.model")
            if self._model is None:  # else a key saved meanwhile (the panel) wins
                self._model = self._model_client(self._start_key)
        if self._model is None:
            found = None
            if self.keys.in_keyring:
                self._reading_secrets = True
                try:
                    found = await self._from_keyring(self.keys.load, "API key")
                finally:
                    self._reading_secrets = False
            key, source = found if found else (None, None)
            if self._model is None:  # else a key saved meanwhile (the panel) wins
                self._use_key(key, source)
        if self._model is None:
            self.daily_log.append("start", "no API key: no model calls will be made")
        await self.heartbeat.run()

    async def _tell_budget(self, title: str, text: str) -> None:
        """The daily budget's 80 % warning and its cap: in the chat and as a notification."""
        await self.deliveries.message(text, "system")
        await self.deliveries.push(title, text)

    def _user_present(self) -> bool:
        return bool(self.heartbeat.present())

    async def _nightly_dream(self, task: Any) -> None:
        if self.heartbeat.present():
            self.daily_log.append("dream", "nightly trigger: the user is here; not now")
            return
        gate = self.dream.maybe_start("nightly")
        self.daily_log.append("dream", f"nightly trigger: {gate.reason}")

    def _record_activity(self) -> None:
        """One row per (session, day) with a stored turn: autoDream's "sessions since" gate."""
        self.dream.activity.record(self.status.session_id, self.clock.now().date())

    async def _tell_notices(self) -> None:
        """What opening the home found (a corrupt store moved aside, by this start or by an
        offline command): said in the chat and as a notification, then dropped."""
        for notice in self.services.notices():
            await self.deliveries.message(notice["text"], "system")
            await self.deliveries.push(f"{self.settings.assistant_name}: {notice['title']}",
                                       notice["summary"])
            self.services.notice_told(notice["id"])

    async def _check_yesterdays_log(self) -> None:
        yesterday = self.clock.now().date() - timedelta(days=1)
        path = self.daily_log.path_for(yesterday)
        if not path.exists():
            return
        check = self.daily_log.verify(path)
        if check.intact or check.known:  # a known break was told when it was found
            return
        self.daily_log.append("error", f"yesterday's log was altered: {check}")
        await self.deliveries.message(
            f"Yesterday's log ({path}) was changed after it was written: {check.reason} at "
            f"line {check.line}. Check it with `kairos logs verify`; anything after that line "
            "may not be what happened.", "system")
        await self.deliveries.push(f"{self.settings.assistant_name}: log altered",
                                   f"{path.name}, line {check.line}: {check.reason}")

    # -- the API key -------------------------------------------------------------------------

    async def _keyring_call(self, fn: Callable[[], T]) -> T:
        """`fn()` off the loop: a locked OS keyring may show an unlock prompt, and the engine
        must not hang on it (keys.bounded_async: a daemon thread, never joined, so a stuck
        call holds neither the stop nor the process's exit). ApiKeyError when it does not
        answer in time."""
        try:
            return await bounded_async(fn, KEYRING_TIMEOUT_S)
        except KeyringAbandonedError:
            raise
        except KeyringTimeoutError as exc:
            raise ApiKeyError(f"{exc}; unlock it and try again") from None

    async def _from_keyring(self, read: Callable[[], T], what: str) -> T | None:
        """`read()` at start-up; None (logged) when the keyring does not answer."""
        try:
            return await self._keyring_call(read)
        except KeyringAbandonedError:
            return None  # the app is stopping: nothing to tell
        except ApiKeyError as exc:
            log.warning("%s", exc)
            self.daily_log.append("error", f"{exc}; starting without the {what} stored there. "
                                  f"Unlock the keyring and restart the app, or paste the "
                                  f"{what} in Settings.")
            return None

    def _github_token(self) -> str | None:
        """The GitHub token for the PR source (blocking: it runs off the loop, at start):
        $GITHUB_TOKEN, the home's file, or the keyring when this home stored it there."""
        try:
            token, source = self.github_tokens.load()
        except KeyringAbandonedError:
            return None
        except KeyringTimeoutError as exc:
            log.warning("GitHub token: %s; polling without it", exc)
            return None
        self._github_info = KeyInfo.of(token, source)
        return token

    def _freeze(self) -> None:
        """With freeze_heap: what is loaded by now lives as long as the process, so it goes
        out of the collector's reach (gc.freeze). Else every full collection walks it again:
        about 45 ms once the anthropic SDK is in, once a second or so of steady work, landing
        on whatever the app does then (a message's request)."""
        if self._freeze_heap:
            gc.collect()
            gc.freeze()

    def _model_client(self, api_key: str | None) -> ModelClient | None:
        if not api_key:
            return None
        from .model import ModelClient

        if not self._sdk_frozen:  # the SDK comes after start: hundreds of thousands of objects
            self._sdk_frozen = True
            self._freeze()
        return ModelClient(api_key, base_url=self._base_url, max_retries=self._model_max_retries,
                           timeout=self._model_timeout)

    def key_info(self) -> KeyInfo:
        """What may be shown of the key in use (kept, so showing it never asks the keyring)."""
        return self._key_info

    @property
    def has_model(self) -> bool:
        """A key is in use (its client may still be on its way: see _secrets_then_heartbeat)."""
        return self._model is not None or bool(self._start_key and self._key_info.set)

    async def set_api_key(self, key: str) -> KeyInfo:
        """Store the key (OS keyring or 0600 file) and use it from the next model call."""
        if self._key_info.source == "env":
            raise ApiKeyError("the key in use was given when the app started "
                              "(ANTHROPIC_API_KEY in its environment) and wins over a stored "
                              "key; change it there, or unset it and restart")
        had_none = self._model is None
        source = await self._keyring_call(lambda: self.keys.save(key))
        self._use_key(check_key_format(key), source)
        self.daily_log.append("settings", f"API key saved ({source})")
        if had_none:  # the chat's earlier "no API key" answers are out of date now: say so
            await self.deliveries.message(
                f"The API key is set ({self._key_info.hint}): {self.settings.assistant_name} "
                "answers from now on. What you sent before got only the how-to; send it again.",
                "system")
        return self._key_info

    async def clear_api_key(self) -> KeyInfo:
        await self._keyring_call(self.keys.clear)
        self._use_key(*await self._keyring_call(self.keys.load))
        self.daily_log.append("settings", "stored API key removed")
        return self._key_info

    # -- the GitHub token ---------------------------------------------------------------------

    def github_token_info(self) -> KeyInfo:
        """What may be shown of the GitHub token in use (kept: showing it asks no keyring)."""
        return self._github_info

    async def set_github_token(self, token: str) -> KeyInfo:
        """Store the token (OS keyring or 0600 file); the next GitHub poll uses it."""
        if self._github_info.source == "env":
            raise InputError("the token in use is GITHUB_TOKEN in the app's environment, which "
                             "wins over a stored one; change it there", key="githubToken")
        token = self.github_tokens.check(token)
        try:
            source = await self._keyring_call(lambda: self.github_tokens.save(token))
        except ApiKeyError as exc:
            raise InputError(str(exc), key="githubToken") from None
        self._github_info = KeyInfo.of(token, source)
        self.subscriptions.use_token(token)
        self.daily_log.append("settings", f"GitHub token saved ({source})")
        return self._github_info

    async def clear_github_token(self) -> KeyInfo:
        try:
            await self._keyring_call(self.github_tokens.clear)
        except ApiKeyError as exc:
            raise InputError(str(exc), key="githubToken") from None
        token, source = self.github_tokens.load_local()  # GITHUB_TOKEN stays, if set
        self._github_info = KeyInfo.of(token, source)
        self.subscriptions.use_token(token)
        self.daily_log.append("settings", "stored GitHub token removed")
        return self._github_info

    def _use_key(self, api_key: str | None, source: KeySource | None) -> None:
        # A turn in flight keeps the client it started with; the next call uses the new one.
        self._key_info = KeyInfo.of(api_key, source)
        self._model = self._model_client(api_key)
        self._start_key = api_key
        if self._model is None:
            self.status.state = "no_api_key"
            self.status.detail = ("no Anthropic API key: set ANTHROPIC_API_KEY or run "
                                  "`kairos key set`")
        elif self.status.state == "no_api_key":
            self.status.state, self.status.detail = "sleeping", ""
        self.bus.publish("state", **self.status.to_dict())
        self.heartbeat.wake_now()


async def _finish(task: asyncio.Task[Any]) -> None:
    """Wait for a background task that was told to stop."""
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _cancel(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
