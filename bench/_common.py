"""Helpers the benchmarks share: timing, cProfile tables, waiting, and the real processes they
measure (a private Xvfb and session bus, a `kairos run --headless` on a temp home)."""

from __future__ import annotations

import contextlib
import cProfile
import json
import math
import os
import pstats
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent


def elapsed_ms(fn: Callable[[], object]) -> float:
    began = time.perf_counter()
    fn()
    return (time.perf_counter() - began) * 1000


def profile_rows(profile: cProfile.Profile, per: int, rows: int = 8,
                 calls_width: int = 9) -> list[str]:
    """The functions with the most own time, per operation (`per` operations profiled)."""
    stats: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    ranked = sorted(stats.items(), key=lambda kv: kv[1][2], reverse=True)[:rows]
    out = []
    for (file, line, name), (_, ncalls, tottime, cumtime, _) in ranked:
        where = re.sub(r".*/lib/python3\.\d+/(site-packages/)?", "", file)
        if file.startswith(str(REPO_ROOT)):
            where = file[len(str(REPO_ROOT)) + 1:]
        label = f"{where}:{line}({name})" if file != "~" else name
        out.append(f"    {1000 * tottime / per:9.2f} ms own {1000 * cumtime / per:9.2f} ms cum "
                   f"{ncalls / per:>{calls_width},.0f} calls  {label}")
    return out


def percentile(samples: list[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default method); NaN when empty."""
    data = sorted(samples)
    if not data:
        return math.nan
    rank = (len(data) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return data[low] + (data[high] - data[low]) * (rank - low)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def unwind_on_sigterm() -> None:
    """SIGTERM (a CI timeout) unwinds like Ctrl+C, so a bench's child processes are still
    stopped by its finally blocks."""
    signal.signal(signal.SIGTERM, _terminate)


class BenchError(Exception):
    """The bench could not measure (a program is missing, the engine did not start...)."""


def until(what: str, predicate: Callable[[], Any], timeout: float,
          alive: Callable[[], None] = lambda: None, *, poll: float = 0.02) -> Any:
    """Poll `predicate` every `poll` s until it returns something truthy (fine in a bench);
    `alive()` raises when what is waited on has died."""
    deadline = time.monotonic() + timeout
    while True:
        alive()
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(poll)


def stop_process(proc: subprocess.Popen[Any], timeout: float = 5.0) -> None:
    """SIGTERM, then kill; never raises."""
    if proc.poll() is not None:
        return
    for ask in (proc.terminate, proc.kill):
        with contextlib.suppress(OSError):
            ask()
        try:
            proc.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            continue


def start_xvfb(procs: list[subprocess.Popen[Any]]) -> str:
    """A private X display (appended to `procs`); returns its name (":N")."""
    read_fd, write_fd = os.pipe()
    try:
        proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0",
                                 "1280x800x24", "-nolisten", "tcp"], pass_fds=(write_fd,),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finally:
        os.close(write_fd)
    procs.append(proc)
    with os.fdopen(read_fd) as pipe:
        number = pipe.readline().strip()
    if not number:
        raise BenchError("Xvfb did not report a display number")
    return f":{number}"


def start_session_bus(procs: list[subprocess.Popen[Any]], env: dict[str, str]) -> str:
    """A private D-Bus session bus (appended to `procs`), started with `env`, which it passes
    to what it activates; returns its address."""
    proc = subprocess.Popen(["dbus-daemon", "--nofork", "--print-address=1", "--session"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    procs.append(proc)
    assert proc.stdout is not None
    address = proc.stdout.readline().strip()
    if not address:
        raise BenchError("dbus-daemon did not print its address")
    return address


class HeadlessEngine:
    """`kairos run --headless` in a subprocess, on a temp home, its model at `base_url`."""

    def __init__(self, root: Path, base_url: str, env: dict[str, str] | None = None) -> None:
        from kairos_desktop.home import Home

        # A home already at root/home (an aged one, say) keeps its files and settings; only
        # inboxDir is pointed at root/inbox.
        self.home = Home(root / "home").ensure()
        values: dict[str, Any] = {}
        if self.home.settings_file.exists():
            values = json.loads(self.home.settings_file.read_text(encoding="utf-8"))
        values["inboxDir"] = str(root / "inbox")
        self.home.settings_file.write_text(json.dumps(values, indent=2), encoding="utf-8")
        self.log_path = root / "engine.log"
        self.env = {k: v for k, v in (env or os.environ).items() if k != "KAIROS_HOME"}
        # A temp home has no key in a keyring; asking a locked Secret Service would prompt.
        self.env.update(ANTHROPIC_API_KEY="bench", ANTHROPIC_BASE_URL=base_url,
                        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
        self.proc: subprocess.Popen[bytes] | None = None
        self.client: Any = None  # kairos_desktop.control.client.ControlClient once up

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "kairos_desktop.cli", "--home", str(self.home.root), *args]

    def start(self, exit_after: float, timeout: float = 30.0, poll: float = 0.02,
              args: Sequence[str] = ()) -> None:
        """Start it and wait until its control API answers; `args` go to `kairos run`
        (`--continue` resumes the home's latest session)."""
        self.launch(exit_after, args)
        self.client = until("the control API (run/control.json)", self._connect, timeout,
                            self.check_alive, poll=poll)

    def launch(self, exit_after: float, args: Sequence[str] = ()) -> None:
        """Start the process without waiting for anything (`start` waits for its API)."""
        # --exit-after is a safety net: if the bench is killed before it can stop the engine,
        # the engine still stops on its own.
        run = self.command("run", "--headless", "--exit-after", f"{exit_after:g}", *args)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(run, stdout=log, stderr=subprocess.STDOUT,
                                         env=self.env, cwd=REPO_ROOT)

    def _connect(self) -> Any:
        from kairos_desktop.control.client import ControlClient
        from kairos_desktop.errors import NotRunningError

        try:
            return ControlClient.for_home(self.home)
        except NotRunningError:
            return None

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise BenchError(f"`kairos run --headless` exited with status {self.proc.returncode}"
                             f"\n{self.log_tail()}")

    def stop(self) -> None:
        """Stop the subprocess cleanly (control API, then SIGTERM, then kill); never raises."""
        from kairos_desktop.errors import KairosError

        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        if self.client is not None:
            with contextlib.suppress(KairosError, OSError):
                self.client.stop()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            stop_process(proc, timeout=10)

    def status(self) -> dict[str, Any]:
        return dict(self.client.status())

    def wait_sleeping(self, turns: int, timeout: float = 10.0,
                      poll: float = 0.002) -> dict[str, Any]:
        """Wait until it sleeps having finished at least `turns` turns; its status then."""
        def asleep() -> dict[str, Any] | None:
            status = self.status()
            if status.get("state") in ("error", "offline", "no_api_key"):
                raise BenchError(f"the engine is {status['state']}: {status.get('detail')}")
            done = status.get("state") == "sleeping" and status.get("turns", 0) >= turns
            return status if done else None

        return until(f"the engine to sleep after {turns} turn(s)", asleep, timeout,
                     self.check_alive, poll=poll)

    def rss_bytes(self) -> int:
        """The subprocess's resident set (VmRSS, Linux /proc); 0 where there is none."""
        if self.proc is None:
            return 0
        return rss_bytes(self.proc.pid)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no engine output)"
        tail = text.splitlines()[-lines:]
        return "engine output (last lines):\n" + "\n".join(f"  | {x}" for x in tail)


def rss_bytes(pid: int) -> int:
    """VmRSS of a process from /proc/<pid>/status (Linux); 0 where it cannot be read."""
    try:
        text = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return 0
    found = re.search(r"^VmRSS:\s+(\d+) kB", text, re.MULTILINE)
    return int(found.group(1)) * 1024 if found else 0


def request_carrying(fake: Any, first: int, text: str, alive: Callable[[], None],
                     timeout: float = 10.0) -> Any:
    """The first request the fake model (tests/fakes/anthropic_server.FakeAnthropic) received
    from the `first`-th on (1-based) whose last user message carries `text`; requests without
    it (a scheduled task that came due meanwhile) are passed over. Returns as soon as it is
    recorded (its `received_at` is the fake's `time.monotonic()`); notices a dead engine."""
    deadline = time.monotonic() + timeout
    index = first
    while True:
        try:
            request = fake.wait_for_requests(index, timeout=0.25)
        except AssertionError:  # how the fake reports a timeout
            alive()
            if time.monotonic() > deadline:
                raise BenchError(f"no model request carrying {text!r} arrived within "
                                 f"{timeout:g} s") from None
            continue
        if text in request.last_user_text:
            return request
        index += 1


# -- an in-process Engine on a FakeClock (bench/idle_cost.py's approach) -----------------------


async def settle(engine: Any) -> None:
    """Let woken tasks run, and wait out any model call in flight (it takes real time)."""
    import asyncio

    while True:
        for _ in range(50):
            await asyncio.sleep(0)
        if engine.status.state not in ("working", "starting") and not engine.dream.state.running:
            return
        changed = asyncio.Event()
        unsubscribe = engine.bus.subscribe(lambda _, flag=changed: flag.set())
        try:
            await changed.wait()
        finally:
            unsubscribe()


async def drive(engine: Any, clock: Any, end: float) -> bool:
    """Jump the FakeClock from one waiter's deadline to the next until monotonic time `end`,
    letting the engine finish whatever each jump woke up. Returns True if the heartbeat slept
    with no deadline (maxSleepDurationMs -1) and only `end` stopped it."""
    forever = False
    while clock.monotonic() < end:
        await settle(engine)
        if engine.status.sleeping_until is None and engine.status.state == "sleeping":
            forever = True
        deadline = clock.next_deadline
        target = end if deadline is None else min(deadline, end)
        clock.advance(max(0.0, target - clock.monotonic()))
    await settle(engine)
    return forever
