"""RunCommand: off unless enabled; allowlisted prefixes run without asking, anything else waits for
the user; output and time are bounded. Real subprocesses, a real daily log and bus, fake time."""

from __future__ import annotations

import asyncio
import os
import re
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
from kairos_desktop.memory.daily_log import DailyLog
from kairos_desktop.settings import Settings
from kairos_desktop.tools.base import ToolProvider, ToolRegistry
from kairos_desktop.tools.commands import allowlisted_prefix, run_command_provider

DAY = date(2026, 11, 22)


class Setup:
    def __init__(self, clock: FakeClock, tmp_path: Path) -> None:
        self.clock = clock
        self.settings = Settings(run_command_enabled=True,
                                 run_command_allowlist=["echo", "git status", "pwd", "false"],
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
        if event.kind == "approval" and event.data["state"] == "pending" \
                and self.answer is not None:
            asyncio.get_running_loop().call_soon(
                partial(self.approvals.decide, event.data["id"], self.answer, by="panel"))

    async def run(self, **arguments: Any) -> tuple[str, bool]:
        return await asyncio.wait_for(self.tool.call("RunCommand", arguments), 8)


@pytest.fixture
def setup(clock: FakeClock, tmp_path: Path) -> Setup:
    return Setup(clock, tmp_path)


@pytest.mark.parametrize(("command", "expected"), [
    ("git status", "git status"),
    ("git status -s", "git status"),
    ("git  status   --short", "git status"),
    ("echo 'hello world'", "echo"),
    ("git statusx", None),
    ("gitstatus", None),
    ("git", None),
    ("git status; rm -rf ~", None),
    ("git status && rm -rf ~", None),
    ("git status & rm -rf ~", None),
    ("git status | sh", None),
    ("git status `rm -rf ~`", None),
    ("git status $(rm -rf ~)", None),
    ("echo $ANTHROPIC_API_KEY", None),
    ("git status > ~/.bashrc", None),
    ("git status < /etc/passwd", None),
    ("git status\nrm -rf ~", None),
    ("git status \\\nrm -rf ~", None),
    ("echo 'unbalanced", None),
    ("FOO=1 git status", None),
])
def test_only_a_whole_word_prefix_without_control_characters_is_allowlisted(
        command: str, expected: str | None) -> None:
    assert allowlisted_prefix(command, ["echo", "git status"]) == expected


async def test_an_allowlisted_command_runs_without_asking(setup: Setup) -> None:
    text, is_error = await setup.run(command="echo hello")
    assert not is_error
    assert re.fullmatch(r"exit code 0, \d+\.\d\d s\nhello\n", text)
    assert setup.notifications == [] and setup.approvals.pending() == []
    assert (f"**command** echo hello in {setup.workspace}: allowlist prefix 'echo'; "
            "exit code 0, 6 bytes of output") in setup.log.read(DAY)


async def test_a_failing_command_reports_its_exit_code(setup: Setup) -> None:
    text, is_error = await setup.run(command="false")
    assert not is_error and text.startswith("exit code 1,") and text.endswith("(no output)")


async def test_control_characters_defeat_the_allowlist_and_a_deny_stops_the_command(
        setup: Setup) -> None:
    setup.answer = False
    text, is_error = await setup.run(command="echo hi; touch marker")
    assert is_error and "not run (denied by the user (panel))" in text
    assert not (setup.workspace / "marker").exists()
    [note] = setup.notifications
    assert note.kind == "approval" and note.body.startswith("echo hi; touch marker")
    assert "echo hi; touch marker in" in setup.log.read(DAY)
    assert "not run, denied by the user (panel)" in setup.log.read(DAY)


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


async def test_the_workspace_is_the_default_directory(setup: Setup) -> None:
    text, _ = await setup.run(command="pwd")
    assert text.endswith(f"\n{setup.workspace}\n")


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
    assert "kept its output open and were stopped" in text
    pgid = int(re.search(r"group=(\d+)", text).group(1))  # type: ignore[union-attr]
    assert live_members(pgid) == []


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
                  "time limit 10 s", "within 120 s means denied"):
        assert words in description


def test_pids_in_proc_are_readable() -> None:
    assert os.getpid() in live_members(os.getpgid(0))
