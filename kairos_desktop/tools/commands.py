"""RunCommand: the model runs a shell command on the user's machine, but only with their approval.

Off by default (runCommandEnabled); while off the model is not even shown the tool. When on, a
command runs without asking only if it starts with an allowlisted prefix (runCommandAllowlist,
compared word by word) and holds no shell control characters that could chain, redirect or
substitute a second command; anything else waits for the user's Allow through `Approvals`. A run
is bounded in output (runCommandMaxOutputBytes; the rest is read and discarded so the command never
blocks on a full pipe) and in time (runCommandTimeoutSeconds, then its whole process group is
killed). Every call, allowed or not, is written to the daily log.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..approvals import Approvals
from ..memory.daily_log import DailyLog
from ..settings import Settings
from .base import ToolProvider

NAME = "RunCommand"
# What lets one allowlisted command become another: chaining, pipes, background, substitution,
# expansion, redirection, line breaks (a backslash-newline is caught by the newline).
CONTROL = re.compile(r"[;&|`$<>\n\r]")
READ_CHUNK = 64 * 1024
# After SIGTERM, how long the process group gets to exit before SIGKILL (seconds).
KILL_GRACE = 2.0
# After the command exits, how long leftover children may hold its output open (seconds).
DRAIN_GRACE = 1.0


def allowlisted_prefix(command: str, allowlist: list[str]) -> str | None:
    """The allowlist entry that lets `command` run without asking, or None.

    An entry matches when its words (split like the shell does) are the command's first words and
    the command holds no shell control character: "git status" lets "git status -s" through but
    not "git statusx" nor "git status; rm -rf ~"."""
    if CONTROL.search(command):
        return None
    try:
        words = shlex.split(command)
    except ValueError:  # unbalanced quotes: let the user look at it
        return None
    for entry in allowlist:
        try:
            prefix = shlex.split(entry)
        except ValueError:
            continue
        if prefix and words[:len(prefix)] == prefix:
            return entry
    return None


@dataclass
class _Output:
    limit: int
    kept: bytearray = field(default_factory=bytearray)
    total: int = 0

    async def drain(self, stream: asyncio.StreamReader) -> None:
        """Keep the first `limit` bytes; read and drop the rest until the pipe closes."""
        while chunk := await stream.read(READ_CHUNK):
            self.total += len(chunk)
            room = self.limit - len(self.kept)
            if room > 0:
                self.kept += chunk[:room]

    def text(self) -> str:
        if not self.total:
            return "(no output)"
        shown = self.kept.decode("utf-8", errors="replace")
        hidden = self.total - len(self.kept)
        if hidden:
            shown += f"\n[output truncated: {hidden} bytes not shown]"
        return shown


@dataclass
class _Run:
    exit_code: int | None
    seconds: float
    output: _Output
    timed_out: bool
    # The command exited but processes it started kept its output open; they were stopped.
    leftovers_killed: bool


class _RunCommand:
    def __init__(self, *, approvals: Approvals, settings: Callable[[], Settings],
                 workspace: Path, daily_log: DailyLog) -> None:
        self._approvals = approvals
        self._settings = settings
        self._workspace = workspace
        self._log = daily_log

    def definitions(self) -> list[dict[str, Any]]:
        settings = self._settings()
        if not settings.run_command_enabled:
            return []
        allowlist = ", ".join(repr(e) for e in settings.run_command_allowlist) or "none"
        return [{
            "name": NAME,
            "description": (
                "Run a shell command (sh -c) on the user's machine. Each call waits for the "
                "user's approval (a notification with Allow and Deny, and the panel) unless the "
                f"command starts with an allowlisted prefix (allowlist: {allowlist}) and has no "
                "; & | ` $ < > or line breaks; no answer within "
                f"{settings.approval_timeout_seconds} s means denied. stdout and stderr are "
                f"returned together, truncated at {settings.run_command_max_output_bytes} bytes; "
                f"time limit {settings.run_command_timeout_seconds} s, then the command is "
                "killed. No input is given (stdin is empty). Explain in a message why you need "
                "a command before asking for one the user must approve."
            ),
            "input_schema": {
                "type": "object",
                "properties": {
                    "command": {"type": "string", "description": "The command line to run."},
                    "cwd": {"type": "string", "description": (
                        f"Working directory (absolute, or relative to the workspace "
                        f"{self._workspace}); default: the workspace.")},
                },
                "required": ["command"],
                "additionalProperties": False,
            },
        }]

    async def call(self, name: str, arguments: dict[str, Any]) -> tuple[str, bool]:
        settings = self._settings()
        if name != NAME:
            return f"There is no tool named {name!r} here; this provider runs {NAME}.", True
        if not settings.run_command_enabled:
            return (f"{NAME} is off (setting runCommandEnabled). Ask the user to turn it on if "
                    "you need it; until then do without running commands.", True)
        parsed = self._arguments(arguments)
        if isinstance(parsed, str):
            return parsed, True
        command, cwd = parsed

        prefix = allowlisted_prefix(command, settings.run_command_allowlist)
        if prefix is not None:
            allowed_by = f"allowlist prefix {prefix!r}"
        else:
            decision = await self._approvals.request(command, str(cwd))
            if not decision.allowed:
                why = decision.reason if decision.reason.startswith("denied") \
                    else f"denied: {decision.reason}"
                self._log.append("command", f"{command} in {cwd}: not run, {why}")
                return (f"The command was not run ({why}). Do not retry it unless the user "
                        "asks; tell them what you wanted to do instead.", True)
            allowed_by = decision.reason

        run = await _execute(command, cwd, settings.run_command_timeout_seconds,
                             settings.run_command_max_output_bytes)
        outcome = (f"killed at the {settings.run_command_timeout_seconds} s time limit"
                   if run.timed_out else f"exit code {run.exit_code}")
        self._log.append("command", f"{command} in {cwd}: {allowed_by}; {outcome}, "
                         f"{run.output.total} bytes of output, {run.seconds:.2f} s")
        if run.timed_out:
            return (f"The command did not finish within the {settings.run_command_timeout_seconds} "
                    "s time limit (runCommandTimeoutSeconds); its process group was killed. "
                    f"Output before it was stopped:\n{run.output.text()}", True)
        note = ("\n[processes the command left running kept its output open and were stopped]"
                if run.leftovers_killed else "")
        return (f"exit code {run.exit_code}, {run.seconds:.2f} s\n{run.output.text()}{note}",
                False)

    def _arguments(self, arguments: Any) -> tuple[str, Path] | str:
        """(command, cwd), or the error to show the model."""
        expected = ('Expected {"command": "<command line>", "cwd": "<directory>" (optional)}. '
                    "Call RunCommand again with corrected arguments.")
        if not isinstance(arguments, dict):
            return f"Invalid arguments for {NAME}: not an object. {expected}"
        unknown = sorted(set(arguments) - {"command", "cwd"})
        if unknown:
            return f"Invalid arguments for {NAME}: unknown argument(s) {unknown}. {expected}"
        command = arguments.get("command")
        if command is None:
            return f"Invalid arguments for {NAME}: command is missing. {expected}"
        if not isinstance(command, str):
            return (f"Invalid arguments for {NAME}: command must be a string, not "
                    f"{type(command).__name__}. {expected}")
        if not command.strip():
            return f"Invalid arguments for {NAME}: command is empty. {expected}"
        raw_cwd = arguments.get("cwd")
        if raw_cwd is not None and not isinstance(raw_cwd, str):
            return (f"Invalid arguments for {NAME}: cwd must be a string, not "
                    f"{type(raw_cwd).__name__}. {expected}")
        cwd = self._workspace if not raw_cwd else self._workspace / Path(raw_cwd).expanduser()
        if not cwd.is_dir():
            what = "is not a directory" if cwd.exists() else "does not exist"
            return (f"Invalid arguments for {NAME}: cwd {str(cwd)!r} {what}. Use an existing "
                    "directory, or leave cwd out to run in the workspace.")
        return command, cwd


async def _execute(command: str, cwd: Path, timeout: float, max_bytes: int) -> _Run:
    """Run `command` in its own session (so its whole process group can be killed). If the call
    is cancelled (engine stop), the group is killed at once: a command never outlives its turn."""
    loop = asyncio.get_running_loop()
    started = loop.time()  # the event loop's clock, the one the time limit runs on
    # Our own pipe rather than PIPE: asyncio's Process.wait() also waits for a PIPE to close, so a
    # background child holding it open would make a finished command look hung.
    read_fd, write_fd = os.pipe()
    # Shielded: a cancel while asyncio finishes starting it must still find the pid to kill.
    spawn = asyncio.ensure_future(_spawn(command, cwd, write_fd))
    try:
        proc = await asyncio.shield(spawn)
    except BaseException:
        os.close(read_fd)
        spawn.add_done_callback(_kill_spawned)
        raise
    output = _Output(max_bytes)
    transport: asyncio.ReadTransport | None = None
    reader: asyncio.Future[None] | None = None
    timed_out = leftovers = False
    try:
        stream = asyncio.StreamReader()
        pipe = open(read_fd, "rb", buffering=0)  # noqa: SIM115 - the transport closes it
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(stream), pipe)
        reader = asyncio.ensure_future(output.drain(stream))
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            timed_out = True
        if not timed_out:
            done, _ = await asyncio.wait({reader}, timeout=DRAIN_GRACE)
            leftovers = not done
        if timed_out or leftovers:
            await _kill_group(proc, reader)
        await asyncio.wait({reader}, timeout=KILL_GRACE)
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        raise
    finally:
        if reader is not None and not reader.done():  # a process left the group, holds the pipe
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        if transport is not None:
            transport.close()
    return _Run(proc.returncode, loop.time() - started, output, timed_out, leftovers)


async def _spawn(command: str, cwd: Path, write_fd: int) -> asyncio.subprocess.Process:
    try:
        return await asyncio.create_subprocess_shell(
            command, cwd=str(cwd), stdout=write_fd, stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL, start_new_session=True)
    finally:
        os.close(write_fd)  # the child has its copy; ours would keep the pipe from closing


def _kill_spawned(spawn: asyncio.Future[asyncio.subprocess.Process]) -> None:
    if spawn.cancelled() or spawn.exception() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(spawn.result().pid, signal.SIGKILL)


async def _kill_group(proc: asyncio.subprocess.Process, reader: asyncio.Future[None]) -> None:
    """SIGTERM the process group, give it KILL_GRACE seconds, then SIGKILL what is left.
    The shell was started in a new session, so its pid is the group's id."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    exited = asyncio.ensure_future(proc.wait())
    # Both done = the shell exited and nothing in the group holds the output open any more.
    await asyncio.wait({exited, reader}, timeout=KILL_GRACE)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    await exited


def run_command_provider(*, approvals: Approvals, settings: Callable[[], Settings],
                         workspace: Path, daily_log: DailyLog) -> ToolProvider:
    """The RunCommand tool for `ToolRegistry.add_provider`; its definition follows the settings
    (none while runCommandEnabled is off)."""
    runner = _RunCommand(approvals=approvals, settings=settings, workspace=workspace,
                         daily_log=daily_log)
    return ToolProvider(definitions=runner.definitions, call=runner.call)
