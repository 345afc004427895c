"""The `kairos` command: a thin layer over the library.

With an instance running, commands talk to it over the control API; with none running, they work
on the home's files directly, under the home's lock. Exit status: 0 done, 1 could not (e.g. already
running, not running), 2 bad input (the message names what was wrong).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import getpass
import json
import logging
import signal
import sys
from collections.abc import Iterator
from datetime import date
from typing import Any

from .control.client import ControlClient
from .errors import (
    ApiKeyError,
    ControlAPIError,
    HomeLockedError,
    KairosError,
    NotRunningError,
    SettingsError,
)
from .home import Home


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):  # bare `kairos`: run the app
        args.handler = cmd_run
        args.headless, args.resume, args.session_id = False, False, None
        args.exit_after, args.verbose = None, False
    logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    home = Home(args.home)
    try:
        return int(args.handler(home, args) or 0)
    except SettingsError as exc:
        print(f"kairos: {exc}", file=sys.stderr)
        return 2
    except HomeLockedError:
        print(f"kairos: another kairos process is using {home.root}; try again", file=sys.stderr)
        return 1
    except KairosError as exc:
        print(f"kairos: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kairos", description=(
        "An always-on personal AI assistant. Without a command, runs the app."))
    parser.add_argument("--home", help="the app's home folder (default: $KAIROS_HOME or the "
                        "platform's user data folder)")
    sub = parser.add_subparsers(dest="command")

    run = sub.add_parser("run", help="run the assistant")
    run.add_argument("--headless", action="store_true", help="no tray, no windows")
    group = run.add_mutually_exclusive_group()
    group.add_argument("--continue", dest="resume", action="store_true",
                       help="resume the latest session")
    group.add_argument("--session-id", help="resume (or start) the session with this id")
    run.add_argument("--exit-after", type=float, metavar="SECONDS",
                     help="stop cleanly after this many seconds")
    run.add_argument("-v", "--verbose", action="store_true")
    run.set_defaults(handler=cmd_run)

    send = sub.add_parser("send", help="send the assistant a message")
    send.add_argument("text", nargs="+")
    send.set_defaults(handler=cmd_send)

    status = sub.add_parser("status", help="is it running, and what is it doing")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=cmd_status)

    logs = sub.add_parser("logs", help="print a daily log, or verify the logs")
    logs.add_argument("--date", help="YYYY-MM-DD (default: today)")
    logs.add_argument("--raw", action="store_true", help="keep the hash markers")
    logs.set_defaults(handler=cmd_logs)
    logs_sub = logs.add_subparsers(dest="logs_command")
    verify = logs_sub.add_parser("verify", help="check every daily log's hash chain")
    verify.add_argument("--date", help="only this day")
    verify.set_defaults(handler=cmd_logs_verify)

    dream = sub.add_parser("dream", help="consolidate memory now, undo it, or list runs")
    dream.add_argument("--force", action="store_true",
                       help="skip the time and session gates (not the lock)")
    dream.add_argument("--allow-large-delete", action="store_true",
                       help="let this run shrink memory past dreamMaxDeleteShare")
    dream.set_defaults(handler=cmd_dream)
    dream_sub = dream.add_subparsers(dest="dream_command")
    dream_sub.add_parser("undo", help="restore memory to before the last dream").set_defaults(
        handler=cmd_dream_undo)
    dream_log = dream_sub.add_parser("log", help="past runs and the files they touched")
    dream_log.add_argument("--json", action="store_true")
    dream_log.set_defaults(handler=cmd_dream_log)

    inbox = sub.add_parser("inbox", help="files the assistant delivered")
    inbox.add_argument("--json", action="store_true")
    inbox.set_defaults(handler=cmd_inbox)

    messages = sub.add_parser("messages", help="messages the assistant sent")
    messages.add_argument("--json", action="store_true")
    messages.add_argument("--limit", type=int, default=20)
    messages.set_defaults(handler=cmd_messages)

    settings = sub.add_parser("settings", help="show or change settings")
    settings_sub = settings.add_subparsers(dest="settings_command", required=True)
    show = settings_sub.add_parser("show")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=cmd_settings_show)
    set_ = settings_sub.add_parser("set", help="VALUE is read as JSON when it parses, else text")
    set_.add_argument("key")
    set_.add_argument("value")
    set_.set_defaults(handler=cmd_settings_set)

    tasks = sub.add_parser("tasks", help="scheduled tasks")
    tasks_sub = tasks.add_subparsers(dest="tasks_command", required=True)
    tasks_list = tasks_sub.add_parser("list")
    tasks_list.add_argument("--json", action="store_true")
    tasks_list.set_defaults(handler=cmd_tasks_list)
    tasks_add = tasks_sub.add_parser("add", help="durable unless --session")
    tasks_add.add_argument("--cron", required=True, metavar="EXPR",
                           help="5 fields, local time: minute hour day-of-month month weekday")
    tasks_add.add_argument("--prompt", required=True, metavar="TEXT")
    tasks_add.add_argument("--recurring", action="store_true",
                           help="fire on every match (default: once)")
    tasks_add.add_argument("--session", action="store_true",
                           help="only until the running app stops")
    tasks_add.set_defaults(handler=cmd_tasks_add)
    tasks_rm = tasks_sub.add_parser("rm")
    tasks_rm.add_argument("id")
    tasks_rm.set_defaults(handler=cmd_tasks_rm)

    subscriptions = sub.add_parser("subscriptions", help="pull requests the assistant follows")
    subscriptions.add_argument("--json", action="store_true")
    subscriptions.set_defaults(handler=cmd_subscriptions)

    autostart = sub.add_parser("autostart", help="start the app when you log in")
    autostart.add_argument("action", choices=["on", "off", "status"])
    autostart.set_defaults(handler=cmd_autostart)

    doctor = sub.add_parser("doctor", help="what this machine offers the app")
    doctor.add_argument("--json", action="store_true")
    doctor.set_defaults(handler=cmd_doctor)

    key = sub.add_parser("key", help="the Anthropic API key")
    key_sub = key.add_subparsers(dest="key_command", required=True)
    key_set = key_sub.add_parser("set", help="store a key in the home (read from stdin or asked)")
    key_set.set_defaults(handler=cmd_key_set)
    key_clear = key_sub.add_parser("clear", help="remove the stored key")
    key_clear.set_defaults(handler=cmd_key_clear)

    panel = sub.add_parser("panel", help="open the panel of the running app in a browser")
    panel.add_argument("--print", action="store_true",
                       help="only print its address (a link that works once, for 2 minutes)")
    panel.set_defaults(handler=cmd_panel)

    approvals = sub.add_parser("approvals", help="commands waiting for your Allow or Deny")
    approvals_sub = approvals.add_subparsers(dest="approvals_command")
    approvals.set_defaults(handler=cmd_approvals)
    for verb in ("allow", "deny"):
        decide = approvals_sub.add_parser(verb, help=f"{verb} a waiting command")
        decide.add_argument("id")
        decide.set_defaults(handler=cmd_approvals_decide, decision=verb)
    return parser


def _client(home: Home) -> ControlClient | None:
    try:
        return ControlClient.for_home(home)
    except NotRunningError:
        return None


# -- run -------------------------------------------------------------------------------------

def cmd_run(home: Home, args: argparse.Namespace) -> int:
    if not args.headless:
        reason = _desktop_unavailable()
        if reason is None:
            from .desktop.app import run_desktop

            return run_desktop(home, session_id=args.session_id, resume=args.resume,
                               exit_after=args.exit_after)
        print(f"kairos: {reason}; running headless (--headless silences this note)",
              file=sys.stderr)
    return asyncio.run(_run_headless(home, args))


def _desktop_unavailable() -> str | None:
    """Why the tray app cannot start here, or None if it can."""
    import importlib.util
    import os

    missing = [m for m in ("pystray", "desktop_notifier", "PIL")
               if importlib.util.find_spec(m) is None]
    if missing:
        return (f"the tray app needs {', '.join(missing)} (pip install "
                "'kairos-desktop[desktop]')")
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY") \
            and not os.environ.get("WAYLAND_DISPLAY"):
        return "there is no graphical display (DISPLAY and WAYLAND_DISPLAY are unset)"
    return None


async def _run_headless(home: Home, args: argparse.Namespace) -> int:
    from .delivery.notifier import ConsoleNotifier
    from .runtime import Engine

    engine = Engine(home, notifier=ConsoleNotifier(quiet_kinds=("message", "file")))
    try:
        await engine.start(session_id=args.session_id, resume=args.resume)
    except HomeLockedError:
        info = home.read_control() or {}
        print(f"kairos: already running for {home.root} (pid {info.get('pid', '?')}, control "
              f"API port {info.get('port', '?')}). Talk to it with `kairos send`, or stop it "
              "first.", file=sys.stderr)
        return 1
    # Everything imported so far lives as long as the process: move it out of the collector's
    # reach so a full collection (~140 ms with the SDK loaded) never lands on a wake-up.
    gc.collect()
    gc.freeze()
    name = engine.settings.assistant_name
    for problem in engine.settings_problems:
        print(f"kairos: settings: {problem}", file=sys.stderr)
    told_no_key = False

    def on_event(event: Any) -> None:
        nonlocal told_no_key
        _print_event(name, event)
        # Known once the keyring answered (it is asked after start-up): say it once.
        if event.kind == "state" and event.data.get("state") == "no_api_key" \
                and not told_no_key:
            told_no_key = True
            print(f"kairos: {event.data.get('detail')}", file=sys.stderr, flush=True)

    engine.bus.subscribe(on_event)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows: Ctrl+C raises
            loop.add_signal_handler(sig, engine.stop_requested.set)
    print(f"{name} is running (session {engine.status.session_id}, home {home.root}). "
          "Ctrl+C stops it.", flush=True)
    await engine.run_until_stopped(args.exit_after)
    print(f"{name} stopped.", flush=True)
    return 0


def _print_event(name: str, event: Any) -> None:
    if event.kind == "message":
        tag = {"proactive": f"{name} (proactive)", "system": f"{name} (app)"}.get(
            event.data.get("status"), name)
        print(f"[{tag}] {event.data['text']}", flush=True)
    elif event.kind == "file":
        print(f"[{name}: file] {event.data['title']} -> {event.data['path']}", flush=True)


# -- commands that work with or without a running instance -----------------------------------

def cmd_send(home: Home, args: argparse.Namespace) -> int:
    text = " ".join(args.text).strip()
    if not text:
        print("kairos: nothing to send", file=sys.stderr)
        return 2
    client = _client(home)
    if client is not None:
        client.send(text)
        print("sent to the running assistant")
        return 0
    from .queue import InboundItem, InboundQueue
    from .store import Store

    home.ensure()
    with home.locked():
        store = Store(home.store_file, owner=True)
        from .clock import SystemClock

        InboundQueue(store).put(InboundItem(
            kind="user", text=text, created_at=SystemClock().now().isoformat(timespec="seconds")))
        store.close()
    print("kairos is not running: the message is queued and will be delivered at the next start")
    return 0


def cmd_status(home: Home, args: argparse.Namespace) -> int:
    client = _client(home)
    if client is not None:
        data = client.status()
    else:
        from .settings import load_settings

        loaded = load_settings(home.settings_file)
        data = {"running": False, "state": "stopped", "home": str(home.root),
                "model": loaded.settings.model, "settingsProblems": loaded.problems}
        if home.store_file.exists():
            from .clock import SystemClock
            from .store import Store
            from .usage import UsageLedger

            store = Store(home.store_file)
            data["queued"] = len(store.all("inbound"))
            data["usageToday"] = UsageLedger(store, SystemClock()).day()
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    if not data.get("running"):
        print(f"not running (home {data['home']}); start it with `kairos run`")
    else:
        until = data.get("sleepingUntil")
        state = data["state"] + (f" until {until}" if until else "")
        print(f"{data.get('assistantName', 'kairos')} is running: {state}\n"
              f"session: {data.get('sessionId')}\nmodel: {data.get('model')}")
        if data.get("detail"):
            print(f"detail: {data['detail']}")
        if data.get("approvalsPending"):
            print(f"waiting for your approval: {data['approvalsPending']} command(s) "
                  "(`kairos approvals`)")
    if "queued" in data:
        print(f"queued: {data['queued']}")
    usage = data.get("usageToday")
    if usage:
        print(f"today: {usage['calls']} model calls, {usage['input']:,} input / "
              f"{usage['cacheRead']:,} cache read / {usage['cacheWrite']:,} cache write / "
              f"{usage['output']:,} output tokens, about ${usage['costUsd']:.2f}")
    for problem in data.get("settingsProblems") or []:
        print(f"settings: {problem}")
    return 0


def cmd_logs(home: Home, args: argparse.Namespace) -> int:
    from .clock import SystemClock

    try:
        day = date.fromisoformat(args.date) if args.date else SystemClock().now().date()
    except ValueError:
        print(f"kairos: --date must look like 2026-11-22, not {args.date!r}", file=sys.stderr)
        return 2
    from .journal import MARKER, DailyLog

    text = DailyLog(home.logs_dir, SystemClock()).read(day)
    if not text:
        print(f"no log for {day.isoformat()}", file=sys.stderr)
        return 1
    if not args.raw:
        text = "\n".join(MARKER.sub("", line) for line in text.split("\n"))
    print(text, end="")
    return 0


def cmd_logs_verify(home: Home, args: argparse.Namespace) -> int:
    from .clock import SystemClock
    from .journal import DailyLog

    if not (home.secrets_dir / "log-key").exists():
        print("no logs have been written in this home yet")
        return 0
    log = DailyLog(home.logs_dir, SystemClock(), key=home.log_key())
    if args.date:
        try:
            paths = [log.path_for(date.fromisoformat(args.date))]
        except ValueError:
            print(f"kairos: --date must look like 2026-11-22, not {args.date!r}", file=sys.stderr)
            return 2
        checks = [log.verify(p) for p in paths if p.exists()]
    else:
        checks = log.verify_all()
    broken = [c for c in checks if not c.intact]
    for check in broken:
        print(f"BROKEN {check}")
    if broken:
        return 1
    print(f"intact: {len(checks)} log(s), {sum(c.entries for c in checks):,} entries")
    return 0


def cmd_dream(home: Home, args: argparse.Namespace) -> int:
    client = _client(home)
    if client is None:
        print("kairos: dreaming needs the running app (it uses the model); start it with "
              "`kairos run`", file=sys.stderr)
        return 1
    result = client.start_dream(force=args.force, allow_large_delete=args.allow_large_delete)
    if not result.get("started"):
        print(f"not started: {result.get('reason')}")
        return 1
    print(f"dream {result['reason']}; follow it with `kairos status --json` (dream)")
    return 0


def cmd_dream_undo(home: Home, args: argparse.Namespace) -> int:
    client = _client(home)
    if client is not None:
        try:
            run_id = client.undo_dream()["undone"]
        except ControlAPIError as exc:
            print(f"kairos: {exc}", file=sys.stderr)
            return 1
    else:
        with _offline_dream(home) as snapshots:
            run_id = snapshots.undo()
    print(f"memory restored to before dream {run_id}")
    return 0


def cmd_dream_log(home: Home, args: argparse.Namespace) -> int:
    client = _client(home)
    runs = client.dream()["runs"] if client is not None else _store_table(home, "dreams")
    if args.json:
        print(json.dumps(runs, indent=2))
        return 0
    if not runs:
        print("no dreams yet")
    for run in runs:
        files = ", ".join(run.get("filesTouched") or []) or "no files"
        print(f"{run['startedAt']}  {run['status']:<9} {run.get('turns', 0):>3} turns  {files}")
        if run.get("summary"):
            print(f"    {run['summary'][:200]}")
    return 0


@contextlib.contextmanager
def _offline_dream(home: Home) -> Iterator[Any]:
    """The dream snapshots, on the files directly, under the home's lock."""
    from .clock import SystemClock
    from .journal import DailyLog
    from .memory.dream_snapshots import DreamSnapshots
    from .memory.files import MemoryFiles
    from .store import Store

    home.ensure()
    with home.locked():
        store = Store(home.store_file, owner=True)
        log = DailyLog(home.logs_dir, SystemClock(), key=home.log_key())
        yield DreamSnapshots(MemoryFiles(home.memory_dir), store, log)


def _store_table(home: Home, table: str) -> list[dict[str, Any]]:
    if not home.store_file.exists():
        return []
    from .store import Store

    return [{k: v for k, v in d.items() if k != "_id"} for d in Store(home.store_file).all(table)]


def cmd_inbox(home: Home, args: argparse.Namespace) -> int:
    client = _client(home)
    items = client.inbox() if client else list(reversed(_store_table(home, "inbox")))
    if args.json:
        print(json.dumps(items, indent=2))
        return 0
    if not items:
        print("the inbox is empty")
    for item in items:
        mark = " " if item.get("read") else "*"
        print(f"{mark} {item['deliveredAt']}  {item['title']}  {item['path']} "
              f"({item['size']:,} bytes)")
    return 0


def cmd_messages(home: Home, args: argparse.Namespace) -> int:
    client = _client(home)
    items = client.messages(args.limit) if client else _store_table(home, "messages")[-args.limit:]
    if args.json:
        print(json.dumps(items, indent=2))
        return 0
    if not items:
        print("no messages yet")
    for item in items:
        print(f"{item['createdAt']} [{item['status']}] {item['text']}")
    return 0


def cmd_settings_show(home: Home, args: argparse.Namespace) -> int:
    client = _client(home)
    if client is not None:
        data = client.settings()
        settings, problems = data["settings"], data["problems"]
    else:
        from .settings import load_settings

        loaded = load_settings(home.settings_file)
        settings, problems = loaded.settings.to_json_dict(), loaded.problems
    if args.json:
        print(json.dumps(settings, indent=2))
    else:
        width = max(len(k) for k in settings)
        for key, value in settings.items():
            print(f"{key:<{width}}  {json.dumps(value)}")
    for problem in problems:
        print(f"kairos: settings: {problem}", file=sys.stderr)
    return 0


def cmd_settings_set(home: Home, args: argparse.Namespace) -> int:
    from .settings import parse_cli_value, update_settings_file

    value = parse_cli_value(args.value)
    client = _client(home)
    if client is not None:
        try:
            client.update_settings({args.key: value})
        except ControlAPIError as exc:
            payload = getattr(exc, "payload", {})
            raise SettingsError(str(exc), key=payload.get("key")) from None
    else:
        home.ensure()
        with home.locked():
            update_settings_file(home.settings_file, {args.key: value})
    print(f"{args.key} = {json.dumps(value)}")
    return 0


@contextlib.contextmanager
def _offline_scheduler(home: Home) -> Iterator[Any]:
    """A scheduler on the home's store, for when no instance is running (under the lock)."""
    from .clock import SystemClock, local_zone
    from .scheduler.runtime import Scheduler
    from .settings import load_settings
    from .store import Store

    settings = load_settings(home.settings_file).settings
    clock = SystemClock(local_zone(settings.time_zone))
    home.ensure()
    with home.locked():
        store = Store(home.store_file, owner=True)
        scheduler = Scheduler(store=store, clock=clock, settings=lambda: settings,
                              zone=clock.now().tzinfo)  # type: ignore[arg-type]
        scheduler.load(seed_builtins=False)
        yield scheduler


def cmd_tasks_list(home: Home, args: argparse.Namespace) -> int:
    client = _client(home)
    if client is not None:
        tasks = client.tasks()
    else:
        with _offline_scheduler(home) as scheduler:
            tasks = [t.public() for t in scheduler.tasks()]
    if args.json:
        print(json.dumps(tasks, indent=2))
        return 0
    if not tasks:
        print("no scheduled tasks")
    for task in tasks:
        kind = ("recurring" if task["recurring"] else "once") + \
            ("" if task["durable"] else ", session") + (", built-in" if task["builtin"] else "")
        print(f"{task['id']:<18} {task['cron']:<16} next {_when(task)}  ({kind})  "
              f"{task['prompt'][:60]}")
    return 0


def cmd_tasks_add(home: Home, args: argparse.Namespace) -> int:
    from .errors import InvalidCronError, TaskLimitError

    client = _client(home)
    try:
        if client is not None:
            task = client.add_task(args.cron, args.prompt, recurring=args.recurring,
                                   durable=not args.session)
        elif args.session:
            print("kairos: --session tasks live only in a running app, and none is running; "
                  "drop --session for a durable task", file=sys.stderr)
            return 2
        else:
            with _offline_scheduler(home) as scheduler:
                task = scheduler.create(args.cron, args.prompt, recurring=args.recurring,
                                        durable=True).public()
    except (InvalidCronError, TaskLimitError, ControlAPIError) as exc:
        print(f"kairos: {exc}; nothing was stored", file=sys.stderr)
        return 2
    from .scheduler.describe import describe_cron

    print(f"task {task['id']} ({describe_cron(task['cron'])}) next fires {_when(task)}")
    return 0


def cmd_panel(home: Home, args: argparse.Namespace) -> int:
    client = _client(home)
    if client is None:
        print("kairos: the app is not running; start it with `kairos run`", file=sys.stderr)
        return 1
    # A single-use code, not the token: a browser's command line is visible to other users.
    url = f"{client.url}/?code={client.request('POST', '/api/panel/code')['code']}"
    if args.print:
        print(url)
        return 0
    import webbrowser

    if not webbrowser.open(url):
        print(f"no browser could be started; open this address: {url}")
    return 0


def cmd_approvals(home: Home, args: argparse.Namespace) -> int:
    client = _client(home)
    if client is None:
        print("nothing is waiting: the app is not running (a restart denies what was waiting)")
        return 0
    pending = client.request("GET", "/api/approvals")
    if not pending:
        print("nothing is waiting for your approval")
    for item in pending:
        print(f"{item['id']}  until {item['expiresAt'][11:19]}  in {item['cwd']}\n"
              f"    {item['command']}")
    return 0


def cmd_approvals_decide(home: Home, args: argparse.Namespace) -> int:
    client = _client(home)
    if client is None:
        print("kairos: the app is not running", file=sys.stderr)
        return 1
    try:
        result = client.request("POST", f"/api/approvals/{args.id}",
                                {"decision": args.decision, "by": "cli"})
    except ControlAPIError as exc:
        print(f"kairos: {exc}", file=sys.stderr)
        return 2
    print(f"{result['id']}: {result['state']}")
    return 0


def _when(task: dict[str, Any]) -> str:
    """The slot, and how far the task's fixed jitter moves it."""
    from datetime import datetime

    slot, due = task.get("nextSlotAt"), task.get("nextDueAt")
    if not slot or not due:
        return str(due or slot)
    shift = (datetime.fromisoformat(due) - datetime.fromisoformat(slot)).total_seconds()
    if abs(shift) < 1:
        return slot
    return f"{slot} ({shift / 60:+.0f} min jitter)" if abs(shift) >= 60 else \
        f"{slot} ({shift:+.0f} s jitter)"


def cmd_tasks_rm(home: Home, args: argparse.Namespace) -> int:
    from .errors import InvalidCronError

    client = _client(home)
    try:
        if client is not None:
            client.delete_task(args.id)
        else:
            with _offline_scheduler(home) as scheduler:
                scheduler.delete(args.id)
    except (InvalidCronError, ControlAPIError) as exc:
        print(f"kairos: {exc}", file=sys.stderr)
        return 2
    print(f"task {args.id} deleted")
    return 0


def cmd_subscriptions(home: Home, args: argparse.Namespace) -> int:
    client = _client(home)
    subs = client.subscriptions() if client else _store_table(home, "subscriptions")
    if args.json:
        print(json.dumps(subs, indent=2))
        return 0
    if not subs:
        print("no pull-request subscriptions")
    for sub_ in subs:
        state = sub_.get("state") or "not polled yet"
        error = f"  ({sub_['lastError']})" if sub_.get("lastError") else ""
        print(f"{sub_['repo']}#{sub_['number']}  {state}  {sub_.get('url') or ''}{error}")
    return 0


def cmd_autostart(home: Home, args: argparse.Namespace) -> int:
    import os

    from . import autostart

    env_home = os.environ.get("KAIROS_HOME") or (str(home.root) if args.home else None)
    if args.action == "on":
        path = autostart.enable(env_home=env_home)
        print(f"kairos will start when you log in ({path})")
    elif args.action == "off":
        removed = autostart.disable(env_home=env_home)
        print("start at login is off" + ("" if removed else " (it was not on)"))
    else:
        state = autostart.status(env_home=env_home)
        if state.foreign:
            print(f"{state.path} exists but was not written by kairos; left alone")
        elif not state.enabled:
            print("start at login is off")
        else:
            print(f"start at login is on ({state.path})"
                  + ("" if state.matches else "; it starts an older command: run "
                     "`kairos autostart on` to update it"))
    return 0


def cmd_doctor(home: Home, args: argparse.Namespace) -> int:
    from .doctor import diagnose

    report = diagnose(home)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for section, value in report.items():
        if isinstance(value, dict):
            print(f"{section}:")
            for key, item in value.items():
                print(f"  {key}: {item}")
        else:
            print(f"{section}: {value}")
    return 0


def cmd_key_set(home: Home, args: argparse.Namespace) -> int:
    if sys.stdin.isatty():
        key = getpass.getpass("Anthropic API key (input hidden): ")
    else:
        key = sys.stdin.readline()
    try:
        client = ControlClient.for_home(home)
    except NotRunningError:
        client = None
    if client is not None:  # the running app stores it and uses it at once
        try:
            info = client.request("PUT", "/api/key", {"key": key})["apiKey"]
        except ControlAPIError as exc:
            print(f"kairos: {exc}; nothing changed", file=sys.stderr)
            return 2
        print(f"key {info['hint']} stored in the {_where(info['source'])}; in use now")
        return 0
    home.ensure()
    try:
        source = home.api_keys().save(key)
    except ApiKeyError as exc:
        print(f"kairos: {exc}; nothing changed", file=sys.stderr)
        return 2
    print(f"key stored in the {_where(source)}; kairos uses it from its next start")
    return 0


def _where(source: str) -> str:
    return {"keyring": "OS keyring", "file": "home's secrets/ folder (mode 0600)",
            "env": "environment (ANTHROPIC_API_KEY)"}.get(source, source)


def cmd_key_clear(home: Home, args: argparse.Namespace) -> int:
    try:
        client = ControlClient.for_home(home)
    except NotRunningError:
        client = None
    if client is not None:
        client.request("DELETE", "/api/key")
        print("stored key removed")
        return 0
    print("stored key removed" if home.api_keys().clear() else "no stored key")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
