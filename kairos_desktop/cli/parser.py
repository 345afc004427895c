"""The `kairos` command line: every command, flag and help text."""

from __future__ import annotations

import argparse

from . import commands as c
from . import plugins
from .run import cmd_autostart, cmd_doctor, cmd_install_desktop, cmd_run


def build_parser() -> argparse.ArgumentParser:
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
    run.add_argument("-v", "--verbose", action="store_true",
                     help="log what the app does (INFO) to the terminal, not only warnings")
    run.set_defaults(handler=cmd_run)

    send = sub.add_parser("send", help="send the assistant a message")
    send.add_argument("text", nargs="+")
    send.set_defaults(handler=c.cmd_send)

    stop = sub.add_parser("stop", help="stop the running app cleanly (as Quit does)")
    stop.set_defaults(handler=c.cmd_stop)

    status = sub.add_parser("status", help="is it running, and what is it doing")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=c.cmd_status)

    logs = sub.add_parser("logs", help="print a daily log, or verify the logs")
    logs.add_argument("--date", help="YYYY-MM-DD (default: today)")
    logs.add_argument("--raw", action="store_true", help="keep the hash markers")
    logs.set_defaults(handler=c.cmd_logs)
    logs_sub = logs.add_subparsers(dest="logs_command")
    verify = logs_sub.add_parser("verify", help="check every daily log's hash chain")
    verify.add_argument("--date", help="only this day")
    verify.set_defaults(handler=c.cmd_logs_verify)

    dream = sub.add_parser("dream", help="consolidate memory now, undo it, or list runs")
    dream.add_argument("--force", action="store_true",
                       help="skip the time and session gates (not the lock)")
    dream.add_argument("--allow-large-delete", action="store_true",
                       help="let this run shrink memory past dreamMaxDeleteShare")
    dream.set_defaults(handler=c.cmd_dream)
    dream_sub = dream.add_subparsers(dest="dream_command")
    dream_sub.add_parser("undo", help="restore memory to before the last dream").set_defaults(
        handler=c.cmd_dream_undo)
    dream_log = dream_sub.add_parser("log", help="past runs and the files they touched")
    dream_log.add_argument("--json", action="store_true")
    dream_log.set_defaults(handler=c.cmd_dream_log)

    inbox = sub.add_parser("inbox", help="files the assistant delivered")
    inbox.add_argument("--json", action="store_true")
    inbox.set_defaults(handler=c.cmd_inbox)

    messages = sub.add_parser("messages", help="messages the assistant sent")
    messages.add_argument("--json", action="store_true")
    messages.add_argument("--limit", type=int, default=20)
    messages.add_argument("--all", action="store_true",
                          help="every message ever sent, oldest first (--limit is ignored)")
    messages.set_defaults(handler=c.cmd_messages)

    queue = sub.add_parser("queue", help="what waits for the assistant, and what the model API "
                           "refused (held: retry or drop it)")
    queue.add_argument("--json", action="store_true")
    queue.set_defaults(handler=c.cmd_queue)
    queue_sub = queue.add_subparsers(dest="queue_command")
    queue_retry = queue_sub.add_parser("retry", help="put a held item back into the queue")
    queue_retry.add_argument("id")
    queue_retry.set_defaults(handler=c.cmd_queue_retry)
    queue_drop = queue_sub.add_parser("drop", help="let a held item go for good")
    queue_drop.add_argument("id")
    queue_drop.set_defaults(handler=c.cmd_queue_drop)

    settings = sub.add_parser("settings", help="show or change settings")
    settings_sub = settings.add_subparsers(dest="settings_command", required=True)
    show = settings_sub.add_parser("show")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=c.cmd_settings_show)
    set_ = settings_sub.add_parser("set", help="VALUE is read as JSON when it parses, else text")
    set_.add_argument("key", metavar="KEY", help="a setting's name as in settings.json, like "
                      "assistantName or quietHours (`kairos settings show` lists them)")
    set_.add_argument("value", metavar="VALUE", help='the new value: JSON when it parses (60000, '
                      'true, ["~/notes"], {"start": "22:00", "end": "07:00"}, null), else text')
    set_.set_defaults(handler=c.cmd_settings_set)

    tasks = sub.add_parser("tasks", help="scheduled tasks")
    tasks_sub = tasks.add_subparsers(dest="tasks_command", required=True)
    tasks_list = tasks_sub.add_parser("list")
    tasks_list.add_argument("--json", action="store_true")
    tasks_list.set_defaults(handler=c.cmd_tasks_list)
    tasks_add = tasks_sub.add_parser("add", help="durable unless --session")
    tasks_add.add_argument("--cron", required=True, metavar="EXPR",
                           help="5 fields, local time: minute hour day-of-month month weekday")
    tasks_add.add_argument("--prompt", required=True, metavar="TEXT")
    tasks_add.add_argument("--recurring", action="store_true",
                           help="fire on every match (default: once)")
    tasks_add.add_argument("--session", action="store_true",
                           help="only until the running app stops")
    tasks_add.add_argument("--catch-up", default="once", metavar="once|skip", help=(
        "a run missed while the computer slept or the app was closed: run it once when back "
        "(once, the default) or let it pass and record it (skip)"))
    tasks_add.set_defaults(handler=c.cmd_tasks_add)
    tasks_rm = tasks_sub.add_parser("rm")
    tasks_rm.add_argument("id")
    tasks_rm.set_defaults(handler=c.cmd_tasks_rm)

    budget = sub.add_parser("budget", help="today's spend against the daily budget")
    budget.add_argument("--json", action="store_true")
    budget.set_defaults(handler=c.cmd_budget)
    budget_sub = budget.add_subparsers(dest="budget_command")
    budget_raise = budget_sub.add_parser("raise", help=(
        "raise today's budget until midnight (dailyBudgetUsd is unchanged)"))
    budget_raise.add_argument("usd", metavar="USD", help="today's new budget, like 2.50")
    budget_raise.set_defaults(handler=c.cmd_budget_raise)

    subscriptions = sub.add_parser("subscriptions", help="pull requests the assistant follows")
    subscriptions.add_argument("--json", action="store_true")
    subscriptions.set_defaults(handler=c.cmd_subscriptions)

    autostart = sub.add_parser("autostart", help="start the app when you log in")
    autostart.add_argument("action", choices=["on", "off", "status"])
    autostart.set_defaults(handler=cmd_autostart)

    install = sub.add_parser("install-desktop", help=(
        "put Kairos in the applications menu: its launcher and its icons in your icon theme "
        "(Linux)"))
    install.add_argument("--remove", action="store_true",
                         help="take the launcher and the icons away again")
    install.set_defaults(handler=cmd_install_desktop)

    plugins.add_parsers(sub)

    doctor = sub.add_parser("doctor", help="what this machine offers the app")
    doctor.add_argument("--json", action="store_true")
    doctor.set_defaults(handler=cmd_doctor)

    key = sub.add_parser("key", help="the Anthropic API key")
    key_sub = key.add_subparsers(dest="key_command", required=True)
    key_set = key_sub.add_parser("set", help="store a key in the home (read from stdin or asked)")
    key_set.set_defaults(handler=c.cmd_key_set)
    key_clear = key_sub.add_parser("clear", help="remove the stored key")
    key_clear.set_defaults(handler=c.cmd_key_clear)

    panel = sub.add_parser("panel", help="open the panel of the running app in a browser")
    panel.add_argument("--print", action="store_true",
                       help="only print its address (a link that works once, for 2 minutes)")
    panel.set_defaults(handler=c.cmd_panel)

    approvals = sub.add_parser("approvals", help="commands waiting for your Allow or Deny")
    approvals_sub = approvals.add_subparsers(dest="approvals_command")
    approvals.set_defaults(handler=c.cmd_approvals)
    for verb in ("allow", "deny"):
        decide = approvals_sub.add_parser(verb, help=f"{verb} a waiting command")
        decide.add_argument("id")
        decide.set_defaults(handler=c.cmd_approvals_decide, decision=verb)
    _describe_json_flags(parser)
    return parser


def _describe_json_flags(parser: argparse.ArgumentParser) -> None:
    """Every --json says what it does (one wording for all the commands that have one)."""
    for action in parser._actions:
        if "--json" in action.option_strings and action.help is None:
            action.help = "print JSON (for scripts) instead of text"
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _describe_json_flags(sub)
