"""The home's services and the application API over them: shared by the engine and the CLI.

`HomeServices` is what a home holds on disk (the store, the queue, messages, the inbox, tasks, the
daily log, memory and its dream snapshots), built in one place. `HomeApp` implements every read
and action of the application API (application.py) that needs only those. The running Engine
(runtime.py) is a HomeApp that adds the live parts (the loop, approvals, sources, the control
API); the CLI's offline connection (offline.py) is a HomeApp on the same classes, opened under the
home's lock. So a message sent while the app is closed is written exactly as one sent to it, and
a setting changed offline passes the same checks as one changed in the panel.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from . import views
from .budget import DailyBudget
from .clock import Clock
from .delivery.inbox import Inbox
from .delivery.outbox import Outbox
from .delivery.user_messages import UserMessages
from .errors import (
    ConflictError,
    GoneError,
    InputError,
    InvalidCronError,
    NotFoundError,
    NotRunningError,
    StoreCorruptError,
)
from .events import Event, EventBus
from .history import Problem
from .home import Home
from .journal import MARKER, DailyLog
from .keys import KeyInfo, github_token_store
from .memory.dream_snapshots import DreamSnapshots
from .memory.files import MemoryFiles
from .migration import MigrationError, migrate
from .opener import open_path, runs_when_opened, show_in_folder
from .queue import InboundItem, InboundQueue
from .scheduler.describe import describe_cron
from .scheduler.rules import next_fires, validate_cron
from .scheduler.runtime import Scheduler
from .scheduler.task import CatchUp
from .settings import Settings, check_writable_folder, env_flag, update_settings_file
from .sources.channels.config import add_changes, allow_changes, remove_changes, server_rows
from .sources.channels.plugins import read_plugin
from .store import Store, UnreadableStoreError
from .usage import DAYS_KIND, UsageLedger

JSON = dict[str, Any]
log = logging.getLogger(__name__)
SUBSCRIPTIONS_TABLE = "subscriptions"
MAX_PAGE = 5_000  # messages in one page of message_history
# What opening the home found that the user must be told (a corrupt store moved aside): kept in
# the store until the running app has said it in the chat, whoever opened the home.
NOTICES_TABLE = "notices"
# Unreadable lines of the history files already told (path:line), so each is told once.
TOLD_PROBLEMS_TABLE = "history_problems"


@dataclass
class HomeServices:
    """A home's persistent services. Opening reads store.json; nothing else starts."""

    daily_log: DailyLog
    store: Store
    queue: InboundQueue
    usage: UsageLedger
    outbox: Outbox
    inbox: Inbox
    scheduler: Scheduler
    memory: MemoryFiles
    snapshots: DreamSnapshots
    budget: DailyBudget  # the usage ledger's guard: the hard daily budget
    user_messages: UserMessages
    # Notices of this opening only (a migration that failed: the next start tries again and
    # says it again), told like the stored ones.
    passing: list[JSON] = field(default_factory=list)

    @classmethod
    def open(cls, home: Home, *, clock: Clock, settings: Callable[[], Settings], bus: EventBus,
             inbox_dir: Path, seed_builtins: bool) -> HomeServices:
        """Open the home's services. A corrupt store is moved aside, a new one started and a
        notice stored in it (see `notices`), so the app's next start tells the user."""
        daily_log = DailyLog(home.logs_dir, clock, key=home.log_key())
        try:
            store = Store(home.store_file, owner=True)
        except StoreCorruptError as exc:
            moved = Store.quarantine(home.store_file, clock.now())
            daily_log.append("error", f"{exc} Moved it to {moved}; starting a new store.")
            store = Store(home.store_file, owner=True)
            notice = _store_moved_notice(exc, home.store_file, moved, clock)
            store.insert(NOTICES_TABLE, notice)
            log.warning("%s The app says more in its chat when it starts.", notice["summary"])
        store.on_history_problem = lambda history, problem: _tell_problem(store, problem, clock)
        passing = _migrate(store, clock, daily_log)
        queue = InboundQueue(store)
        current = settings()
        zone = clock.now().tzinfo
        assert zone is not None
        scheduler = Scheduler(
            store=store, clock=clock, settings=settings, zone=zone, queue=queue,
            daily_log=daily_log, bus=bus, fire_disabled=env_flag("KAIROS_DISABLE_CRON"),
            durable_fire_disabled=env_flag("KAIROS_DISABLE_DURABLE_CRON"))
        scheduler.load(seed_builtins=seed_builtins)
        memory = MemoryFiles(home.memory_dir)
        usage = UsageLedger(store, clock, store.history("usage"),
                            days=store.history(DAYS_KIND))
        budget = DailyBudget(ledger=usage, store=store, clock=clock,
                             cap=lambda: settings().daily_budget_usd, bus=bus)
        usage.guard = budget
        return cls(
            daily_log=daily_log, store=store, queue=queue, usage=usage,
            outbox=Outbox(store, clock),
            inbox=Inbox(store, inbox_dir, clock, max_bytes=current.max_inbox_file_bytes,
                        bus=bus),
            scheduler=scheduler, memory=memory,
            snapshots=DreamSnapshots(memory, store, daily_log), budget=budget,
            user_messages=UserMessages(store), passing=passing)

    def notices(self) -> list[JSON]:
        """What the user has yet to be told about the home ({"id", "title", "text"}), oldest
        first; `notice_told` drops one once it is in the chat."""
        return sorted([*self.store.all(NOTICES_TABLE), *self.passing],
                      key=lambda d: str(d.get("createdAt")))

    def notice_told(self, notice_id: str) -> None:
        self.passing = [n for n in self.passing if n["id"] != notice_id]
        self.store.remove(NOTICES_TABLE, id=notice_id)

    def close(self) -> None:
        self.store.close()


def _store_moved_notice(exc: StoreCorruptError, path: Path, moved: Path, clock: Clock) -> JSON:
    """What the user reads about a store that could not be read: what was found, where it went
    and what that means for what it held."""
    found = f"it {exc.reason}" if isinstance(exc, UnreadableStoreError) else str(exc)
    now = clock.now()
    return {
        "id": f"store-moved-{now.strftime('%Y%m%dT%H%M%S%f')}",
        "title": "stored data moved aside",
        "createdAt": now.isoformat(timespec="seconds"),
        "summary": f"{path.name} could not be read and was moved to {moved.name}; nothing was "
                   "deleted.",
        "text": (
            f"On {now:%Y-%m-%d at %H:%M}, {path} (where the chat's history, messages waiting "
            f"for me, scheduled tasks and usage are kept) could not be read: {found}. It was "
            f"moved to {moved} and an empty one started. Nothing in it is lost: what it held "
            "(a message you sent that I had not answered yet, your scheduled tasks, earlier "
            "chat) is still in the moved file, but I no longer see it. To get it back, quit "
            f"the app, repair that file or restore it from a backup, and put it back as "
            f"{path}."),
    }


def _migrate(store: Store, clock: Clock, daily_log: DailyLog) -> list[JSON]:
    """Move what only grows out of an older store.json (migration.py); a failure leaves it as
    it was and returns the notice that says why."""
    try:
        report = migrate(store, clock)
    except MigrationError as exc:
        daily_log.append("error", f"store migration failed, {store.path} left as it was: {exc}")
        log.warning("could not move the history out of %s: %s", store.path, exc)
        now = clock.now()
        return [{
            "id": f"migration-failed-{now.strftime('%Y%m%dT%H%M%S%f')}",
            "title": "stored history not moved",
            "createdAt": now.isoformat(timespec="seconds"),
            "summary": f"Moving the chat's history out of {store.path.name} failed: {exc}",
            "text": (
                f"On {now:%Y-%m-%d at %H:%M}, moving the history (messages, delivered files, "
                f"dream runs, activity, past usage) out of {store.path} into "
                f"{store.history_dir} failed: {exc}. Nothing was lost: {store.path} was left "
                "as it was (a copy is beside it, .pre-migration), but earlier messages are not "
                "shown until the move is done. It is tried again at every start; fix what is "
                f"said above (is {store.history_dir} a folder you can write to? is the disk "
                "full?) and restart the app.")}]
    if report is not None:
        daily_log.append("store", str(report))
        log.info("store: %s", report)
    return []


def _tell_problem(store: Store, problem: Problem, clock: Clock) -> None:
    """A line of a history file could not be read (it is skipped, left in the file): a notice,
    once per line whoever reads it."""
    key = f"{problem.path}:{problem.line}"
    if store.find(TOLD_PROBLEMS_TABLE, key=key):
        return
    now = clock.now()
    store.transact(lambda db: (
        db.table(TOLD_PROBLEMS_TABLE, cache_size=0).insert({"key": key}),
        db.table(NOTICES_TABLE, cache_size=0).insert({
            "id": f"history-problem-{now.strftime('%Y%m%dT%H%M%S%f')}",
            "title": "a history file has an unreadable line",
            "createdAt": now.isoformat(timespec="seconds"),
            "summary": f"{problem.path} line {problem.line} could not be read and is skipped.",
            "text": (f"Line {problem.line} of {problem.path} could not be read "
                     f"({problem.reason}). It is skipped, and left in the file as it is; what "
                     "it held (a message, a delivered file, a dream run...) is not shown. To "
                     "get it back, repair that line (one JSON object per line) with the app "
                     "closed.")})))


def task_view(task: Any) -> JSON:
    data: JSON = task.public()
    try:
        data["description"] = describe_cron(task.cron)
    except InvalidCronError:
        data["description"] = "(not a valid cron expression)"
    return data


@dataclass
class SettingsState:
    """The settings in use and what was wrong with settings.json when it was read. One object,
    shared by the application API (which changes it) and every service (which reads it)."""

    current: Settings
    problems: list[str]


def _needs_app(what: str) -> NotRunningError:
    return NotRunningError(f"{what} needs the running app; start it with `kairos run`")


class HomeApp:
    """The application API over a home's services (see the module docstring); the running
    engine's subclass overrides the hooks and the live actions."""

    running = False

    def __init__(self, *, home: Home, clock: Clock, bus: EventBus, services: HomeServices,
                 settings: SettingsState) -> None:
        self.home = home
        self.clock = clock
        self.bus = bus
        self.services = services
        self._state = settings

    @property
    def _settings(self) -> Settings:
        return self._state.current

    @property
    def settings_problems(self) -> list[str]:
        return self._state.problems

    # -- hooks for the running engine ----------------------------------------------------------

    def _on_user_message(self, item: InboundItem) -> None:
        """A user message was queued (the engine marks the user present and wakes)."""

    def _apply_settings(self, changes: JSON) -> None:
        """Settings were written (the engine applies them to its live services)."""

    def _on_budget_raised(self) -> None:
        """Today's budget was raised (the engine wakes the loop)."""

    def key_info(self) -> KeyInfo:
        key, source = self.home.api_keys().load_local()
        return KeyInfo.of(os.environ.get("ANTHROPIC_API_KEY") or key,
                          "env" if os.environ.get("ANTHROPIC_API_KEY") else source)

    # -- reads -------------------------------------------------------------------------------

    def subscribe(self, fn: Callable[[Event], None]) -> Callable[[], None]:
        """Every event the owners of state publish; returns the unsubscribe function."""
        return self.bus.subscribe(fn)

    def inbox_dir(self) -> Path:
        configured = self._settings.inbox_dir
        if configured:
            return Path(configured).expanduser()
        return self.home.default_inbox_dir(self._settings.assistant_name)

    def assistant_name(self) -> str:
        return self._settings.assistant_name

    def status(self) -> JSON:
        return {"running": False, "state": "stopped", "home": str(self.home.root),
                "assistantName": self._settings.assistant_name, "model": self._settings.model,
                "queued": len(self.services.queue), "usageToday": self.services.usage.day(),
                "held": len(self.services.queue.held()),
                "budget": self.budget(), "settingsProblems": list(self.settings_problems)}

    def messages(self, limit: int = 50) -> list[JSON]:
        return self.services.outbox.recent(limit)

    def message_history(self, after: str | None = None, limit: int = 500) -> JSON:
        """Every message ever sent, oldest first, a page at a time: {"messages", "next"} (the
        `after` of the next page; null after the last). InputError names a bad limit or
        cursor."""
        if type(limit) is not int or not 1 <= limit <= MAX_PAGE:
            raise InputError(f"limit must be a whole number from 1 to {MAX_PAGE}, not "
                             f"{limit!r}", key="limit")
        try:
            page, cursor = self.services.outbox.page(after, limit)
        except ValueError as exc:
            raise InputError(f"after: {exc}; pass the \"next\" of the previous page",
                             key="after") from None
        return {"messages": page, "next": cursor}

    def chat(self, limit: int = 100, before: str | None = None) -> list[JSON]:
        """The newest `limit` chat items, or those before `before` (the oldest shown item's
        "at", else its "createdAt"): the page above it. InputError names a bad `before`."""
        svc = self.services
        try:
            files = svc.inbox.items(2 * limit, before=before)
            return views.chat(svc.outbox, svc.user_messages, files, limit, before=before)
        except ValueError:
            raise InputError(f"before must be a time like 2026-11-02T09:30:00+01:00, not "
                             f"{before!r}", key="before") from None

    def inbox(self) -> list[JSON]:
        return self.services.inbox.items()

    def recent_files(self, limit: int = 10) -> list[JSON]:
        return self.services.inbox.items(limit)

    def tasks(self) -> list[JSON]:
        return [task_view(t) for t in self.services.scheduler.tasks()]

    def describe_cron(self, expr: str) -> JSON:
        try:
            text = describe_cron(expr)
            fires = next_fires(validate_cron(expr), self.clock.now(), 3)
        except InvalidCronError as exc:
            return {"valid": False, "error": str(exc)}
        return {"valid": True, "text": text,
                "next": [f.isoformat(timespec="minutes") for f in fires]}

    def _day(self, day: date | None) -> date:
        return day or self.clock.now().date()

    def log(self, day: date | None = None, query: str = "") -> JSON:
        return views.log_entries(self.services.daily_log, self._day(day), query.strip())

    def log_text(self, day: date | None = None, *, raw: bool = False) -> str:
        text = self.services.daily_log.read(self._day(day))
        if raw:
            return text
        return "\n".join(MARKER.sub("", line) for line in text.split("\n"))

    def verify_logs(self, day: date | None = None) -> list[JSON]:
        log = self.services.daily_log
        if day is not None:
            path = log.path_for(day)
            checks = [log.verify(path)] if path.exists() else []
        else:
            checks = log.verify_all()
        return [{"path": str(c.path), "intact": c.intact, "known": c.known, "line": c.line,
                 "reason": c.reason, "entries": c.entries, "text": str(c)} for c in checks]

    def usage(self) -> list[JSON]:
        return self.services.usage.days()

    def usage_turns(self, day: date | None = None) -> list[JSON]:
        """The agent turns of `day` (default today), newest first: who ran it, its calls, its
        cost and the tools it used."""
        return self.services.usage.turns(day)

    def budget(self) -> JSON:
        """Today's spend against the daily budget (dailyBudgetUsd, or today's raise)."""
        return self.services.budget.state().to_dict()

    def memory(self) -> JSON:
        return views.memory_snapshot(self.services.memory)

    def settings_view(self) -> JSON:
        return {"settings": self._settings.to_json_dict(), "problems": self.settings_problems,
                "apiKey": self.key_info().to_dict(),
                "githubToken": self.github_token_info().to_dict()}

    def github_token_info(self) -> KeyInfo:
        """GITHUB_TOKEN or the home's file; a token in the keyring is said set, not read."""
        store = github_token_store(self.home.secrets_dir, self.home.root)
        token, source = store.load_local()
        if token is None and store.in_keyring:
            return KeyInfo(True, "keyring", None)
        return KeyInfo.of(token, source)

    def settings_schema(self) -> JSON:
        return Settings.model_json_schema(by_alias=True)

    def subscriptions(self) -> list[JSON]:
        docs = sorted(self.services.store.all(SUBSCRIPTIONS_TABLE),
                      key=lambda d: str(d.get("createdAt", "")))
        return [{k: v for k, v in d.items() if k != "_id"} for d in docs]

    def dream(self) -> JSON:
        return {"state": {"running": False, "phase": "idle"},
                "runs": self.services.snapshots.runs()}

    def approvals(self) -> list[JSON]:
        return []  # requests live in the running app; a restart denies what was waiting

    def queued(self) -> list[JSON]:
        """What waits for the next turn, in the order the model will see it (texts previewed)."""
        return [item.view() for item in self.services.queue.pending()]

    def held(self) -> list[JSON]:
        """Items set aside because the model API refused them, oldest first, with the reason."""
        return [held.view() for held in self.services.queue.held()]

    # -- actions on the home's files ---------------------------------------------------------

    def send(self, text: str) -> JSON:
        if not isinstance(text, str) or not text.strip():
            raise InputError("there is nothing to send: the message is empty", key="text")
        text = text.strip()
        item = InboundItem(kind="user", text=text, source="user", priority="next",
                           created_at=self.clock.now().isoformat(timespec="seconds"))
        self.services.queue.put(item)
        self.services.user_messages.add(
            item.id, text, created_at=item.created_at,
            at=self.clock.now().isoformat(timespec="microseconds"))  # orders the chat
        self._on_user_message(item)
        self.bus.publish("inbound", id=item.id, kind="user", text=text, source="user",
                         createdAt=item.created_at)
        return {"id": item.id, "queued": True,
                "delivered": "running" if self.running else "next start"}

    def add_task(self, cron: str, prompt: str, *, recurring: bool, durable: bool,
                 catch_up: CatchUp = "once") -> JSON:
        for key, value, kind in (("cron", cron, str), ("prompt", prompt, str),
                                 ("recurring", recurring, bool), ("durable", durable, bool)):
            if type(value) is not kind:
                words = "true or false" if kind is bool else "text"
                raise InputError(f"{key} must be {words}, not {value!r}", key=key)
        if not durable and not self.running:
            raise InputError("a session-only task lives only in the running app, and none is "
                             "running; make it durable", key="durable")
        task = self.services.scheduler.create(cron, prompt, recurring=recurring,
                                              durable=durable,
                                              catch_up=catch_up)
        return task_view(task)

    def raise_budget(self, cap_usd: float) -> JSON:
        """Today's budget becomes `cap_usd` until midnight (dailyBudgetUsd is unchanged); the
        running app goes on at once. InputError (key capUsd) unless it is above today's budget
        and spend."""
        state = self.services.budget.raise_today(cap_usd)
        self.services.daily_log.append(
            "budget", f"today's budget raised to ${state.cap_usd:,.2f} by the user "
            f"(${state.spent_usd:,.2f} spent; dailyBudgetUsd stays "
            f"{'null' if state.setting_usd is None else f'${state.setting_usd:,.2f}'})")
        self._on_budget_raised()
        return state.to_dict()

    def delete_task(self, task_id: str) -> JSON:
        return task_view(self.services.scheduler.delete(task_id))

    def mark_inbox_read(self, item_id: str) -> None:
        if not self.services.inbox.mark_read(item_id):
            raise NotFoundError(f"no inbox item with id {item_id!r}")

    def mark_message_read(self, message_id: str) -> None:
        if not self.services.outbox.mark_read(message_id):
            raise NotFoundError(f"no message with id {message_id!r}")

    def _inbox_path(self, item_id: str) -> tuple[JSON, Path]:
        item = self.services.inbox.get(item_id)
        if item is None:
            raise NotFoundError(f"no inbox item with id {item_id!r}")
        path = Path(item["path"])
        if not path.exists():
            raise GoneError(f"{item['path']} is gone (moved or deleted)")
        return item, path

    def open_inbox_item(self, item_id: str) -> None:
        """Open a delivered file in its default app and mark it read. A program or script is
        refused: opening it would run it without the approval RunCommand needs."""
        item, path = self._inbox_path(item_id)
        if runs_when_opened(path):
            raise ConflictError(f"{path.name} is a program or script: opening it would run it. "
                                "Use Show in folder and look at it first.")
        open_path(path)
        self.services.inbox.mark_read(item["id"])

    def reveal_inbox_item(self, item_id: str) -> None:
        _, path = self._inbox_path(item_id)
        show_in_folder(path)

    def open_inbox_folder(self) -> None:
        folder = self.services.inbox.folder
        folder.mkdir(parents=True, exist_ok=True)
        open_path(folder)

    def update_settings(self, changes: JSON) -> JSON:
        """Validate and write `changes`; SettingsError names the bad key, nothing changes."""
        if not isinstance(changes, dict) or not changes:
            raise InputError('settings changes must be an object like {"key": value}')
        changes = self._keep_inbox_on_rename(changes)

        def inbox_is_writable(settings: Settings) -> None:
            changed = "inboxDir" in changes or "inbox_dir" in changes
            if changed and settings.inbox_dir:
                check_writable_folder(Path(settings.inbox_dir).expanduser(), key="inboxDir")

        self._state.current = update_settings_file(self.home.settings_file, changes,
                                                   check=inbox_is_writable)
        self.services.inbox.folder = self.inbox_dir()
        self.services.inbox.max_bytes = self._settings.max_inbox_file_bytes
        self.services.daily_log.append(
            "settings", ", ".join(f"{k}={v!r}" for k, v in changes.items()))
        self._apply_settings(changes)
        self.bus.publish("settings", **self._settings.to_json_dict())
        return self._settings.to_json_dict()

    def _keep_inbox_on_rename(self, changes: JSON) -> JSON:
        """The default inbox is named after the assistant ("Kairos Inbox"): a rename would
        start a second folder and split the files. Once files were delivered, a rename pins
        inboxDir to the folder in use (in the same write), so they stay in one place."""
        renamed = any(k in changes for k in ("assistantName", "assistant_name"))
        if not renamed or "inboxDir" in changes or "inbox_dir" in changes \
                or self._settings.inbox_dir:
            return changes
        folder = self.inbox_dir()
        if not self.services.inbox.items(1) and not folder.exists():
            return changes
        return {**changes, "inboxDir": str(folder)}

    def undo_dream(self) -> str:
        return self.services.snapshots.undo()

    def retry_held(self, item_id: str) -> JSON:
        """Put a held item back into the queue as it is (the API may refuse it again: then it
        is set aside again). NotFoundError when no held item has that id."""
        item = self.services.queue.retry_held(item_id)
        self.services.daily_log.append("held", f"{item.kind} {item.id} put back into the "
                                       "queue by the user")
        self.bus.publish("held", id=item.id, retried=True)
        return {**item.view(), "queued": True,
                "delivered": "running" if self.running else "next start"}

    def drop_held(self, item_id: str) -> JSON:
        """Let a held item go for good (the user's decision); returns what it was."""
        held = self.services.queue.drop_held(item_id)
        self.services.daily_log.append("held", f"{held.item.kind} {held.item.id} dropped by "
                                       f"the user: {held.item.view()['preview']}")
        self.bus.publish("held", id=held.item.id, dropped=True)
        return held.view()

    # -- plugins: MCP servers (channels and tools) -------------------------------------------

    def plugins(self) -> list[JSON]:
        """Every configured MCP server (from a plugin or written in channelServers), with its
        plugin, whether it is allowed, its tools policy and its state (the running app's live
        one: running, restarting and why, refused by the allowlist)."""
        return server_rows(self._settings, self._live_servers())

    def _live_servers(self) -> dict[str, JSON] | None:
        """The channels' live status by server (the engine's); None with the app closed."""
        return None

    def add_plugin(self, path: str, *, allow: bool = False) -> JSON:
        """Add the servers of the Claude Code plugin at `path` (a folder with .mcp.json or
        .claude-plugin/plugin.json, or a .mcp.json file), stored as written with
        ${CLAUDE_PLUGIN_ROOT} set to the folder; `allow` also puts them in
        allowedChannelPlugins. InputError (key "path") says what is wrong; nothing changes."""
        if not isinstance(path, str) or not path.strip():
            raise InputError("give the path of a plugin folder or of a .mcp.json file",
                             key="path")
        plugin = read_plugin(Path(path.strip()))
        if type(allow) is not bool:
            raise InputError(f"allow must be true or false, not {allow!r}", key="allow")
        changes = add_changes(self._settings, plugin, data_root=self.home.root / "plugins",
                              allow=allow)
        self.update_settings(changes)
        self.services.daily_log.append("plugins", f"added plugin {plugin.name} from "
                                       f"{plugin.root}: {', '.join(plugin.servers)}"
                                       + (" (allowed)" if allow else ""))
        return {"plugin": plugin.name, "root": str(plugin.root), "servers": list(plugin.servers),
                "allowed": allow, "channelsEnabled": self._settings.channels_enabled}

    def remove_plugin(self, name: str) -> JSON:
        """Remove plugin `name` (all its servers) or the one server `name`; NotFoundError
        when neither is configured. A running server stops."""
        changes, gone = remove_changes(self._settings, str(name))
        self.update_settings(changes)
        self.services.daily_log.append("plugins", f"removed {name}: {', '.join(gone)}")
        return {"removed": gone}

    def allow_server(self, name: str, allowed: bool = True) -> JSON:
        """Let server `name` (or every server of plugin `name`) start, or stop letting it."""
        if type(allowed) is not bool:
            raise InputError(f"allowed must be true or false, not {allowed!r}", key="allowed")
        self.update_settings(allow_changes(self._settings, str(name), allowed))
        return {"name": name, "allowed": allowed,
                "channelsEnabled": self._settings.channels_enabled}

    # -- actions of the running app only -----------------------------------------------------

    def wake(self) -> None:
        raise _needs_app("waking the assistant")

    def pause(self) -> None:
        raise _needs_app("pausing")

    def resume(self) -> None:
        raise _needs_app("resuming")

    def request_stop(self) -> None:
        raise NotRunningError("the app is not running")

    def is_paused(self) -> bool:
        return False

    def start_dream(self, *, force: bool = False, allow_large_delete: bool = False) -> JSON:
        raise _needs_app("dreaming (it uses the model)")

    def decide_approval(self, approval_id: str, allow: bool, *, by: str) -> JSON:
        raise NotRunningError("nothing is waiting for approval: the app is not running (a "
                              "restart denies what was waiting)")

    def panel_link(self) -> str:
        raise _needs_app("the panel")

    def show(self) -> None:
        raise _needs_app("showing the app")
