"""RunCommand: off unless enabled; an allowlisted command (no extra options, no control characters,
in an allowed folder outside the workspace) runs without asking, anything else waits for the user;
output and time are bounded, secrets stay out of its environment, nothing it starts outlives the
call, and every call is logged. Real subprocesses, a real daily log and bus, fake time."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import time
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from kairos_desktop.approvals import Approvals
from kairos_desktop.clock import FakeClock
from kairos_desktop.delivery.notifier import Notification
from kairos_desktop.events import Event, EventBus
from kairos_desktop.journal import DailyLog
from kairos_desktop.settings import Settings
from kairos_desktop.tools.base import ToolProvider, ToolRegistry
from kairos_desktop.tools.commands import check_allowlist, run_command_provider

DAY = date(2026, 11, 22)


class Setup:
    def __init__(self, clock: FakeClock, tmp_path: Path) -> None:
        self.clock = clock
        self.projects = tmp_path / "projects"  # the user's allowed folder
        self.projects.mkdir()
        self.settings = Settings(run_command_enabled=True,
                                 run_command_allowlist=["echo", "git status", "git log", "pwd",
                                                        "false", "env"],
                                 allowed_folders=[str(self.projects)],
                                 run_command_timeout_seconds=10,
                                 run_command_max_output_bytes=1_000)
        self.workspace = tmp_path / "workspace"
        self.workspace.mkdir()
        self.log = DailyLog(tmp_path / "logs", clock)
        self.bus = EventBus()
        self.notifications: list[Notification] = []
        self.approvals = Approvals(clock=clock, daily_log=self.log, bus=self.bus,
                                   notify=self.notify, settings=lambda: self.settings)
        self.tool: ToolProvider = run_command_provider(
            approvals=self.approvals, settings=lambda: self.settings, workspace=self.workspace,
            daily_log=self.log)
        self.answer: bool | None = None  # how the "user" answers approvals; None = not at all
        self.bus.subscribe(self._on_event)

    async def notify(self, notification: Notification) -> bool:
        self.notifications.append(notification)
        return True

    def _on_event(self, event: Event) -> None:
        # The "user" answers once the notification is out (a short moment after the request).
        if event.kind == "notification" or not (
                event.kind == "approval" and event.data["state"] == "pending"
                and self.answer is not None):
            return
        asyncio.get_running_loop().call_later(
            0.01, partial(self.approvals.decide, event.data["id"], self.answer, by="panel"))

    async def run(self, **arguments: Any) -> tuple[str, bool]:
        return await asyncio.wait_for(self.tool.call("RunCommand", arguments), 8)


@pytest.fixture
def setup(clock: FakeClock, tmp_path: Path) -> Setup:
    return Setup(clock, tmp_path)


OPTION = "extra option {} is not in the allowlist entry {!r}"
CONTROL = "it holds the shell character {!r}, which an allowlisted command may not hold"


@pytest.mark.parametrize(("command", "expected"), [
    ("git status", ("git status", None)),
    ("git status src docs", ("git status", None)),
    ("git  status   src", ("git status", None)),
    ("echo 'hello world'", ("echo", None)),
    ("git log --oneline HEAD", ("git log --oneline", None)),
    ("git status -s", ("git status", OPTION.format("-s", "git status"))),
    ("git status '-s'", ("git status", OPTION.format("-s", "git status"))),
    ("git status src --short", ("git status", OPTION.format("--short", "git status"))),
    ("git log --output=x", ("git log", OPTION.format("--output=x", "git log"))),
    ("git log --oneline --output=x",
     ("git log --oneline", OPTION.format("--output=x", "git log --oneline"))),
    ("git status *", ("git status", "argument * could expand to an option, which is not in the "
                                    "allowlist entry 'git status'")),
    ("git status {--output=x,y}", ("git status", "argument {--output=x,y} could expand to an "
                                                 "option, which is not in the allowlist entry "
                                                 "'git status'")),
    ("git -c core.fsmonitor=x status", (None, None)),
    ("git statusx", (None, None)),
    ("gitstatus", (None, None)),
    ("git", (None, None)),
    ("git status; rm -rf ~", ("git status", CONTROL.format(";"))),
    ("git status && rm -rf ~", ("git status", CONTROL.format("&"))),
    ("git status & rm -rf ~", ("git status", CONTROL.format("&"))),
    ("git status | sh", ("git status", CONTROL.format("|"))),
    ("git status `rm -rf ~`", ("git status", CONTROL.format("`"))),
    ("git status $(rm -rf ~)", ("git status", CONTROL.format("$"))),
    ("echo $ANTHROPIC_API_KEY", ("echo", CONTROL.format("$"))),
    ("git status > ~/.bashrc", ("git status", CONTROL.format(">"))),
    ("git status < /etc/passwd", ("git status", CONTROL.format("<"))),
    ("git status\nrm -rf ~", ("git status", CONTROL.format("\n"))),
    ("git status \\\nrm -rf ~", ("git status", CONTROL.format("\n"))),
    ("rm -rf ~; echo", (None, None)),
    ("echo 'unbalanced", (None, None)),
    ("FOO=1 git status", (None, None)),
])
def test_only_entry_words_without_options_or_control_characters_are_allowlisted(
        command: str, expected: tuple[str | None, str | None]) -> None:
    assert check_allowlist(command, ["echo", "git status", "git log --oneline", "git log"]) \
        == expected


async def test_an_allowlisted_command_runs_without_asking_in_an_allowed_folder(
        setup: Setup) -> None:
    text, is_error = await setup.run(command="echo hello", cwd=str(setup.projects))
    assert not is_error
    assert re.fullmatch(r"exit code 0, \d+\.\d\d s\nhello\n", text)
    assert setup.notifications == [] and setup.approvals.pending() == []
    assert (f"**command** echo hello in {setup.projects}: allowlist entry 'echo'; "
            "exit code 0, 6 bytes of output") in setup.log.read(DAY)


async def test_git_config_planted_in_the_workspace_cannot_run_without_approval(
        setup: Setup, tmp_path: Path) -> None:
    # The worst case: the workspace lies inside an allowed folder.
    setup.settings.allowed_folders = [str(tmp_path)]
    subprocess.run(["git", "init", "-q", str(setup.workspace)], check=True)
    marker = tmp_path / "pwned"
    with (setup.workspace / ".git" / "config").open("a") as config:
        config.write(f'[core]\n\tfsmonitor = "touch {marker}; echo"\n')
    setup.clock.auto_advance = True  # nobody answers
    text, is_error = await setup.run(command="git status")
    assert is_error and "not run (denied: no answer within 120 s)" in text
    assert not marker.exists()
    assert (f"git status in {setup.workspace}: needs approval: the working directory "
            f"{setup.workspace.resolve()} is inside the workspace, whose files the assistant "
            "writes") in setup.log.read(DAY)


async def test_a_symlink_into_the_workspace_is_followed_and_needs_approval(
        setup: Setup) -> None:
    link = setup.projects / "link"
    link.symlink_to(setup.workspace, target_is_directory=True)
    setup.clock.auto_advance = True
    text, is_error = await setup.run(command="pwd", cwd=str(link))
    assert is_error and "not run" in text
    assert (f"needs approval: the working directory {setup.workspace.resolve()} is inside the "
            "workspace") in setup.log.read(DAY)


async def test_outside_the_allowed_folders_an_allowlisted_command_needs_approval(
        setup: Setup, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    setup.answer = True
    text, is_error = await setup.run(command="pwd", cwd=str(elsewhere))
    assert not is_error and text.endswith(f"\n{elsewhere}\n")
    [note] = setup.notifications
    assert note.body == f"pwd — in {elsewhere}"
    assert (f"pwd in {elsewhere}: needs approval: the working directory {elsewhere.resolve()} is "
            f"not inside an allowed folder (allowedFolders: {setup.projects.resolve()}); allowed "
            "by the user (panel); exit code 0") in setup.log.read(DAY)


async def test_an_extra_option_needs_approval_and_the_log_says_why(setup: Setup) -> None:
    written = setup.projects / "written"
    setup.clock.auto_advance = True
    text, is_error = await setup.run(command=f"git log --output={written}",
                                     cwd=str(setup.projects))
    assert is_error and "not run (denied: no answer within 120 s)" in text
    assert not written.exists()
    assert (f"needs approval: extra option --output={written} is not in the allowlist entry "
            "'git log'; not run, denied: no answer within 120 s") in setup.log.read(DAY)


async def test_the_command_gets_no_secrets_from_the_environment(
        setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {"ANTHROPIC_API_KEY": "sk-ant-secret", "GITHUB_TOKEN": "ghp_secret",
               "KAIROS_HOME": "/secret/home", "slack_bot_token": "x", "Db_Password": "x",
               "MY_SECRET_THING": "x", "LOGIN_PASSWD": "x", "openai_api_key": "x"}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("KEEP_ME", "visible")
    setup.settings.run_command_max_output_bytes = 1_000_000  # nothing hidden by truncation
    text, is_error = await setup.run(command="env", cwd=str(setup.projects))
    assert not is_error and setup.notifications == []
    names = {line.split("=", 1)[0] for line in text.splitlines()[1:]}
    assert "KEEP_ME" in names and "PATH" in names
    assert names.isdisjoint(secrets)
    assert "sk-ant-secret" not in text and "ghp_secret" not in text


async def test_a_failing_command_reports_its_exit_code(setup: Setup) -> None:
    text, is_error = await setup.run(command="false", cwd=str(setup.projects))
    assert not is_error and text.startswith("exit code 1,") and text.endswith("(no output)")


async def test_control_characters_defeat_the_allowlist_and_a_deny_stops_the_command(
        setup: Setup) -> None:
    setup.answer = False
    text, is_error = await setup.run(command="echo hi; touch marker", cwd=str(setup.projects))
    assert is_error and "not run (denied by the user (panel))" in text
    assert not (setup.projects / "marker").exists()
    [note] = setup.notifications
    assert note.kind == "approval" and note.body.startswith("echo hi; touch marker")
    assert (f"echo hi; touch marker in {setup.projects}: needs approval: it holds the shell "
            "character ';', which an allowlisted command may not hold; not run, denied by the "
            "user (panel)") in setup.log.read(DAY)


async def test_no_answer_in_time_means_the_command_is_not_run(setup: Setup) -> None:
    setup.clock.auto_advance = True  # nobody answers; fake time jumps to the deadline
    text, is_error = await setup.run(command="touch marker")
    assert is_error and "not run (denied: no answer within 120 s)" in text
    assert not (setup.workspace / "marker").exists()
    assert "touch marker in" in setup.log.read(DAY)


async def test_a_command_the_user_allows_runs_and_says_who_allowed_it(setup: Setup) -> None:
    setup.answer = True
    (setup.workspace / "sub").mkdir()
    text, is_error = await setup.run(command="ls .. && pwd", cwd="sub")
    assert not is_error and text.endswith(f"sub\n{setup.workspace / 'sub'}\n")
    assert "allowed by the user (panel); exit code 0" in setup.log.read(DAY)


async def test_the_workspace_is_the_default_directory_and_needs_approval(setup: Setup) -> None:
    setup.answer = True
    text, _ = await setup.run(command="pwd")
    assert text.endswith(f"\n{setup.workspace}\n")
    assert f"pwd in {setup.workspace}: needs approval: the working directory" \
        in setup.log.read(DAY)


async def test_output_past_the_limit_is_counted_and_dropped(setup: Setup) -> None:
    setup.answer = True  # far more than a pipe buffer: the command must not block on it
    text, is_error = await setup.run(command="yes x | head -c 300000")
    header, output = text.split("\n", 1)
    assert not is_error and header.startswith("exit code 0")
    assert output == "x\n" * 500 + "\n[output truncated: 299000 bytes not shown]"
    assert "300000 bytes of output" in setup.log.read(DAY)


def live_members(pgid: int) -> list[int]:
    """Processes of group `pgid` that are not zombies."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, _ppid, group = stat.rsplit(")", 1)[1].split()[:3]
        if int(group) == pgid and state != "Z":
            members.append(int(entry.name))
    return members


async def test_the_time_limit_kills_the_whole_process_group(setup: Setup) -> None:
    setup.settings.run_command_timeout_seconds = 1
    setup.answer = True
    started = time.monotonic()
    text, is_error = await setup.run(command="echo group=$$; sleep 30 & sleep 30")
    assert time.monotonic() - started < 4
    assert is_error and "did not finish within the 1 s time limit" in text
    assert "process group was killed" in text
    pgid = int(re.search(r"group=(\d+)", text).group(1))  # type: ignore[union-attr]
    assert live_members(pgid) == []
    assert "killed at the 1 s time limit" in setup.log.read(DAY)


async def test_a_command_ignoring_sigterm_is_killed(setup: Setup) -> None:
    setup.settings.run_command_timeout_seconds = 1
    setup.answer = True
    text, is_error = await setup.run(command="trap '' TERM; echo group=$$; sleep 30; sleep 30")
    assert is_error
    pgid = int(re.search(r"group=(\d+)", text).group(1))  # type: ignore[union-attr]
    assert live_members(pgid) == []


async def test_children_left_holding_the_output_open_are_stopped(setup: Setup) -> None:
    setup.answer = True
    started = time.monotonic()
    text, is_error = await setup.run(command="echo group=$$; sleep 30 &")
    assert time.monotonic() - started < 4
    assert not is_error and text.startswith("exit code 0")
    assert "[processes the command left running were stopped" in text
    pgid = int(re.search(r"group=(\d+)", text).group(1))  # type: ignore[union-attr]
    assert live_members(pgid) == []


async def test_background_children_are_killed_once_the_shell_exits(setup: Setup) -> None:
    setup.answer = True  # the child lets go of the output: only the group kill stops it
    started = time.monotonic()
    text, is_error = await setup.run(
        command="echo group=$$; sleep 4242 >/dev/null 2>&1 & echo started")
    pgid = int(re.search(r"group=(\d+)", text).group(1))  # type: ignore[union-attr]
    try:
        assert time.monotonic() - started < 4
        assert not is_error and "started" in text
        assert "[processes the command left running were stopped" in text
        async with asyncio.timeout(1):  # SIGKILL was sent; the kernel takes a moment
            while live_members(pgid):
                await asyncio.sleep(0.01)
        assert "background processes killed" in setup.log.read(DAY)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


async def test_a_cancelled_call_kills_its_command(setup: Setup) -> None:
    setup.answer = True
    pid_file = setup.workspace / "pid"
    task = asyncio.create_task(setup.run(command="echo $$ > pid; sleep 30"))
    async with asyncio.timeout(5):
        while not pid_file.exists() or not pid_file.read_text().strip():
            await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    pgid = int(pid_file.read_text())
    async with asyncio.timeout(2):  # SIGKILL was sent; the kernel takes a moment to reap
        while live_members(pgid):
            await asyncio.sleep(0.01)
    assert f"sleep 30 in {setup.workspace}: needs approval" in setup.log.read(DAY)
    assert "allowed by the user (panel); started; the call was cancelled while it ran" \
        in setup.log.read(DAY)


async def test_a_command_that_fails_to_start_is_still_logged(setup: Setup) -> None:
    setup.answer = True
    with pytest.raises(ValueError, match="embedded null byte"):
        await setup.run(command="git status\x00x")
    assert (f"git status\x00x in {setup.workspace}: allowed by the user (panel); failed: "
            "ValueError: embedded null byte") in setup.log.read(DAY)


@pytest.mark.parametrize(("arguments", "problem"), [
    ({}, "command is missing"),
    ({"command": 5}, "command must be a string, not int"),
    ({"command": "  "}, "command is empty"),
    ({"command": "pwd", "cwd": ["/"]}, "cwd must be a string, not list"),
    ({"command": "pwd", "cwd": "/no/such/dir"}, "cwd '/no/such/dir' does not exist"),
    ({"command": "pwd", "cwd": "/etc/hostname"}, "cwd '/etc/hostname' is not a directory"),
    ({"command": "pwd", "shell": "bash"}, "unknown argument(s) ['shell']"),
])
async def test_invalid_arguments_get_a_clear_error_and_ask_nobody(
        setup: Setup, arguments: dict[str, Any], problem: str) -> None:
    text, is_error = await setup.run(**arguments)
    assert is_error and text.startswith(f"Invalid arguments for RunCommand: {problem}")
    assert setup.notifications == []


async def test_disabled_the_model_never_sees_it_and_a_stale_call_is_refused(
        setup: Setup) -> None:
    setup.settings.run_command_enabled = False
    assert setup.tool.definitions() == []
    text, is_error = await setup.run(command="echo hi")
    assert is_error and text.startswith("RunCommand is off (setting runCommandEnabled)")
    assert setup.notifications == []
    registry = ToolRegistry([])
    registry.add_provider(setup.tool)
    assert "RunCommand" not in registry.names
    setup.settings.run_command_enabled = True
    assert "RunCommand" in registry.names


def test_the_definition_states_approval_and_limits(setup: Setup) -> None:
    [definition] = setup.tool.definitions()
    assert definition["name"] == "RunCommand"
    assert definition["input_schema"]["required"] == ["command"]
    assert set(definition["input_schema"]["properties"]) == {"command", "cwd"}
    description = definition["description"]
    for words in ("waits for the user's approval", "'git status'", "truncated at 1000 bytes",
                  "time limit 10 s", "within 120 s means denied",
                  "no argument after the entry is an option (starts with -)",
                  f"allowed folders ({setup.projects}) but not inside the workspace",
                  "no secrets from the environment", "killed when it exits"):
        assert words in description


def test_pids_in_proc_are_readable() -> None:
    assert os.getpid() in live_members(os.getpgid(0))
