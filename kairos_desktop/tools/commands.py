"""RunCommand: the model runs a shell command on the user's machine, but only with their approval.

Off by default (runCommandEnabled); while off the model is not even shown the tool. When on, a
command runs without asking only when all of these hold; anything else waits for the user's Allow
through `Approvals`:
- its first words are an allowlist entry's words (runCommandAllowlist, compared word by word) and
  no later word is an option (starts with "-", or with a glob or brace that could expand to a
  file named like one): "git log" must not become "git log --output=~/.bashrc"; an entry may name
  exact options itself ("git log --oneline");
- it holds no shell control character that could chain, redirect, substitute or expand;
- its working directory resolves (symlinks followed) inside one of the user's allowedFolders and
  not inside the workspace: the model writes the workspace, and many tools read config from their
  working directory (a `.git/config` with core.fsmonitor turns "git status" into any command).
When an allowlisted-looking command falls back to approval, the daily log says why.

The command runs with the app's environment minus its secrets (API keys, tokens, passwords,
KAIROS_* settings). A run is bounded in output (runCommandMaxOutputBytes; the rest is read and
discarded so the command never blocks on a full pipe) and in time (runCommandTimeoutSeconds).
It runs in its own process group, which is SIGKILLed once the shell exits, at the time limit or on
cancel, so nothing it started in the background outlives the call. Known limit: a child that
leaves the group (setsid, or a daemon that double-forks into a new session) escapes that kill.
Every call, allowed or not, run or not, failed or cancelled, leaves a "command" line in the daily
log.
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
from ..journal import DailyLog
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
# A word starting with one of these may expand (globs; braces where /bin/sh is bash) into words,
# one of which could start with "-".
EXPANDS = ("*", "?", "[", "{")
# Never passed to a command: the app's own secrets and settings, and anything named like a secret.
SECRET_NAMES = frozenset({"ANTHROPIC_API_KEY", "GITHUB_TOKEN"})
SECRET_PARTS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "API_KEY")


def check_allowlist(command: str, allowlist: list[str]) -> tuple[str | None, str | None]:
    """(entry, problem): which allowlist entry `command` falls under, and why it still needs
    approval (None: it may run without asking, subject to the working-directory rule).

    An entry matches when its words (split like the shell does) are the command's first words, no
    later word is an option, and the command holds no shell control character: "git status" lets
    "git status src" through but not "git status -s", "git statusx" nor "git status; rm -rf ~".
    (None, None) when no entry looks like the command at all."""
    entries: list[tuple[str, list[str]]] = []
    for entry in allowlist:
        try:
            words = shlex.split(entry)
        except ValueError:
            continue
        if words:
            entries.append((entry, words))
    control = CONTROL.search(command)
    if control:
        first = command.split(maxsplit=1)[:1]
        matched = next((e for e, words in entries if words[:1] == first), None)
        if matched is None:
            return None, None
        return matched, (f"it holds the shell character {control.group()!r}, which an "
                       "allowlisted command may not hold")
    try:
        words = shlex.split(command)
    except ValueError:  # unbalanced quotes: let the user look at it
        return None, None
    problem: tuple[str, str] | None = None
    # The longest entry first: "git log --oneline" is the one to report for "git log --oneline -5".
    for entry, prefix in sorted(entries, key=lambda item: -len(item[1])):
        if words[:len(prefix)] != prefix:
            continue
        option = next((w for w in words[len(prefix):] if w.startswith(("-", *EXPANDS))), None)
        if option is None:
            return entry, None
        if problem is None:
            what = (f"extra option {option}" if option.startswith("-") else
                    f"argument {option} could expand to an option, which")
            problem = entry, f"{what} is not in the allowlist entry {entry!r}"
    return problem if problem is not None else (None, None)


def cwd_problem(cwd: Path, allowed_folders: list[str], workspace: Path) -> str | None:
    """Why an allowlisted command may not run without approval in `cwd`, or None.

    The directory must resolve inside one of the user's allowed folders and not inside the
    workspace, whose files the model writes (and tools read config from their directory)."""
    real = cwd.resolve()
    if _within(real, workspace.resolve()):
        return (f"the working directory {real} is inside the workspace, whose files the assistant "
                "writes (a tool may read its config there)")
    roots = [Path(folder).expanduser().resolve() for folder in allowed_folders]
    if not any(_within(real, root) for root in roots):
        allowed = ", ".join(str(root) for root in roots) or "none set"
        return (f"the working directory {real} is not inside an allowed folder (allowedFolders: "
                f"{allowed})")
    return None


def _within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def child_environment() -> dict[str, str]:
    """os.environ without the secrets a command has no business seeing."""
    return {name: value for name, value in os.environ.items() if not _secret(name)}


def _secret(name: str) -> bool:
    upper = name.upper()
    return upper in SECRET_NAMES or upper.startswith("KAIROS_") or any(
        part in upper for part in SECRET_PARTS)


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
    # The command exited but processes it started were still running; they were stopped.
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
        folders = ", ".join(settings.allowed_folders) or "none set"
        return [{
            "name": NAME,
            "description": (
                "Run a shell command (sh -c) on the user's machine. Each call waits for the "
                "user's approval (a notification and the panel) unless all of these hold: the "
                f"command starts with an allowlist entry (allowlist: {allowlist}); no argument "
                "after the entry is an option (starts with -) unless the entry itself lists it "
                "(an entry such as 'git log --oneline' names its exact options), nor starts with "
                "* ? [ or {; it has no ; & | ` $ < > or line breaks; and cwd is inside one of the "
                f"user's allowed folders ({folders}) but not inside the workspace. No answer "
                f"within {settings.approval_timeout_seconds} s means denied. stdout and stderr "
                "are returned together, truncated at "
                f"{settings.run_command_max_output_bytes} bytes; time limit "
                f"{settings.run_command_timeout_seconds} s, then the command is killed, and "
                "anything it leaves running in the background is killed when it exits. It gets "
                "no input (stdin is empty) and no secrets from the environment (API keys, tokens, "
                "passwords). Explain in a message why you need a command before asking for one "
                "the user must approve."
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

        # One "command" line per call whatever happens: run, refused, failed or cancelled.
        steps: list[str] = []
        outcome = "stopped: the call was cancelled"
        try:
            entry, problem = check_allowlist(command, settings.run_command_allowlist)
            if entry is not None and problem is None:
                problem = cwd_problem(cwd, settings.allowed_folders, self._workspace)
            if entry is not None and problem is None:
                steps.append(f"allowlist entry {entry!r}")
            else:
                if problem is not None:
                    steps.append(f"needs approval: {problem}")
                decision = await self._approvals.request(
                    command, str(cwd), why=problem or "no allowlist entry covers it")
                if not decision.allowed:
                    why = decision.reason if decision.reason.startswith("denied") \
                        else f"denied: {decision.reason}"
                    outcome = f"not run, {why}"
                    return (f"The command was not run ({why}). Do not retry it unless the user "
                            "asks; tell them what you wanted to do instead.", True)
                steps.append(decision.reason)
            outcome = "started; the call was cancelled while it ran"
            run = await _execute(command, cwd, settings.run_command_timeout_seconds,
                                 settings.run_command_max_output_bytes)
            ended = (f"killed at the {settings.run_command_timeout_seconds} s time limit"
                     if run.timed_out else f"exit code {run.exit_code}")
            outcome = (f"{ended}, {run.output.total} bytes of output, {run.seconds:.2f} s"
                       f"{'; background processes killed' if run.leftovers_killed else ''}")
        except Exception as exc:
            outcome = f"failed: {type(exc).__name__}: {exc}"
            raise
        finally:
            self._log.append("command", f"{command} in {cwd}: {'; '.join([*steps, outcome])}")
        if run.timed_out:
            return (f"The command did not finish within the {settings.run_command_timeout_seconds} "
                    "s time limit (runCommandTimeoutSeconds); its process group was killed. "
                    f"Output before it was stopped:\n{run.output.text()}", True)
        note = ("\n[processes the command left running were stopped: a command may not outlive "
                "its call]" if run.leftovers_killed else "")
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
    """Run `command` in its own session (so its whole process group can be killed). When the shell
    exits, at the time limit, or if the call is cancelled (engine stop), the group is SIGKILLed:
    a command never outlives its call (unless a child left the group with setsid)."""
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
        elif _kill_now(proc.pid):  # background children that let go of the output
            leftovers = True
        await asyncio.wait({reader}, timeout=KILL_GRACE)
    finally:
        _kill_now(proc.pid)  # always, cancelled or not: nothing started here outlives the call
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
            stdin=asyncio.subprocess.DEVNULL, start_new_session=True, env=child_environment())
    finally:
        os.close(write_fd)  # the child has its copy; ours would keep the pipe from closing


def _kill_now(pgid: int) -> bool:
    """SIGKILL process group `pgid`; whether it still had members."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


def _kill_spawned(spawn: asyncio.Future[asyncio.subprocess.Process]) -> None:
    if not spawn.cancelled() and spawn.exception() is None:
        _kill_now(spawn.result().pid)


async def _kill_group(proc: asyncio.subprocess.Process, reader: asyncio.Future[None]) -> None:
    """SIGTERM the process group, give it KILL_GRACE seconds, then SIGKILL what is left.
    The shell was started in a new session, so its pid is the group's id."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    exited = asyncio.ensure_future(proc.wait())
    # Both done = the shell exited and nothing in the group holds the output open any more.
    both: set[asyncio.Future[Any]] = {exited, reader}
    await asyncio.wait(both, timeout=KILL_GRACE)
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
