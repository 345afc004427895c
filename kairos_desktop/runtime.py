"""The composition root: builds the engine from a home and its settings, starts and stops it.

Everything the engine runs (the heartbeat loop, the control API) lives on ONE asyncio loop; the
Engine object is used from that loop. Kairos (api.py) wraps it for notebooks and threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from .agent.dream import AutoDream
from .agent.loop import AssistantLoop
from .agent.queue import InboundItem, InboundQueue
from .approvals import Approvals
from .clock import Clock, SystemClock, local_zone
from .delivery.deliveries import Deliveries
from .delivery.inbox import Inbox
from .delivery.notifier import ConsoleNotifier, Notifier
from .delivery.outbox import Outbox
from .delivery.policy import NotificationPolicy
from .errors import ApiKeyError, SettingsError, StoreCorruptError
from .events import EventBus
from .home import Home, HomeLock
from .journal import DailyLog
from .keys import KeyInfo, Source, check_key_format
from .memory.files import MemoryFiles
from .model import ModelClient
from .paths import FolderPolicy
from .scheduler.runtime import Scheduler
from .settings import (
    Settings,
    check_writable_folder,
    env_flag,
    load_settings,
    update_settings_file,
)
from .sources.channels import ChannelManager
from .sources.folders import FolderWatcher
from .sources.github import PRSubscriptions, resolve_token
from .status import EngineStatus
from .store import Store
from .tools import ToolRegistry, core_tools
from .tools.base import ToolProvider
from .tools.commands import run_command_provider
from .transcript import Transcript, latest_session_id, new_session_id
from .usage import UsageLedger
from .views import USER_MESSAGES

log = logging.getLogger(__name__)

KEYRING_TIMEOUT_S = 30.0
T = TypeVar("T")


class Engine:
    def __init__(self, home: Home | Path | str | None = None, *, clock: Clock | None = None,
                 notifier: Notifier | None = None, api_key: str | None = None,
                 base_url: str | None = None, model_max_retries: int = 2,
                 model_timeout: float = 120.0) -> None:
        self.home = home if isinstance(home, Home) else Home(home)
        self._own_clock = clock is None
        self.clock = clock or SystemClock()
        self.bus = EventBus()
        self.notifier = notifier or ConsoleNotifier()
        self._api_key = api_key
        self._base_url = base_url
        self._model_max_retries = model_max_retries
        self._model_timeout = model_timeout
        self.status = EngineStatus()
        self.settings_problems: list[str] = []
        self._settings = Settings()
        self._key_info = KeyInfo.of(None, None)
        self._lock = HomeLock(self.home.lock_file)
        self._task: asyncio.Task[None] | None = None
        self._model: ModelClient | None = None
        self.control: Any = None
        self.started = False
        # Set by the control API's /api/stop (and the tray's Quit); whoever runs the engine
        # then stops it.
        self.stop_requested = asyncio.Event()
        # Set by the desktop layer: bring the app's window (or the tray menu) to the user.
        self.on_show: Callable[[], None] | None = None
        # Extra sections of status_dict() from outer layers (the tray's geometry...).
        self.status_extra: dict[str, Callable[[], Any]] = {}

    # -- settings ----------------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        return self._settings

    def reload_settings(self) -> list[str]:
        loaded = load_settings(self.home.settings_file)
        self._settings = loaded.settings
        self.settings_problems = loaded.problems
        return loaded.problems

    def update_settings(self, changes: dict[str, Any]) -> Settings:
        """Validate and write `changes`, then apply them; SettingsError names a bad key."""
        if not self.started:
            raise SettingsError("the engine is not running")
        def inbox_is_writable(settings: Settings) -> None:
            changed = "inboxDir" in changes or "inbox_dir" in changes
            if changed and settings.inbox_dir:
                check_writable_folder(Path(settings.inbox_dir).expanduser(), key="inboxDir")

        self._settings = update_settings_file(self.home.settings_file, changes,
                                              check=inbox_is_writable)
        self.inbox.folder = self.inbox_dir()
        self.inbox.max_bytes = self._settings.max_inbox_file_bytes
        self.status.model = self._settings.model
        self.folders.update(self._settings.watched_folders, self._settings.folder_debounce_seconds)
        self.daily_log.append("settings", ", ".join(f"{k}={v!r}" for k, v in changes.items()))
        self.bus.publish("settings", **self._settings.to_json_dict())
        self.heartbeat.wake_now()  # new sleep bounds or model apply from the next tick
        return self._settings

    def policy(self) -> FolderPolicy:
        return FolderPolicy(self.home.workspace_dir,
                            [*self._settings.allowed_folders, str(self.home.memory_dir)])

    def inbox_dir(self) -> Path:
        configured = self._settings.inbox_dir
        if configured:
            return Path(configured).expanduser()
        return self.home.default_inbox_dir(self._settings.assistant_name)

    # -- life cycle --------------------------------------------------------------------------

    async def start(self, *, session_id: str | None = None, resume: bool = False,
                    control_api: bool = True) -> None:
        """Take the home, open everything, start the loop (and the control API)."""
        if self.started:
            raise RuntimeError("this engine is already running")
        self.home.ensure()
        self._lock.acquire()
        try:
            await self._open(session_id=session_id, resume=resume, control_api=control_api)
        except BaseException:
            self._lock.release()
            raise

    async def _open(self, *, session_id: str | None, resume: bool, control_api: bool) -> None:
        for problem in self.reload_settings():
            log.warning("settings: %s", problem)
        if self._own_clock:  # cron times need the zone's DST rules: the setting, else the system's
            self.clock = SystemClock(local_zone(self._settings.time_zone))
        self.daily_log = DailyLog(self.home.logs_dir, self.clock, key=self.home.log_key())
        try:
            self.store = Store(self.home.store_file, owner=True)
        except StoreCorruptError as exc:
            moved = Store.quarantine(self.home.store_file, self.clock.now())
            self.daily_log.append("error", f"{exc} Moved it to {moved}; starting a new store.")
            self.settings_problems.append(f"store.json was corrupt and was moved to {moved}")
            self.store = Store(self.home.store_file, owner=True)
        self.queue = InboundQueue(self.store)
        self.usage = UsageLedger(self.store, self.clock)
        self.outbox = Outbox(self.store, self.clock)
        self.inbox = Inbox(self.store, self.inbox_dir(), self.clock,
                           max_bytes=self._settings.max_inbox_file_bytes)
        self.notifications = NotificationPolicy(self.notifier, clock=self.clock,
                                                settings=lambda: self._settings)
        self.deliveries = Deliveries(
            outbox=self.outbox, inbox=self.inbox, notifier=self.notifications,
            daily_log=self.daily_log, bus=self.bus, settings=lambda: self._settings,
            policy=self.policy)
        if session_id is None and resume:
            session_id = latest_session_id(self.home.sessions_dir)
        session_id = session_id or new_session_id(self.clock.now())
        self.transcript = Transcript.open(self.home.sessions_dir, session_id)
        self.deliveries.session_id = session_id
        self.keys = self.home.api_keys()
        api_key, source = (self._api_key, "env") if self._api_key else self.keys.load_local()
        self._key_info = KeyInfo.of(api_key, source)
        self._model = self._model_client(api_key)
        self.tools = ToolRegistry(core_tools())
        self.memory = MemoryFiles(self.home.memory_dir)
        zone = self.clock.now().tzinfo
        assert zone is not None
        self.scheduler = Scheduler(
            store=self.store, clock=self.clock, settings=lambda: self._settings, zone=zone,
            queue=self.queue, daily_log=self.daily_log, bus=self.bus,
            fire_disabled=env_flag("KAIROS_DISABLE_CRON"),
            durable_fire_disabled=env_flag("KAIROS_DISABLE_DURABLE_CRON"))
        self.scheduler.load()
        self.dream = AutoDream(
            memory=self.memory, store=self.store, clock=self.clock,
            settings=lambda: self._settings, model=lambda: self._model, daily_log=self.daily_log,
            deliveries=self.deliveries, bus=self.bus, usage=self.usage, policy=self.policy,
            user_present=lambda: self.heartbeat.present())
        self.scheduler.on_dream = self._nightly_dream
        self.channels = ChannelManager(
            settings=lambda: self._settings, put=self.queue.put, clock=self.clock,
            daily_log=self.daily_log,
            notify_user=lambda text: self.deliveries.message(text, "system"))
        self.tools.add_provider(ToolProvider(self.channels.tool_definitions,
                                             self.channels.call_tool))
        self.approvals = Approvals(clock=self.clock, daily_log=self.daily_log, bus=self.bus,
                                   notify=self.deliveries.notify, settings=lambda: self._settings)
        self.tools.add_provider(run_command_provider(
            approvals=self.approvals, settings=lambda: self._settings,
            workspace=self.home.workspace_dir, daily_log=self.daily_log))
        self.folders = FolderWatcher(
            folders=self._settings.watched_folders, put=self.queue.put, clock=self.clock,
            debounce_seconds=self._settings.folder_debounce_seconds, daily_log=self.daily_log,
            exclude=[self.home.root])  # the home changes on every tick: never report it
        self.subscriptions = PRSubscriptions(
            store=self.store, put=self.queue.put, clock=self.clock,
            settings=lambda: self._settings, token=resolve_token(keyring=False),
            daily_log=self.daily_log)
        self.status.session_id = session_id
        self.status.model = self._settings.model
        self.folders.update(self._settings.watched_folders, self._settings.folder_debounce_seconds)
        self.heartbeat = AssistantLoop(
            settings=lambda: self._settings, clock=self.clock, queue=self.queue,
            transcript=self.transcript, model=lambda: self._model, tools=self.tools,
            policy=self.policy,
            deliveries=self.deliveries, daily_log=self.daily_log, usage=self.usage, bus=self.bus,
            status=self.status, scheduler=self.scheduler, memory=self.memory,
            subscriptions=self.subscriptions,
            on_active_turn=self._record_activity)
        running = asyncio.get_running_loop()
        self.queue.bind(running)
        resumed = "resumed" if self.transcript.turns else "new"
        self.daily_log.append(
            "start", f"{self._settings.assistant_name} started ({resumed} session {session_id}, "
            f"model {self._settings.model}, {len(self.queue)} queued item(s))")
        for problem in self.settings_problems:
            self.daily_log.append("settings", problem)
        if control_api:
            from .control.server import ControlServer

            self.control = ControlServer(self)
            await self.control.start()
        await self._check_yesterdays_log()
        self.scheduler.fire_due()  # what was missed while closed joins the very first turn
        self._task = running.create_task(self._secrets_then_heartbeat(),
                                         name="kairos-heartbeat")
        self._scheduler_task = running.create_task(self.scheduler.run(), name="kairos-scheduler")
        self._dream_scan = running.create_task(self.dream.scan_loop(), name="kairos-dream-scan")
        self._github_start = running.create_task(self._github_token_then_poll(),
                                                 name="kairos-github-start")
        await self.channels.start()
        await self.folders.start()
        self.started = True

    async def _secrets_then_heartbeat(self) -> None:
        """The OS keyring is asked only now, with the control API (and the tray) already up:
        a locked keyring's unlock prompt holds the first tick, not the app."""
        if self._model is None:
            found = await self._from_keyring(self.keys.load, "API key")
            key, source = found if found else (None, None)
            if self._model is None:  # else a key saved meanwhile (the panel) wins
                self._use_key(key, source)
            if self._model is None:
                self.daily_log.append("start", "no API key: no model calls will be made")
        await self.heartbeat.run()

    async def _github_token_then_poll(self) -> None:
        if self.subscriptions.token is None:
            self.subscriptions.token = await self._from_keyring(resolve_token, "GitHub token")
        await self.subscriptions.start()

    async def _nightly_dream(self, task: Any) -> None:
        if self.heartbeat.present():
            self.daily_log.append("dream", "nightly trigger: the user is here; not now")
            return
        gate = self.dream.maybe_start("nightly")
        self.daily_log.append("dream", f"nightly trigger: {gate.reason}")

    def _record_activity(self) -> None:
        """One row per (session, day) with a stored turn: autoDream's "sessions since" gate."""
        day = self.clock.now().date().isoformat()
        session = self.status.session_id
        if not self.store.find("activity", session=session, date=day):
            self.store.insert("activity", {"session": session, "date": day})

    async def _check_yesterdays_log(self) -> None:
        yesterday = self.clock.now().date() - timedelta(days=1)
        path = self.daily_log.path_for(yesterday)
        if not path.exists():
            return
        check = self.daily_log.verify(path)
        if check.intact:
            return
        self.daily_log.append("error", f"yesterday's log was altered: {check}")
        await self.deliveries.message(
            f"Yesterday's log ({path}) was changed after it was written: {check.reason} at "
            f"line {check.line}. Check it with `kairos logs verify`; anything after that line "
            "may not be what happened.", "system")
        await self.deliveries.push(f"{self._settings.assistant_name}: log altered",
                                   f"{path.name}, line {check.line}: {check.reason}")

    async def stop(self, *, grace: float = 5.0) -> None:
        """Clean stop: the loop ends its turn (or is cancelled after `grace` seconds); queued
        items that no finished turn consumed stay in the store for the next start."""
        if not self.started:
            return
        self.heartbeat.stop()
        self.scheduler.stop()
        self.approvals.cancel_all("the app is stopping")
        await self.dream.stop()
        self._github_start.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._github_start
        await self.subscriptions.stop()
        await self.channels.stop()
        await self.folders.stop()
        for background in (self._scheduler_task, self._dream_scan):
            with contextlib.suppress(asyncio.CancelledError):
                await background
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), grace)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            except Exception:
                log.exception("heartbeat loop ended with an error")
        if self.control is not None:
            await self.control.stop()
            self.control = None
        if self._model is not None:
            await self._model.close()
        await self.notifications.close()
        self.daily_log.append("stop", f"stopped ({len(self.queue)} item(s) left queued)")
        self.store.close()
        self._lock.release()
        self.started = False

    async def run_until_stopped(self, exit_after: float | None = None) -> None:
        """Wait for a stop request (control API, signal) or `exit_after` seconds, then stop."""
        await self.clock.wait(self.stop_requested, exit_after)
        await self.stop()

    # -- the API key -------------------------------------------------------------------------

    async def _keyring_call(self, fn: Callable[[], T]) -> T:
        """`fn()` off the loop: a locked OS keyring may show an unlock prompt, and the engine
        must not hang on it. ApiKeyError when it does not answer in time."""
        try:
            async with asyncio.timeout(KEYRING_TIMEOUT_S):
                return await asyncio.to_thread(fn)
        except TimeoutError:
            raise ApiKeyError(f"the OS keyring did not answer within {KEYRING_TIMEOUT_S:g} s "
                              "(is it locked?); unlock it and try again") from None

    async def _from_keyring(self, read: Callable[[], T], what: str) -> T | None:
        """`read()` at start-up; None (logged) when the keyring does not answer."""
        try:
            return await self._keyring_call(read)
        except ApiKeyError as exc:
            log.warning("%s", exc)
            self.daily_log.append("error", f"{exc}; starting without the {what}. Unlock it, "
                                  f"then save the {what} again.")
            return None

    def _model_client(self, api_key: str | None) -> ModelClient | None:
        if not api_key:
            return None
        return ModelClient(api_key, base_url=self._base_url, max_retries=self._model_max_retries,
                           timeout=self._model_timeout)

    def key_info(self) -> KeyInfo:
        """What may be shown of the key in use (kept, so showing it never asks the keyring)."""
        return self._key_info

    async def set_api_key(self, key: str) -> KeyInfo:
        """Store the key (OS keyring or 0600 file) and use it from the next model call."""
        if self._key_info.source == "env":
            raise ApiKeyError("the key in use was given when the app started "
                              "(ANTHROPIC_API_KEY in its environment) and wins over a stored "
                              "key; change it there, or unset it and restart")
        source = await self._keyring_call(lambda: self.keys.save(key))
        self._use_key(check_key_format(key), source)
        self.daily_log.append("settings", f"API key saved ({source})")
        return self._key_info

    async def clear_api_key(self) -> KeyInfo:
        await self._keyring_call(self.keys.clear)
        self._use_key(*await self._keyring_call(self.keys.load))
        self.daily_log.append("settings", "stored API key removed")
        return self._key_info

    def _use_key(self, api_key: str | None, source: Source | None) -> None:
        # A turn in flight keeps the client it started with; the next call uses the new one.
        self._key_info = KeyInfo.of(api_key, source)
        self._model = self._model_client(api_key)
        if self._model is None:
            self.status.state = "no_api_key"
            self.status.detail = ("no Anthropic API key: set ANTHROPIC_API_KEY or run "
                                  "`kairos key set`")
        elif self.status.state == "no_api_key":
            self.status.state, self.status.detail = "sleeping", ""
        self.bus.publish("state", **self.status.to_dict())
        self.heartbeat.wake_now()

    # -- what clients do ---------------------------------------------------------------------

    def send(self, text: str, *, kind: str = "user", source: str = "user",
             priority: str = "next") -> InboundItem:
        item = InboundItem(kind=kind, text=text, source=source, priority=priority,  # type: ignore[arg-type]
                           created_at=self.clock.now().isoformat(timespec="seconds"))
        self.queue.put(item)
        if kind == "user":
            self.heartbeat.mark_interaction()
            self.store.insert(USER_MESSAGES, {"id": item.id, "text": text,
                                              "createdAt": item.created_at})
            self.bus.publish("inbound", id=item.id, kind=kind, text=text, source=source,
                             createdAt=item.created_at)
        return item

    def set_panel_focused(self, focused: bool) -> None:
        """While the panel has the user's focus they are present (the model prefers a chat
        message to a notification); leaving it starts the usual presence window."""
        if self.heartbeat.panel_focused or focused:
            self.heartbeat.mark_interaction()
        if self.heartbeat.panel_focused != focused:
            self.heartbeat.panel_focused = focused
            self.bus.publish("presence", focused=focused)

    def pause(self) -> None:
        """The tray's Pause: no ticks, no model calls; tasks are held and caught up on resume."""
        self.heartbeat.pause()
        self.scheduler.set_paused(True)
        self.daily_log.append("pause", "paused by the user")

    def resume(self) -> None:
        self.scheduler.set_paused(False)
        self.scheduler.fire_due()  # what came due while paused joins the first turn
        self.heartbeat.resume()
        self.daily_log.append("pause", "resumed")

    def status_dict(self) -> dict[str, Any]:
        data = self.status.to_dict()
        data["dream"] = self.dream.state.to_dict()
        data["channels"] = self.channels.status()
        upcoming = self.scheduler.next_due()
        data["nextTask"] = ({"id": upcoming[1].id, "dueAt": upcoming[1].next_due_at,
                             "prompt": upcoming[1].prompt[:120]} if upcoming else None)
        for key, provider in list(self.status_extra.items()):
            try:
                data[key] = provider()
            except Exception as exc:  # an outer layer's trouble must not break status
                data[key] = {"error": repr(exc)}
        data.update(assistantName=self._settings.assistant_name,
                    running=self.started, home=str(self.home.root), paused=self.heartbeat.paused,
                    queued=len(self.queue), usageToday=self.usage.day(),
                    approvalsPending=len(self.approvals.pending()),
                    apiKey=self._model is not None, model=self._settings.model,
                    settingsProblems=list(self.settings_problems))
        return data
