"""How fast the tray icon appears, and what the idle app costs the machine: RSS and CPU.

Why: kairos is meant to run all day, from log-in to log-out. Users judge that by two things: the
icon shows up at once when the app starts, and the idle app is invisible in `top` (little memory,
no CPU). The engine is built for that: its loop sleeps on timers (the heartbeat's Sleep, the
scheduler at most once a minute, the dream scan every 10 minutes) and nothing polls. This bench
checks it end to end with real processes on a real (virtual) desktop, and names the thread to
blame when the CPU target is missed.

It starts its own desktop session (Xvfb, a D-Bus session bus that D-Bus activates dunst from,
trayer as the system tray), serves FakeAnthropic from this process (every request is answered
with a 3000 s Sleep, so the app stays idle) and runs `python -m kairos_desktop.cli run` against it:

  1. launch -> icon docked (seen on the X server), `--launches` times, each on a fresh
     home; target: median under 1.5 s. For context: launch -> run/control.json, and the bare
     `python -c "import kairos_desktop.cli"`.
  2. the idle desktop app, once asleep after its first tick, over `--seconds`: CPU ticks from
     /proc/<pid>/stat (all threads), VmRSS sampled every second; targets: under 90 MB RSS
     (the max sample) and under 0.2 % of one CPU. Per-thread ticks, CPU time and wake-ups are
     printed so a busy thread is named.
  3. the same for `kairos run --headless` (no target).

Every process it starts is stopped at the end, also on errors and on SIGTERM.

Run from the repository root:  python -m bench.footprint [--launches 5] [--seconds 60] [--check]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# `python bench/footprint.py` puts bench/ (not the repository root) on sys.path; the fake server
# lives in tests/, so make the root importable either way.
REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench import _common  # noqa: E402
from bench._common import (  # noqa: E402
    BenchError,
    start_session_bus,
    start_xvfb,
    stop_process,
)
from kairos_desktop.control.client import ControlClient  # noqa: E402
from kairos_desktop.errors import KairosError, NotRunningError  # noqa: E402
from kairos_desktop.home import Home  # noqa: E402
from tests.fakes.anthropic_server import FakeAnthropic, tool_use  # noqa: E402

SLEEP_S = 3000.0  # what the fake model asks for: far longer than the bench
TARGET_DOCK_MEDIAN_S = 1.5
TARGET_RSS_MB = 90.0
TARGET_CPU_PERCENT = 0.2
POLL_S = 0.020  # the bench's own polling while it waits for the app (launch, sleep)
RSS_SAMPLE_S = 1.0
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 20.0
PROGRAMS = {"Xvfb": "xvfb", "dbus-daemon": "dbus", "dunst": "dunst", "trayer": "trayer"}
DUNSTRC = "[global]\n    timeout = 0\n    notification_limit = 0\n    dmenu = /bin/true\n"
CLK_TCK = os.sysconf("SC_CLK_TCK")
# /proc/<pid>/task/<tid>/syscall names what a blocked thread waits in (x86-64 numbers).
X86_64_SYSCALLS = {0: "read", 7: "poll", 23: "select", 202: "futex", 232: "epoll_wait",
                   270: "pselect6", 271: "ppoll", 281: "epoll_pwait", 441: "epoll_pwait2",
                   35: "nanosleep", 230: "clock_nanosleep", 61: "wait4", 45: "recvfrom",
                   47: "recvmsg"}

now = time.perf_counter


def _wait(what: str, predicate: Callable[[], Any], timeout: float,
          alive: Callable[[], None] = lambda: None) -> Any:
    return _common.until(what, predicate, timeout, alive, poll=POLL_S)


# --------------------------------------------------------------------------- desktop session


@contextlib.contextmanager
def desktop_session(root: Path) -> Iterator[dict[str, str]]:
    """Xvfb, a D-Bus session bus (started with DISPLAY and XDG_CONFIG_HOME, which it passes to
    dunst when it activates it) and trayer; the environment to run the app in. Like
    tests/desktop/conftest.py, without pytest."""
    missing = sorted({pkg for prog, pkg in PROGRAMS.items() if shutil.which(prog) is None})
    if missing:
        raise BenchError(f"the desktop session needs: apt-get install {' '.join(missing)}")
    (root / "config" / "dunst").mkdir(parents=True)
    (root / "config" / "dunst" / "dunstrc").write_text(DUNSTRC, encoding="utf-8")
    procs: list[subprocess.Popen[Any]] = []
    address: str | None = None
    try:
        display = start_xvfb(procs)
        env = {k: v for k, v in os.environ.items()
               if k not in ("WAYLAND_DISPLAY", "KAIROS_HOME", "DBUS_SESSION_BUS_ADDRESS")}
        env.update(DISPLAY=display, XDG_CONFIG_HOME=str(root / "config"),
                   PYSTRAY_BACKEND="gtk", NO_AT_BRIDGE="1", GDK_BACKEND="x11")
        address = env["DBUS_SESSION_BUS_ADDRESS"] = start_session_bus(procs, env)
        procs.append(subprocess.Popen(
            ["trayer", "--edge", "top", "--align", "right", "--widthtype", "request",
             "--height", "24", "--SetDockType", "true"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        _wait_for_tray(display, procs[-1])
        yield env
    finally:
        if address is not None:
            _stop_activated(address, exclude={p.pid for p in procs})
        for proc in reversed(procs):  # trayer, bus, Xvfb
            stop_process(proc)


def _bus_call(address: str, method: str, *args: str) -> str:
    done = subprocess.run(["dbus-send", f"--bus={address}", "--print-reply",
                           "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
                           f"org.freedesktop.DBus.{method}", *args],
                          capture_output=True, text=True, timeout=5, check=False)
    return done.stdout


def _stop_activated(address: str, exclude: set[int]) -> None:
    """End what the bus started (dunst): dbus-daemon double-forks activated services, so they
    are no children of ours and would outlive the bus. Found by the names they own on this
    bus, ended by pid; never raises."""
    pids: set[int] = set()
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        names = re.findall(r'string "([^"]+)"', _bus_call(address, "ListNames"))
        for name in names:
            if name.startswith(":") or name == "org.freedesktop.DBus":
                continue
            found = re.search(r"uint32 (\d+)",
                              _bus_call(address, "GetConnectionUnixProcessID", f"string:{name}"))
            if found:
                pids.add(int(found.group(1)))
    for pid in pids - exclude - {os.getpid()}:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(OSError):
                os.kill(pid, sig)
            deadline = now() + 5.0
            while _alive(pid) and now() < deadline:
                time.sleep(POLL_S)
            if not _alive(pid):
                break


def _alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting for its parent to reap it)."""
    try:
        return _stat_fields(Path(f"/proc/{pid}/stat"))[0] != "Z"
    except (OSError, ValueError, IndexError):
        return False


def gdk_visuals_cached(display: str) -> bool | None:
    """Whether the root window holds GDK_VISUALS. The first GTK 3 client on a display probes
    OpenGL to choose its visuals (Mesa, LLVM: tens of MB mapped) and caches the answer there;
    every later client skips the probe. None if python-xlib is missing."""
    try:
        from Xlib import X
        from Xlib import display as xdisplay
    except ImportError:
        return None
    screen = xdisplay.Display(display)
    try:
        atom = screen.intern_atom("GDK_VISUALS", only_if_exists=True)
        if atom == X.NONE:
            return False
        return screen.screen().root.get_full_property(atom, X.AnyPropertyType) is not None
    finally:
        screen.close()


def gl_mapped(pid: int) -> bool:
    """Mesa's DRI driver or LLVM in the process's mappings (GDK's OpenGL probe)."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return "_dri.so" in maps or "libLLVM" in maps


def _wait_for_tray(display: str, trayer: subprocess.Popen[Any]) -> None:
    """Until trayer owns the tray selection, so no launch is timed waiting for the tray."""
    try:
        from Xlib import display as xdisplay  # python-xlib comes with pystray on Linux
    except ImportError:
        time.sleep(0.5)
        return
    screen = xdisplay.Display(display)
    try:
        atom = screen.intern_atom("_NET_SYSTEM_TRAY_S0")

        def alive() -> None:
            if trayer.poll() is not None:
                raise BenchError(f"trayer exited with status {trayer.returncode}")

        _wait("trayer to own the tray selection",
               lambda: screen.get_selection_owner(atom) != 0, 10.0, alive)
    finally:
        screen.close()


# --------------------------------------------------------------------------- /proc


@dataclass(frozen=True)
class TaskSample:
    """One thread's counters: CPU ticks, CPU ns (schedstat) and context switches."""

    comm: str
    ticks: int
    cpu_ns: int | None
    switches: int
    waits_in: str


def _stat_fields(path: Path) -> list[str]:
    """/proc/.../stat after the comm field (which may hold spaces and parentheses)."""
    text = path.read_text()
    return text[text.rindex(")") + 2:].split()


def process_ticks(pid: int) -> int:
    """utime + stime of the whole process (every thread, exited ones included)."""
    fields = _stat_fields(Path(f"/proc/{pid}/stat"))
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)


def process_memory(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM, RssAnon, RssFile, RssShmem and Threads from /proc/<pid>/status (kB)."""
    wanted = ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem", "Threads")
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in wanted:
            values[key] = int(rest.split()[0])
    return values


def _waits_in(task: Path) -> str:
    """Where a thread is blocked: its kernel wait channel and/or system call, when readable."""
    parts: list[str] = []
    with contextlib.suppress(OSError):
        wchan = (task / "wchan").read_text().strip()
        if wchan and wchan != "0":
            parts.append(wchan)
    with contextlib.suppress(OSError, ValueError, IndexError):
        raw = (task / "syscall").read_text().split()
        if raw and raw[0] not in ("running", "-1"):
            number = int(raw[0])
            name = (X86_64_SYSCALLS.get(number) if platform.machine() == "x86_64" else None)
            parts.append(name or f"syscall {number}")
    return "/".join(parts) or "?"


def thread_samples(pid: int) -> dict[int, TaskSample]:
    samples: dict[int, TaskSample] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = _stat_fields(task / "stat")
            comm = (task / "comm").read_text().strip()
            status = {k: v.strip() for k, _, v in (line.partition(":") for line in
                                                   (task / "status").read_text().splitlines())}
            cpu_ns: int | None = None
            with contextlib.suppress(OSError, ValueError, IndexError):
                cpu_ns = int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError):
            continue  # the thread exited while it was read
        samples[int(task.name)] = TaskSample(
            comm=comm, ticks=int(fields[11]) + int(fields[12]), cpu_ns=cpu_ns,
            switches=int(status.get("voluntary_ctxt_switches", 0))
            + int(status.get("nonvoluntary_ctxt_switches", 0)),
            waits_in=_waits_in(task))
    return samples


# --------------------------------------------------------------------------- the app


class App:
    """`python -m kairos_desktop.cli run [--headless]` on a fresh home, against the fake."""

    def __init__(self, root: Path, env: dict[str, str], fake: FakeAnthropic, *,
                 headless: bool) -> None:
        root.mkdir(parents=True)
        self.home = Home(root / "home").ensure()
        self.home.settings_file.write_text(
            json.dumps({"inboxDir": str(root / "inbox")}, indent=2), encoding="utf-8")
        self.env = {**env, "KAIROS_HOME": str(self.home.root), "ANTHROPIC_API_KEY": "bench",
                    "ANTHROPIC_BASE_URL": fake.base_url}
        self.headless = headless
        self.log_path = root / "app.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.client: ControlClient | None = None
        self.exit_status: int | None = None
        self.stop_s: float | None = None
        self.stopped_cleanly = False

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, exit_after: float) -> float:
        """Spawn the app; returns the perf_counter() just before Popen. `--exit-after` is a
        safety net: if the bench is killed, the app still stops on its own."""
        args = [sys.executable, "-m", "kairos_desktop.cli", "run", "--exit-after",
                f"{exit_after:g}", *(["--headless"] if self.headless else [])]
        with open(self.log_path, "wb") as log:
            began = now()
            self.proc = subprocess.Popen(args, env=self.env, cwd=REPO_ROOT, stdout=log,
                                         stderr=subprocess.STDOUT)
        return began

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise BenchError(f"`kairos run` exited with status {self.proc.returncode}\n"
                             f"{self.log_tail()}")

    def connect(self) -> ControlClient | None:
        if self.client is None:
            try:
                self.client = ControlClient.for_home(self.home)
            except NotRunningError:
                return None
        return self.client

    def status(self) -> dict[str, Any]:
        client = self.connect()
        if client is None:
            raise BenchError("the control API is not up")
        return client.status()

    def wait_sleeping(self, turns: int = 1) -> dict[str, Any]:
        def asleep() -> dict[str, Any] | None:
            if self.connect() is None:
                return None
            status = self.status()
            if status.get("state") in ("error", "offline", "no_api_key"):
                raise BenchError(f"the engine is {status['state']}: {status.get('detail')}")
            done = status.get("state") == "sleeping" and status.get("turns", 0) >= turns
            return status if done else None

        return _wait("the engine to sleep after its first tick", asleep, START_TIMEOUT_S,
                      self.check_alive)

    def stop(self) -> None:
        """Control API stop, then wait; SIGTERM, then kill if needed. Never raises."""
        proc = self.proc
        if proc is None or self.exit_status is not None:
            return
        began = now()
        if proc.poll() is None:
            asked = False
            if self.connect() is not None:
                with contextlib.suppress(KairosError, OSError):
                    assert self.client is not None
                    self.client.stop()
                    asked = True
            try:
                proc.wait(timeout=STOP_TIMEOUT_S if asked else 0.1)
                self.stopped_cleanly = asked
            except subprocess.TimeoutExpired:
                stop_process(proc)
        self.stop_s = now() - began
        self.exit_status = proc.returncode

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no app output)"
        tail = text.splitlines()[-lines:]
        return "app output (last lines):\n" + "\n".join(f"  | {x}" for x in tail)


# --------------------------------------------------------------------------- measurements


@dataclass
class Launch:
    control_s: float  # Popen -> run/control.json exists
    docked_s: float  # Popen -> the icon is in trayer's panel (read from the X server)
    cpu_s: float  # the app's CPU time (user + system) when it was seen docked
    visuals_cached: bool | None = None  # GDK_VISUALS on the root window before the launch
    rss_kb: int = 0  # VmRSS once asleep after the first tick
    gl_mapped: bool = False  # Mesa's DRI driver / LLVM mapped: GDK probed OpenGL


@dataclass
class ThreadRow:
    tid: int
    comm: str
    ticks: int
    cpu_ms: float | None
    switches: int
    waits_in: str
    main: bool
    new: bool  # started during the window (its counters start at 0)


@dataclass
class Idle:
    label: str
    pid: int
    window_s: float
    ticks: int
    rss_kb: list[int]
    memory_end: dict[str, int]
    threads: list[ThreadRow]
    exited_ticks: int  # ticks no live thread accounts for: threads that ended, read skew
    requests_before: int
    requests_after: int
    state_after: str
    turns_before: int
    turns_after: int
    gl_mapped: bool

    @property
    def cpu_percent(self) -> float:
        return 100.0 * self.ticks / CLK_TCK / self.window_s

    @property
    def rss_max_mb(self) -> float:
        return max(self.rss_kb) / 1024

    @property
    def rss_mean_mb(self) -> float:
        return statistics.fmean(self.rss_kb) / 1024


@dataclass
class Results:
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    launches: list[Launch] = field(default_factory=list)
    imports_s: list[float] = field(default_factory=list)
    bare_python_s: list[float] = field(default_factory=list)
    desktop: Idle | None = None
    headless: Idle | None = None
    headless_control_s: float | None = None
    headless_control_cpu_s: float = 0.0
    stops: list[tuple[str, int | None, float | None, bool]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def dock_median_s(self) -> float:
        return statistics.median(x.docked_s for x in self.launches)

    def verdicts(self) -> list[tuple[str, str, bool]]:
        rows: list[tuple[str, str, bool]] = []
        if self.launches:
            ok = self.dock_median_s < TARGET_DOCK_MEDIAN_S
            rows.append(("launch -> icon docked (median)",
                         f"{self.dock_median_s:.3f} s  (target < {TARGET_DOCK_MEDIAN_S:g} s)", ok))
        if self.desktop is not None:
            rows.append(("idle RSS, desktop (max)",
                         f"{self.desktop.rss_max_mb:.1f} MB  (target < {TARGET_RSS_MB:g} MB)",
                         self.desktop.rss_max_mb < TARGET_RSS_MB))
            rows.append(("idle CPU, desktop",
                         f"{self.desktop.cpu_percent:.3f} %  (target < "
                         f"{TARGET_CPU_PERCENT:g} %)",
                         self.desktop.cpu_percent < TARGET_CPU_PERCENT))
        return rows

    @property
    def ok(self) -> bool:
        return all(ok for _, _, ok in self.verdicts())


def time_command(args: Sequence[str], env: dict[str, str]) -> float:
    began = now()
    subprocess.run(list(args), env=env, cwd=REPO_ROOT, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60)
    return now() - began


def _icon_in_tray(env: dict[str, str]) -> bool:
    """True once trayer's panel holds a window named like the app's tooltip ("Kairos: ...").
    Read from the X server itself: the icon docks before the engine (and its control API) is
    up, so asking the app would measure the engine's start instead."""
    tree = subprocess.run(["xwininfo", "-root", "-tree"], env=env, capture_output=True,
                          text=True, timeout=10).stdout
    return '"Kairos:' in tree


def launch(app: App, exit_after: float) -> Launch:
    """Popen -> the icon docked in the tray (seen on the X server), and Popen -> the engine's
    control API answering with the icon embedded."""
    began = app.start(exit_after)
    control_s: float | None = None
    docked_s: float | None = None
    cpu_s = 0.0

    def docked() -> bool:
        nonlocal docked_s, cpu_s
        if _icon_in_tray(app.env):
            docked_s = now() - began
            cpu_s = process_ticks(app.pid) / CLK_TCK
            return True
        return False

    def engine_up() -> bool:
        nonlocal control_s
        if app.connect() is None:
            return False
        if app.status().get("tray", {}).get("embedded"):
            control_s = now() - began
            return True
        return False

    _wait("the tray icon to dock", docked, START_TIMEOUT_S, app.check_alive)
    _wait("the engine's control API", engine_up, START_TIMEOUT_S, app.check_alive)
    assert control_s is not None and docked_s is not None
    return Launch(control_s=control_s, docked_s=docked_s, cpu_s=cpu_s)


def measure_idle(app: App, fake: FakeAnthropic, seconds: float, settle: float,
                 label: str) -> Idle:
    """After the first tick's Sleep: CPU and RSS over `seconds`, touching only /proc (a status
    request would wake the app's threads and be counted)."""
    status = app.wait_sleeping()
    turns_before = int(status.get("turns", 0))
    time.sleep(settle)  # let the last status request's work (HTTP, GTK idle probe) finish
    requests_before = len(fake.history)
    pid = app.pid
    threads_before = thread_samples(pid)
    ticks_before = process_ticks(pid)
    began = now()
    rss: list[int] = []
    next_sample = began
    while True:
        app.check_alive()
        rss.append(process_memory(pid)["VmRSS"])
        next_sample += RSS_SAMPLE_S
        if next_sample - began > seconds + 1e-6:
            break
        time.sleep(max(0.0, next_sample - now()))
    remaining = began + seconds - now()
    if remaining > 0:
        time.sleep(remaining)
    ticks_after = process_ticks(pid)
    threads_after = thread_samples(pid)
    window = now() - began
    memory_end = process_memory(pid)
    requests_after = len(fake.history)
    status = app.status()

    rows: list[ThreadRow] = []
    for tid, after in sorted(threads_after.items()):
        before = threads_before.get(tid)
        cpu_ms: float | None = None
        if after.cpu_ns is not None and (before is None or before.cpu_ns is not None):
            cpu_ms = (after.cpu_ns - (before.cpu_ns if before and before.cpu_ns else 0)) / 1e6
        rows.append(ThreadRow(
            tid=tid, comm=after.comm, ticks=after.ticks - (before.ticks if before else 0),
            cpu_ms=cpu_ms, switches=after.switches - (before.switches if before else 0),
            waits_in=after.waits_in, main=tid == pid, new=before is None))
    total = ticks_after - ticks_before
    return Idle(label=label, pid=pid, window_s=window, ticks=total, rss_kb=rss,
                memory_end=memory_end, threads=rows,
                exited_ticks=max(0, total - sum(r.ticks for r in rows)),
                requests_before=requests_before, requests_after=requests_after,
                state_after=str(status.get("state")), turns_before=turns_before,
                turns_after=int(status.get("turns", 0)), gl_mapped=gl_mapped(pid))


def run_bench(launches: int, seconds: float, settle: float, headless: bool,
              progress: Callable[[str], None]) -> Results:
    results = Results(load_before=os.getloadavg())
    with contextlib.ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kairos-footprint-")))
        fake = stack.enter_context(FakeAnthropic(on_empty=tool_use("Sleep",
                                                                   {"seconds": SLEEP_S})))
        progress("starting the desktop session (Xvfb, D-Bus, trayer)")
        env = stack.enter_context(desktop_session(root / "session"))
        apps: list[App] = []

        def stop_all() -> None:
            for app in apps:
                app.stop()

        stack.callback(stop_all)

        py_env = {**env, "KAIROS_HOME": str(root / "unused-home")}
        for _ in range(launches):
            results.bare_python_s.append(time_command([sys.executable, "-c", "pass"], py_env))
            results.imports_s.append(time_command(
                [sys.executable, "-c", "import kairos_desktop.cli"], py_env))

        idle_exit_after = START_TIMEOUT_S + settle + seconds + 120
        for i in range(launches):
            last = i == launches - 1
            app = App(root / f"desktop-{i + 1}", env, fake, headless=False)
            apps.append(app)
            cached = gdk_visuals_cached(env["DISPLAY"])
            result = launch(app, idle_exit_after if last else START_TIMEOUT_S + 120)
            app.wait_sleeping()  # the launches are stopped from the same state
            result.visuals_cached = cached
            result.rss_kb = process_memory(app.pid)["VmRSS"]
            result.gl_mapped = gl_mapped(app.pid)
            results.launches.append(result)
            progress(f"launch {i + 1}/{launches}: control.json {result.control_s:.3f} s, "
                     f"docked {result.docked_s:.3f} s, RSS asleep {result.rss_kb / 1024:.1f} MB")
            if not last:
                app.stop()
                _record_stop(results, f"desktop launch {i + 1}", app)
        progress(f"measuring the idle desktop app for {seconds:g} s")
        results.desktop = measure_idle(apps[-1], fake, seconds, settle, "kairos run (desktop)")
        apps[-1].stop()
        _record_stop(results, f"desktop launch {launches} (idle)", apps[-1])

        if headless:
            app = App(root / "headless", env, fake, headless=True)
            apps.append(app)
            began = app.start(idle_exit_after)
            _wait("the control API (run/control.json)", app.connect, START_TIMEOUT_S,
                   app.check_alive)
            results.headless_control_s = now() - began
            results.headless_control_cpu_s = process_ticks(app.pid) / CLK_TCK
            progress(f"measuring the idle headless app for {seconds:g} s")
            results.headless = measure_idle(app, fake, seconds, settle,
                                            "kairos run --headless")
            app.stop()
            _record_stop(results, "headless", app)
    results.load_after = os.getloadavg()
    return results


def _record_stop(results: Results, label: str, app: App) -> None:
    results.stops.append((label, app.exit_status, app.stop_s, app.stopped_cleanly))
    if app.exit_status != 0 or not app.stopped_cleanly:
        results.warnings.append(f"{label}: exit status {app.exit_status}, "
                                f"{'clean stop' if app.stopped_cleanly else 'had to be killed'}"
                                f"\n{app.log_tail()}")
    elif not app.headless and "stopped." not in app.log_path.read_text(errors="replace"):
        results.warnings.append(f"{label}: no 'stopped.' line in its output\n{app.log_tail()}")


# --------------------------------------------------------------------------- report


def _spread(label: str, values: list[float]) -> str:
    if not values:
        return f"  {label:<44} (no samples)"
    return (f"  {label:<44} n={len(values):<3} min {min(values):6.3f}  median "
            f"{statistics.median(values):6.3f}  max {max(values):6.3f}  s")


def _idle_lines(idle: Idle, cpu_target: float | None) -> list[str]:
    mem = idle.memory_end
    precise = sum(r.cpu_ms for r in idle.threads if r.cpu_ms is not None)
    lines = [
        f"{idle.label} (pid {idle.pid}), idle over {idle.window_s:.1f} s"
        f"{', GL probed at start (Mesa/LLVM mapped)' if idle.gl_mapped else ''}:",
        f"  CPU   {idle.ticks} ticks (SC_CLK_TCK {CLK_TCK}) = {idle.ticks / CLK_TCK:.2f} s "
        f"= {idle.cpu_percent:.3f} % of one CPU (schedstat, live threads: {precise:.1f} ms)",
        f"  RSS   max {idle.rss_max_mb:.1f} MB, mean {idle.rss_mean_mb:.1f} MB over "
        f"{len(idle.rss_kb)} samples (min {min(idle.rss_kb) / 1024:.1f} MB)",
        f"        at the end: anon {mem.get('RssAnon', 0) / 1024:.1f} MB, file "
        f"{mem.get('RssFile', 0) / 1024:.1f} MB, shmem {mem.get('RssShmem', 0) / 1024:.1f} MB; "
        f"peak since launch (VmHWM) {mem.get('VmHWM', 0) / 1024:.1f} MB; "
        f"{mem.get('Threads', 0)} threads",
        f"  model requests during the window: {idle.requests_after - idle.requests_before}; "
        f"state after: {idle.state_after}, turns {idle.turns_before} -> {idle.turns_after}",
        "  per thread over the window (wake-ups = context switches; ticks are rounded per "
        "thread, the process figure above is the one that counts):",
        "      tid  comm              ticks   cpu ms  wake-ups  waits in",
    ]
    for row in sorted(idle.threads, key=lambda r: (-r.ticks, -(r.cpu_ms or 0), r.tid)):
        name = row.comm + (" (main)" if row.main else "") + (" (new)" if row.new else "")
        cpu = f"{row.cpu_ms:8.1f}" if row.cpu_ms is not None else "       ?"
        lines.append(f"  {row.tid:>7}  {name:<16} {row.ticks:>6} {cpu} {row.switches:>9}  "
                     f"{row.waits_in}")
    if idle.exited_ticks:
        lines.append(f"  not in any live thread (exited threads, read skew): {idle.exited_ticks} "
                     "ticks")
    if cpu_target is not None and idle.cpu_percent >= cpu_target and idle.threads:
        worst = max(idle.threads, key=lambda r: (r.ticks, r.cpu_ms or 0))
        lines.append(f"  -> the CPU goes to thread {worst.tid} ({worst.comm}"
                     f"{', the main/GTK thread' if worst.main else ''}): {worst.ticks} ticks, "
                     f"{worst.switches} wake-ups in {idle.window_s:.0f} s, waiting in "
                     f"{worst.waits_in}")
    return lines


def report(results: Results, seconds: float, settle: float) -> str:
    lines = [
        "kairos footprint bench: `python -m kairos_desktop.cli run` on Xvfb + D-Bus (dunst) + "
        "trayer, GTK tray backend, fake model answering Sleep "
        f"{SLEEP_S:g} s; python {platform.python_version()}, {os.cpu_count()} CPU(s)",
        "  load average (1/5/15 min) before "
        + "/".join(f"{x:.2f}" for x in results.load_before) + ", after "
        + "/".join(f"{x:.2f}" for x in results.load_after)
        + ": wall times include whatever else this machine runs",
        "",
        "start-up (Popen -> event, fresh home each launch; polled every "
        f"{POLL_S * 1000:g} ms):",
        _spread("launch -> icon docked (X server)", [x.docked_s for x in results.launches]),
        _spread("launch -> run/control.json", [x.control_s for x in results.launches]),
        _spread('python -c "import kairos_desktop.cli"', results.imports_s),
        _spread('python -c "pass"', results.bare_python_s),
    ]
    for i, x in enumerate(results.launches, 1):
        lines.append(f"  launch {i}: docked {x.docked_s:.3f} s (app CPU by then {x.cpu_s:.2f} s), "
                     f"control.json {x.control_s:.3f} s, RSS asleep {x.rss_kb / 1024:.1f} MB"
                     + (" <- GL probed (Mesa/LLVM mapped)" if x.gl_mapped else "")
                     + (": the first GTK 3 client on this display (no GDK_VISUALS yet)"
                        if x.visuals_cached is False else ""))
    if results.headless_control_s is not None:
        lines.append(f"  headless: launch -> control API up in {results.headless_control_s:.3f} s "
                     f"(app CPU by then {results.headless_control_cpu_s:.2f} s; one launch, "
                     "right after the desktop idle window)")
    lines.append("")
    lines.append(f"idle (after the first tick's Sleep and {settle:g} s to settle; the bench only "
                 f"reads /proc during the window, {seconds:g} s):")
    if results.desktop is not None:
        lines += _idle_lines(results.desktop, TARGET_CPU_PERCENT)
    if results.headless is not None:
        lines.append("")
        lines += _idle_lines(results.headless, None)
        if results.desktop is not None:
            d, h = results.desktop, results.headless
            lines.append(f"  desktop - headless: {d.rss_max_mb - h.rss_max_mb:+.1f} MB RSS (max), "
                         f"{d.cpu_percent - h.cpu_percent:+.3f} % CPU")
    lines.append("")
    lines.append("stops (control API stop, then wait):")
    for label, status, stop_s, clean in results.stops:
        lines.append(f"  {label:<30} exit {status}, {stop_s or 0:.2f} s"
                     f"{'' if clean else ', KILLED'}")
    for warning in results.warnings:
        lines.append(f"WARNING: {warning}")
    lines.append("")
    lines.append(f"  {'target':<34} {'measured':<36} verdict")
    for name, measured, ok in results.verdicts():
        lines.append(f"  {name:<34} {measured:<36} {'PASS' if ok else 'FAIL'}")
    lines.append(f"{'PASS' if results.ok else 'FAIL'}")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.footprint",
        description="Time the tray icon's appearance and measure the idle app's RSS and CPU, "
                    "on a virtual desktop (Xvfb, D-Bus, dunst, trayer).")
    parser.add_argument("--launches", type=int, default=5,
                        help="desktop launches to time (default 5); the last one is measured "
                             "idle")
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="idle window for RSS and CPU, each app (default 60)")
    parser.add_argument("--settle", type=float, default=1.0,
                        help="seconds between the first Sleep and the idle window (default 1)")
    parser.add_argument("--no-headless", dest="headless", action="store_false",
                        help="skip the `kairos run --headless` comparison")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when a target is missed (default: always exit 0)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _common.unwind_on_sigterm()
    if args.launches < 1 or not math.isfinite(args.seconds) or args.seconds < 1 \
            or args.settle < 0:
        print("footprint: --launches must be at least 1, --seconds at least 1, --settle >= 0",
              file=sys.stderr)
        return 2
    if not sys.platform.startswith("linux"):
        print("footprint: needs Linux (/proc, Xvfb)", file=sys.stderr)
        return 2

    def progress(text: str) -> None:
        print(f"... {text}", file=sys.stderr, flush=True)

    try:
        results = run_bench(args.launches, args.seconds, args.settle, args.headless, progress)
    except (BenchError, KairosError, OSError, subprocess.SubprocessError) as exc:
        print(f"footprint: could not measure: {exc}", file=sys.stderr)
        return 1
    print(report(results, args.seconds, args.settle), flush=True)
    return 1 if args.check and not results.ok else 0


if __name__ == "__main__":
    sys.exit(main())
