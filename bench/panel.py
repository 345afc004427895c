"""How long "Open" takes to show an interactive panel, and what the open window costs in memory.

Why: the panel is a pywebview window in a child process started per opening (see
kairos_desktop/desktop/panel.py), so every "Open" pays for a Python start, WebKit's start and the
page's first render. The target is an interactive page in under 1.5 s.

Real processes, real time: `kairos run --headless` in a subprocess on a temp home serves the page
(its model is FakeAnthropic, scripted to answer with a 3000 s Sleep); this process opens the page
with `PanelWindow`, exactly as the tray app does, `--n` times (default 5), closing the window in
between. Per opening, from just before `PanelWindow.open()` (all times time.monotonic() in this
process):
  * shown: the child reports the window shown (pywebview's `shown` event);
  * loaded: the child reports the page loaded (pywebview's `loaded` event);
  * ready: the page's POST /api/panel/ready after its first render, seen here as the `panel`
    event on the control API's event stream: the page is interactive. The target applies to it
    (to `loaded` when the page never reports ready).
Then, with the page ready, the resident memory (VmRSS) of the child and of WebKit's helper
processes below it, each printed apart; their sum double-counts shared libraries, so the
proportional share (Pss, from smaps_rollup) of the whole group is printed too.

Without DISPLAY the bench starts its own Xvfb and session bus (apt: xvfb dbus).

Run from the repository root:  python -m bench.panel [--n 5] [--check]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The spawned window process re-imports this module (multiprocessing's spawn re-imports the
# parent's __main__): only the standard library and panel.py at the top, the rest in main().
REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench import _common  # noqa: E402
from bench._common import BenchError  # noqa: E402
from kairos_desktop.desktop.panel import PanelWindow  # noqa: E402

TARGET_S = 1.5
STEP_TIMEOUT_S = 20.0
WEBKIT = ("WebKitWebProcess", "WebKitNetworkProcess", "WebKitGPUProcess")
now = time.monotonic


@dataclass
class Opening:
    shown_s: float | None
    loaded_s: float | None
    ready_s: float | None
    close_s: float
    exit_code: int | None
    rss_kib: dict[str, int] = field(default_factory=dict)  # "python (panel)", WebKit names
    pss_kib: int = 0


# -- the display -------------------------------------------------------------------------------


@contextlib.contextmanager
def display() -> Iterator[dict[str, str]]:
    """This session's display, or a private Xvfb and session bus for the bench's duration."""
    env = dict(os.environ)
    if env.get("DISPLAY"):
        yield env
        return
    for program in ("Xvfb", "dbus-daemon"):
        if shutil.which(program) is None:
            raise BenchError(f"no DISPLAY and no {program} to make one (apt-get install xvfb "
                             "dbus)")
    procs: list[subprocess.Popen[Any]] = []
    try:
        number = _common.start_xvfb(procs)
        address = _common.start_session_bus(procs, env)
        env.update(DISPLAY=number, DBUS_SESSION_BUS_ADDRESS=address, GDK_BACKEND="x11",
                   NO_AT_BRIDGE="1")
        env.pop("WAYLAND_DISPLAY", None)
        yield env
    finally:
        for proc in reversed(procs):  # the bus, then Xvfb
            _common.stop_process(proc)


# -- the engine and its event stream -----------------------------------------------------------


class Engine(_common.HeadlessEngine):
    """The engine serving the page, and the `panel` events of its stream (the page's
    POST /api/panel/ready after its first render)."""

    def __init__(self, root: Path, env: dict[str, str], base_url: str) -> None:
        super().__init__(root, base_url, env)
        self.ready_at: list[float] = []
        self._ready = threading.Condition()
        self._stream: Any = None

    def start(self, exit_after: float, timeout: float = STEP_TIMEOUT_S,
              poll: float = 0.02) -> None:
        super().start(exit_after, timeout, poll)
        self._stream = urllib.request.urlopen(
            f"{self.client.url}/api/events?token={self.client.token}", timeout=3600)
        threading.Thread(target=self._follow, name="bench-events", daemon=True).start()

    @property
    def page_url(self) -> str:
        return f"{self.client.url}/?token={self.client.token}"

    def _follow(self) -> None:
        event = ""
        with contextlib.suppress(OSError, ValueError, AttributeError):  # closed at the end
            for raw in self._stream:
                line = raw.decode().rstrip("\n")
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif (line.startswith("data:") and event == "panel"
                      and json.loads(line[5:]).get("ready")):
                    with self._ready:
                        self.ready_at.append(now())
                        self._ready.notify_all()

    def wait_ready(self, after: float, timeout: float) -> float | None:
        deadline = now() + timeout
        with self._ready:
            while True:
                late = [t for t in self.ready_at if t >= after]
                if late:
                    return late[0]
                if now() >= deadline:
                    return None
                self._ready.wait(deadline - now())

    def stop(self) -> None:
        if self._stream is not None:
            with contextlib.suppress(OSError):
                self._stream.close()
        super().stop()


# -- memory ------------------------------------------------------------------------------------


def _tree(pid: int) -> list[int]:
    """`pid` and every process below it."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat[stat.rindex(")") + 2:].split()[1])
    found, frontier = [pid], [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                found.append(child)
                frontier.append(child)
    return found


def _kib(path: Path, key: str) -> int:
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def memory(pid: int) -> tuple[dict[str, int], int]:
    """({process name: VmRSS KiB}, Pss KiB of the whole group) for `pid` and its children."""
    rss: dict[str, int] = {}
    pss = 0
    for member in _tree(pid):
        proc = Path(f"/proc/{member}")
        with contextlib.suppress(OSError):
            argv0 = Path((proc / "cmdline").read_bytes().split(b"\0")[0].decode()).name
            name = "python (the panel process)" if member == pid else argv0
            rss[name] = rss.get(name, 0) + _kib(proc / "status", "VmRSS")
            pss += _kib(proc / "smaps_rollup", "Pss")
    return rss, pss


# -- the measurement ---------------------------------------------------------------------------


def measure(n: int) -> tuple[list[Opening], dict[str, Any]]:
    from tests.fakes.anthropic_server import FakeAnthropic, tool_use

    info: dict[str, Any] = {}
    openings: list[Opening] = []
    with (display() as env, tempfile.TemporaryDirectory(prefix="kairos-panel-bench-") as tmp,
          FakeAnthropic(on_empty=tool_use("Sleep", {"seconds": 3000})) as fake):
        info["display"] = env["DISPLAY"]
        # The window's process inherits this process's environment.
        os.environ.update({k: env[k] for k in ("DISPLAY", "DBUS_SESSION_BUS_ADDRESS",
                                               "GDK_BACKEND", "NO_AT_BRIDGE") if k in env})
        engine = Engine(Path(tmp), env, fake.base_url)
        panel = PanelWindow()
        try:
            engine.start(exit_after=60 + 15.0 * n)
            for _ in range(n):
                t0 = now()
                run = panel.open(engine.page_url, view="chat", title="Kairos bench")
                loaded = panel.wait_loaded(STEP_TIMEOUT_S)
                ready = engine.wait_ready(t0, STEP_TIMEOUT_S if loaded else 0)
                if loaded is None and run.ended.is_set():
                    raise BenchError(f"the window process exited ({run.process.exitcode}) "
                                     "before its page loaded")
                time.sleep(0.5)  # the first render's allocations settle
                rss, pss = memory(run.process.pid or 0)
                c0 = now()
                exit_code = panel.close()
                openings.append(Opening(
                    shown_s=run.shown_at - t0 if run.shown_at else None,
                    loaded_s=loaded - t0 if loaded else None,
                    ready_s=ready - t0 if ready else None,
                    close_s=now() - c0, exit_code=exit_code, rss_kib=rss, pss_kib=pss))
        finally:
            panel.close()
            engine.stop()
    return openings, info


def _line(label: str, samples: list[float]) -> str:
    if not samples:
        return f"  {label:<38} (not reported)"
    p = _common.percentile
    return (f"  {label:<38} n={len(samples):<3} min {min(samples):6.3f}  median "
            f"{p(samples, 50):6.3f}  p95 {p(samples, 95):6.3f}  max {max(samples):6.3f}  s")


def report(openings: list[Opening], info: dict[str, Any]) -> tuple[str, bool]:
    def pick(attr: str) -> list[float]:
        return [v for o in openings if (v := getattr(o, attr)) is not None]

    ready, loaded = pick("ready_s"), pick("loaded_s")
    judged, what = (ready, "ready") if ready else (loaded, "loaded")
    p95 = _common.percentile(judged, 95) if judged else float("inf")
    ok = bool(judged) and len(judged) == len(openings) and p95 < TARGET_S
    lines = [f"kairos panel bench: PanelWindow.open() -> the page, {len(openings)} openings "
             f"(display {info['display']}, GUI {os.environ.get('PYWEBVIEW_GUI', 'gtk')})", "",
             _line("open -> window shown", pick("shown_s")),
             _line("open -> page loaded (pywebview)", loaded),
             _line("open -> page ready (/api/panel/ready)", ready),
             _line("close() -> process ended", pick("close_s")), ""]
    if not ready:
        lines.append("  the page never reported ready (no POST /api/panel/ready or no `panel` "
                     "event): judged on `loaded`")
    names = sorted({name for o in openings for name in o.rss_kib},
                   key=lambda x: (not x.startswith("python"), x))
    lines.append("  memory with the page ready (median over openings, MiB):")
    for name in names:
        values = [o.rss_kib[name] / 1024 for o in openings if name in o.rss_kib]
        lines.append(f"    {name:<36} RSS {_common.percentile(values, 50):7.1f}")
    totals = [sum(o.rss_kib.values()) / 1024 for o in openings]
    pss = [o.pss_kib / 1024 for o in openings]
    lines.append(f"    {'sum of RSS':<36} RSS {_common.percentile(totals, 50):7.1f}  "
                 f"(shared libraries counted in each)")
    lines.append(f"    {'the whole group, proportional':<36} PSS "
                 f"{_common.percentile(pss, 50):7.1f}")
    codes = sorted({o.exit_code for o in openings}, key=str)
    lines += ["", f"  window processes ended with exit code(s) {codes}", "",
              f"{_common.verdict(ok)}: open -> {what} p95 {p95:.3f} s "
              f"({'<' if ok else '>='} {TARGET_S:g} s)"]
    return "\n".join(lines), ok


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.panel",
        description="Time from PanelWindow.open() to an interactive panel; its memory.")
    parser.add_argument("--n", type=int, default=5, help="openings (default 5)")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when the target is missed (default: exit 0)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _common.unwind_on_sigterm()
    if args.n < 1:
        print("panel: --n must be at least 1", file=sys.stderr)
        return 2
    try:
        openings, info = measure(args.n)
    except BenchError as exc:
        print(f"panel: could not measure: {exc}", file=sys.stderr)
        return 1
    text, ok = report(openings, info)
    print(text, flush=True)
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
