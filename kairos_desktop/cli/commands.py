"""The commands on a home: each written once against a Connection (application.py), running
app or not, and each only formats what the Connection returns.

An error of the application API is printed by main() as `kairos: <message>`: bad input (a
setting, a cron expression, a field) exits 2, anything else 1. A command catches an error only to
say more than its message (`; nothing was stored`) or to give it another status.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..errors import (
    ApiKeyError,
    ConflictError,
    InputError,
    InvalidCronError,
    NotFoundError,
    TaskLimitError,
)
from ..home import Home
from .connection import connect, on_connection

if TYPE_CHECKING:
    from ..application import Connection


def _fail(message: str, status: int) -> int:
    print(f"kairos: {message}", file=sys.stderr)
    return status


def _day(args: argparse.Namespace) -> date | None:
    """--date as a day; InputError naming the flag when it is not one."""
    if not args.date:
        return None
    try:
        return date.fromisoformat(args.date)
    except ValueError:
        raise InputError(f"--date must look like 2026-11-22, not {args.date!r}",
                         key="date") from None


def _print_json(data: Any) -> int:
    print(json.dumps(data, indent=2))
    return 0


# -- talking to it ---------------------------------------------------------------------------

def cmd_send(home: Home, args: argparse.Namespace) -> int:
    text = " ".join(args.text).strip()
    if not text:
        return _fail("nothing to send", 2)
    with connect(home) as conn:
        conn.send(text)
        running = conn.running
    print("sent to the running assistant" if running else
          "kairos is not running: the message is queued and will be delivered at the next start")
    return 0


@on_connection
def cmd_status(conn: Connection, args: argparse.Namespace) -> int:
    data = conn.status()
    if args.json:
        return _print_json(data)
    if not data.get("running"):
        print(f"not running (home {data['home']}); start it with `kairos run`")
    else:
        until = data.get("sleepingUntil")
        state = data["state"] + (f" until {until}" if until else "")
        print(f"{data.get('assistantName', 'kairos')} is running: {state}\n"
              f"session: {data.get('sessionId')}\nmodel: {data.get('model')}")
        if data.get("detail"):
            print(f"detail: {data['detail']}")
        held = data.get("notificationsHeld")
        if isinstance(held, dict) and held.get("count"):
            print(f"notifications: {held['count']} held until {str(held['until'])[11:16]} "
                  f"({held['reason']}), then shown as one")
        tray = data.get("tray")
        if isinstance(tray, dict) and tray.get("backend") == "none":
            print(f"tray: none ({tray.get('hostDetail')}); the panel window is shown instead")
        if data.get("approvalsPending"):
            print(f"waiting for your approval: {data['approvalsPending']} command(s) "
                  "(`kairos approvals`)")
    if "queued" in data:
        print(f"queued: {data['queued']}")
    if data.get("held"):
        print(f"held: {data['held']} (the model API refused them: `kairos queue`)")
    usage = data.get("usageToday")
    if usage:
        print(f"today: {usage['calls']} model calls, {usage['input']:,} input / "
              f"{usage['cacheRead']:,} cache read / {usage['cacheWrite']:,} cache write / "
              f"{usage['output']:,} output tokens, about ${usage['costUsd']:.2f}")
    budget = data.get("budget")
    if isinstance(budget, dict):
        print(f"budget: {_budget_words(budget)}")
    for problem in data.get("settingsProblems") or []:
        print(f"settings: {problem}")
    return 0


@on_connection
def cmd_messages(conn: Connection, args: argparse.Namespace) -> int:
    items = every_message(conn) if args.all else conn.messages(args.limit)
    if args.json:
        return _print_json(items)
    if not items:
        print("no messages yet")
    for item in items:
        print(f"{item['createdAt']} [{item['status']}] {item['text']}")
    return 0


def every_message(conn: Connection) -> list[Any]:
    """Every message ever sent, oldest first, read a page at a time."""
    items: list[Any] = []
    after: str | None = None
    while True:
        page = conn.message_history(after, 1000)
        items += page["messages"]
        after = page["next"]
        if after is None:
            return items


@on_connection
def cmd_queue(conn: Connection, args: argparse.Namespace) -> int:
    queued, held = conn.queued(), conn.held()
    if args.json:
        return _print_json({"queued": queued, "held": held})
    if not queued:
        print("nothing is queued")
    for item in queued:
        print(f"{item['id']}  {item['kind']:<12} {item['createdAt'] or '-':<25} "
              f"{item['preview'][:60]}")
    if held:
        print(f"\nheld (the model API refused them; `kairos queue retry ID` or "
              f"`kairos queue drop ID`): {len(held)}")
    for item in held:
        file = f"\n    its text: {item['file']}" if item.get("file") else ""
        print(f"{item['id']}  {item['kind']:<12} held {item['heldAt']}  "
              f"{item['preview'][:60]}\n    why: {item['reason']}{file}")
    return 0


@on_connection
def cmd_queue_retry(conn: Connection, args: argparse.Namespace) -> int:
    try:
        item = conn.retry_held(args.id)
    except NotFoundError as exc:  # the id typed is wrong: bad input
        return _fail(str(exc), 2)
    where = "the running assistant takes it now" if conn.running else \
        "kairos is not running: it goes at the next start"
    print(f"{item['id']} is back in the queue; {where}")
    return 0


@on_connection
def cmd_queue_drop(conn: Connection, args: argparse.Namespace) -> int:
    try:
        item = conn.drop_held(args.id)
    except NotFoundError as exc:
        return _fail(str(exc), 2)
    print(f"{item['id']} dropped ({item['kind']}: {item['preview'][:60]})")
    return 0


@on_connection
def cmd_inbox(conn: Connection, args: argparse.Namespace) -> int:
    items = conn.inbox()
    if args.json:
        return _print_json(items)
    if not items:
        print("the inbox is empty")
    for item in items:
        mark = " " if item.get("read") else "*"
        print(f"{mark} {item['deliveredAt']}  {item['title']}  {item['path']} "
              f"({item['size']:,} bytes)")
    return 0


@on_connection
def cmd_subscriptions(conn: Connection, args: argparse.Namespace) -> int:
    subs = conn.subscriptions()
    if args.json:
        return _print_json(subs)
    if not subs:
        print("no pull-request subscriptions")
    for sub in subs:
        state = sub.get("state") or "not polled yet"
        error = f"  ({sub['lastError']})" if sub.get("lastError") else ""
        print(f"{sub['repo']}#{sub['number']}  {state}  {sub.get('url') or ''}{error}")
    return 0


# -- the daily log ---------------------------------------------------------------------------

def cmd_logs(home: Home, args: argparse.Namespace) -> int:
    day = _day(args)  # before taking the home: a typo needs no lock
    with connect(home) as conn:
        text = conn.log_text(day, raw=args.raw)
        if not text:
            return _fail(f"no log for {day or conn.log(None)['date']}", 1)
    print(text, end="")
    return 0


def cmd_logs_verify(home: Home, args: argparse.Namespace) -> int:
    day = _day(args)
    with connect(home) as conn:
        checks = conn.verify_logs(day)
    if not checks and day is None:
        print("no logs have been written in this home yet")
        return 0
    broken = [check for check in checks if not check["intact"]]
    for check in broken:  # a known break was recorded in the log when it was found
        print(f"{'KNOWN' if check.get('known') else 'BROKEN'} {check['text']}")
    if broken:
        return 1
    print(f"intact: {len(checks)} log(s), {sum(c['entries'] for c in checks):,} entries")
    return 0


# -- settings and the key --------------------------------------------------------------------

@on_connection
def cmd_settings_show(conn: Connection, args: argparse.Namespace) -> int:
    view = conn.settings_view()
    settings, problems = view["settings"], view["problems"]
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
    from ..settings import parse_cli_value

    value = parse_cli_value(args.value)
    with connect(home) as conn:
        conn.update_settings({args.key: value})  # SettingsError names the key: exit 2
    print(f"{args.key} = {json.dumps(value)}")
    return 0


def _where(source: str | None) -> str:
    return {"keyring": "OS keyring", "file": "home's secrets/ folder (mode 0600)",
            "env": "environment (ANTHROPIC_API_KEY)"}.get(source or "", str(source))


def cmd_key_set(home: Home, args: argparse.Namespace) -> int:
    # Read before taking the home: its lock is not held while someone types.
    key = getpass.getpass("Anthropic API key (input hidden): ") if sys.stdin.isatty() \
        else sys.stdin.readline()
    with connect(home) as conn:
        try:
            info = conn.set_api_key(key)
        except (ApiKeyError, InputError) as exc:
            return _fail(f"{exc}; nothing changed", 2)
        running = conn.running
    if running:  # the running app stores it and uses it at once
        print(f"key {info['hint']} stored in the {_where(info['source'])}; in use now")
    else:
        print(f"key stored in the {_where(info['source'])}; kairos uses it from its next start")
    return 0


@on_connection
def cmd_key_clear(conn: Connection, args: argparse.Namespace) -> int:
    before = conn.settings_view()["apiKey"]
    after = conn.clear_api_key()
    if not before.get("set"):
        print("no stored key")
    elif after.get("set"):  # ANTHROPIC_API_KEY is not ours to remove
        print(f"stored key removed; the key in the {_where(after.get('source'))} is still used")
    else:
        print("stored key removed")
    return 0


# -- scheduled tasks -------------------------------------------------------------------------

def _when(task: dict[str, Any]) -> str:
    """The slot, and how far the task's fixed jitter moves it."""
    slot, due = task.get("nextSlotAt"), task.get("nextDueAt")
    if not slot or not due:
        return str(due or slot)
    shift = (datetime.fromisoformat(due) - datetime.fromisoformat(slot)).total_seconds()
    if abs(shift) < 1:
        return slot
    return f"{slot} ({shift / 60:+.0f} min jitter)" if abs(shift) >= 60 else \
        f"{slot} ({shift:+.0f} s jitter)"


@on_connection
def cmd_tasks_list(conn: Connection, args: argparse.Namespace) -> int:
    tasks = conn.tasks()
    if args.json:
        return _print_json(tasks)
    if not tasks:
        print("no scheduled tasks")
    max_age = _recurring_max_age(conn)
    for task in tasks:
        kind = ("recurring" if task["recurring"] else "once") + \
            _ends(task, max_age) + ("" if task["durable"] else ", session") + \
            (", built-in" if task["builtin"] else "") + \
            (", skips missed runs" if task.get("catchUp") == "skip" else "")
        print(f"{task['id']:<18} {task['cron']:<16} next {_when(task)}  ({kind})  "
              f"{task['prompt'][:60]}")
        missed = task.get("lastMissed")
        if isinstance(missed, dict):
            print(f"{'':<18} {missed['text']} (noticed {missed['at']})")
    return 0


@on_connection
def cmd_tasks_add(conn: Connection, args: argparse.Namespace) -> int:
    try:
        task = conn.add_task(args.cron, args.prompt, recurring=args.recurring,
                             durable=not args.session, catch_up=args.catch_up)
    except (InvalidCronError, TaskLimitError, InputError) as exc:
        return _fail(f"{exc}; nothing was stored", 2)
    skips = "; a run missed while the computer sleeps is skipped" \
        if task.get("catchUp") == "skip" else ""
    if task.get("recurring"):
        how = f"every time: {task['description']}{_ends(task, _recurring_max_age(conn))}"
    else:  # the words name a schedule; a one-shot runs at its first match only
        how = f"once, at the next match of: {task['description']} (--recurring repeats it)"
    print(f"task {task['id']} ({how}) next fires {_when(task)}{skips}")
    return 0


def _recurring_max_age(conn: Connection) -> int | None:
    value = conn.settings_view()["settings"].get("recurringMaxAgeMs")
    return value if isinstance(value, int) else None


def _ends(task: dict[str, Any], max_age_ms: int | None) -> str:
    """", ends 2026-11-29" for a recurring task that expires (not permanent), else ""."""
    if not task.get("recurring") or task.get("permanent") or not max_age_ms:
        return ""
    try:
        created = datetime.fromisoformat(str(task.get("createdAt")))
    except ValueError:
        return ""
    end = created + timedelta(milliseconds=max_age_ms)
    return f", ends {end:%Y-%m-%d %H:%M} (recurringMaxAgeMs)"


@on_connection
def cmd_tasks_rm(conn: Connection, args: argparse.Namespace) -> int:
    try:
        conn.delete_task(args.id)
    except NotFoundError as exc:  # the id typed is wrong: bad input
        return _fail(str(exc), 2)
    print(f"task {args.id} deleted")
    return 0


# -- memory ----------------------------------------------------------------------------------

@on_connection
def cmd_dream(conn: Connection, args: argparse.Namespace) -> int:
    result = conn.start_dream(force=args.force, allow_large_delete=args.allow_large_delete)
    if not result.get("started"):
        print(f"not started: {result.get('reason')}")
        return 1
    print(f"dream {result['reason']}; follow it with `kairos status --json` (dream)")
    return 0


@on_connection
def cmd_dream_undo(conn: Connection, args: argparse.Namespace) -> int:
    run_id = conn.undo_dream()  # nothing to undo: an error, exit 1
    print(f"memory restored to before dream {run_id}")
    return 0


@on_connection
def cmd_dream_log(conn: Connection, args: argparse.Namespace) -> int:
    runs = conn.dream()["runs"]
    if args.json:
        return _print_json(runs)
    if not runs:
        print("no dreams yet")
    for run in runs:
        files = ", ".join(run.get("filesTouched") or []) or "no files"
        print(f"{run['startedAt']}  {run['status']:<9} {run.get('turns', 0):>3} turns  {files}")
        if run.get("summary"):
            print(f"    {run['summary'][:200]}")
    return 0


# -- the running app only --------------------------------------------------------------------

@on_connection
def cmd_panel(conn: Connection, args: argparse.Namespace) -> int:
    # A single-use code, not the token: a browser's command line is visible to other users.
    url = conn.panel_link()
    if args.print:
        print(url)
        return 0
    import webbrowser

    if not webbrowser.open(url):
        return _fail(f"no browser could be started; open this address in one (it works once, "
                     f"for 2 minutes): {url}", 1)
    print("the panel is opening in your browser (nothing there? `kairos panel --print` gives "
          "its address)")
    return 0


@on_connection
def cmd_stop(conn: Connection, args: argparse.Namespace) -> int:
    if not conn.running:
        return _fail("kairos is not running for this home: nothing to stop", 1)
    conn.request_stop()
    print("asked the running app to stop; it finishes its turn and keeps what is queued")
    return 0


@on_connection
def cmd_approvals(conn: Connection, args: argparse.Namespace) -> int:
    pending = conn.approvals()
    if not pending:
        print("nothing is waiting for your approval" if conn.running else
              "nothing is waiting: the app is not running (a restart denies what was waiting)")
    for item in pending:
        print(f"{item['id']}  until {item['expiresAt'][11:19]}  in {item['cwd']}\n"
              f"    {item['command']}")
    return 0


@on_connection
def cmd_approvals_decide(conn: Connection, args: argparse.Namespace) -> int:
    try:
        result = conn.decide_approval(args.id, args.decision == "allow", by="cli")
    except (NotFoundError, ConflictError) as exc:  # no such request, or decided already
        return _fail(str(exc), 2)
    print(f"{result['id']}: {result['state']}")
    return 0


# -- the daily budget ------------------------------------------------------------------------

def _budget_words(budget: dict[str, Any]) -> str:
    spent = f"${budget['spentUsd']:,.2f} spent today"
    if budget.get("capUsd") is None:
        return f"{spent}; no daily budget (dailyBudgetUsd is null)"
    cap = f"${budget['capUsd']:,.2f}" + (" (raised for today)" if budget.get("raisedToday")
                                          else " (dailyBudgetUsd)")
    words = f"{spent} of {cap}"
    if budget.get("state") == "reached":
        words += ": reached, no model call until midnight (`kairos budget raise USD` goes on now)"
    return words


@on_connection
def cmd_budget(conn: Connection, args: argparse.Namespace) -> int:
    budget = conn.budget()
    if args.json:
        return _print_json(budget)
    print(_budget_words(budget))
    return 0


@on_connection
def cmd_budget_raise(conn: Connection, args: argparse.Namespace) -> int:
    try:
        cap = float(args.usd.removeprefix("$"))
    except ValueError:
        return _fail(f"USD must be an amount in US dollars like 2.50, not {args.usd!r}; "
                     "nothing was changed", 2)
    try:
        budget = conn.raise_budget(cap)
    except InputError as exc:
        return _fail(f"{exc}; nothing was changed", 2)
    print(f"today's budget is now ${budget['capUsd']:,.2f} (until midnight; dailyBudgetUsd "
          "is unchanged)" + ("; the assistant goes on" if conn.running else ""))
    return 0
