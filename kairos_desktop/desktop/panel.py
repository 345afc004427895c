"""The panel window: the control API's page in a pywebview window, in a child process.

Why a child process, started with the "spawn" context:
- `webview.start()` must run on a process's main thread, and the app's main thread belongs to the
  tray's GUI loop. Forking from the app (a thread-heavy GTK process) fails ("pywebview must be run
  on a main thread") and would copy the engine's state besides; spawn starts a fresh interpreter.
- A second `webview.start()` in one process fails on GTK, so each opening is its own child:
  closing the window ends `webview.start()`, the child exits 0, and the next opening spawns anew.
- The window's memory (this process and WebKit's web and network processes: about 300 MB PSS
  under Xvfb) goes back to the system when the user closes it, instead of sitting in the
  always-on app.

The child imports webview and nothing of the engine: it gets the URL, title and view as
arguments and talks to the app over a Pipe. (Spawn does re-import the app's `__main__` module,
the `kairos` CLI, about 90 ms; that imports no engine either.) One window at a time: opening again
while the child lives sends it "focus" (and the view to show) instead of starting another.
From the first opening on, multiprocessing also keeps its resource tracker (a Python process of
about 13 MB RSS) until the app exits.

The child runs with the app's environment, unchanged: WebKitGTK needs nothing more under Xvfb
as root without a GPU (measured with 2.50: the 4.1 API does not turn on its bubblewrap sandbox,
so no WEBKIT_DISABLE_SANDBOX_THIS_IS_DANGEROUS; compositing falls back to software GL).
WEBKIT_DISABLE_COMPOSITING_MODE=1 is deliberately not set: without a GPU it saves about 70 MB
(PSS of the window's processes 298 -> 227 MB) but slows the first render (median open -> ready
1.1 -> 1.7 s, past the 1.5 s target; bench/panel.py). A user can still set it, or
WEBKIT_DISABLE_DMABUF_RENDERER=1, against a blank window on a broken GPU driver; PYWEBVIEW_GUI=qt
picks the Qt backend.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger(__name__)

WIDTH, HEIGHT = 1000, 720
MIN_SIZE = (640, 480)
CLOSE_GRACE_S = 3.0  # a clean close (window destroyed, webview.start returns) takes ~0.1 s


@dataclass
class PanelRun:
    """One opening of the window: the child and what it reported (time.monotonic() stamps,
    taken in this process when the report arrived)."""

    process: BaseProcess
    conn: Connection
    opened_at: float
    shown_at: float | None = None
    loaded_at: float | None = None
    ready_at: float | None = None  # the page said it is interactive (mark_ready)
    exitcode: int | None = None
    closed_by_app: bool = False  # close() was asked (Quit), rather than the user or a crash
    ended: threading.Event = field(default_factory=threading.Event)
    changed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def pid(self) -> int | None:
        return self.process.pid


class PanelWindow:
    """Owned by the desktop app; its methods may be called from any thread."""

    def __init__(self, *, on_closed: Callable[[PanelRun], None] | None = None) -> None:
        self._ctx = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._on_closed = on_closed
        self.run: PanelRun | None = None  # the current (or last) opening
        self.openings = 0  # child processes started

    @property
    def is_open(self) -> bool:
        # `ended`, not process.is_alive(): only the follower thread may reap the child (two
        # threads in waitpid race, and the loser takes a dead child for a live one).
        run = self.run
        return run is not None and not run.ended.is_set()

    def open(self, url: str, *, view: str | None = None, title: str = "Kairos") -> PanelRun:
        """Show the page at `url` (`view` becomes its #fragment): start the window, or focus
        the open one and switch it to `view`."""
        with self._lock:
            run = self.run
            if run is not None and self.is_open:
                with contextlib.suppress(OSError):  # closing at this very moment: start anew
                    run.conn.send(("focus", view, title))
                    return run
            parent_conn, child_conn = self._ctx.Pipe()
            target = url + (f"#{view}" if view else "")
            # daemon: should the app exit without close(), multiprocessing ends the child.
            process = self._ctx.Process(target=child_main, name="kairos-panel", daemon=True,
                                        args=(child_conn, target, title, _gui()))
            run = PanelRun(process, parent_conn, time.monotonic())
            process.start()
            child_conn.close()  # the child holds its end: EOF here once it exits
            self.run = run
            self.openings += 1
            threading.Thread(target=self._follow, args=(run,), name="kairos-panel-waiter",
                             daemon=True).start()
            return run

    def describe(self) -> dict[str, Any]:
        """For `kairos status`: is the window open, its process, how the last one ended."""
        run = self.run
        return {"open": self.is_open, "pid": run.pid if run else None,
                "openings": self.openings, "loaded": bool(run and run.loaded_at is not None),
                "ready": bool(run and run.ready_at is not None),
                "exitCode": run.exitcode if run else None}

    def mark_ready(self) -> None:
        """The open page reported its first render (POST /api/panel/ready)."""
        run = self.run
        if run is not None and self.is_open and run.ready_at is None:
            with run.changed:
                run.ready_at = time.monotonic()
                run.changed.notify_all()

    def set_title(self, title: str) -> None:
        """Retitle the open window (the assistant was renamed); nothing when it is closed."""
        run = self.run
        if run is not None and self.is_open:
            with contextlib.suppress(OSError):
                run.conn.send(("title", title))

    def close(self, grace: float = CLOSE_GRACE_S) -> int | None:
        """Close the window and wait for its process; terminate it after `grace` seconds, kill
        it after one more. Returns the exit code (None when nothing was open)."""
        run = self.run
        if run is None:
            return None
        if not run.ended.is_set():
            run.closed_by_app = True
            with contextlib.suppress(OSError):
                run.conn.send(("close",))
            if not run.ended.wait(grace):
                log.warning("the panel window did not close in %.1f s; terminating it", grace)
                run.process.terminate()
                if not run.ended.wait(1.0):
                    run.process.kill()
                    run.ended.wait(1.0)
        return run.exitcode

    def wait_loaded(self, timeout: float) -> float | None:
        """Block until the current window's page has loaded; its monotonic time, or None."""
        run = self.run
        if run is None:
            return None
        deadline = time.monotonic() + timeout
        with run.changed:
            while run.loaded_at is None and not run.ended.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                run.changed.wait(left)
        return run.loaded_at

    def _follow(self, run: PanelRun) -> None:
        """The child's reports until its end of the pipe closes (it exited), then reap it: the
        only place that waits for the child."""
        while True:
            try:
                message = run.conn.recv()
            except (EOFError, OSError):
                break
            with run.changed:
                if message[0] == "shown":
                    run.shown_at = time.monotonic()
                elif message[0] == "loaded" and run.loaded_at is None:
                    run.loaded_at = time.monotonic()
                run.changed.notify_all()
        run.process.join()
        run.exitcode = run.process.exitcode
        run.conn.close()
        with run.changed:
            run.ended.set()
            run.changed.notify_all()
        log.info("panel window closed (exit code %s)", run.exitcode)
        if self._on_closed is not None:
            self._on_closed(run)


def _gui() -> str | None:
    """PYWEBVIEW_GUI if set; GTK on Linux (pywebview would pick Qt under KDE, which the app
    does not install); the platform's own elsewhere."""
    if os.environ.get("PYWEBVIEW_GUI"):
        return os.environ["PYWEBVIEW_GUI"].lower()
    return "gtk" if sys.platform.startswith("linux") else None


# -- the child process -----------------------------------------------------------------------


def child_main(conn: Connection, url: str, title: str, gui: str | None) -> None:
    """Runs in the spawned child: one window until it closes, then the process ends."""
    if gui in (None, "gtk") and sys.platform.startswith("linux"):
        from gi.repository import GLib

        GLib.set_prgname("kairos")  # WM_CLASS: grouped with the tray, not named after argv[0]
    import webview

    window = webview.create_window(title, url, width=WIDTH, height=HEIGHT, min_size=MIN_SIZE,
                                   background_color="#FFFFFF")
    assert window is not None
    send_lock = threading.Lock()

    def report(*message: Any) -> None:
        with send_lock, contextlib.suppress(OSError):
            conn.send(message)

    window.events.shown += lambda: report("shown")
    window.events.loaded += lambda: report("loaded")
    threading.Thread(target=_serve_commands, args=(conn, window), name="panel-commands",
                     daemon=True).start()
    webview.start(gui=gui, private_mode=True)
    conn.close()


def _serve_commands(conn: Connection, window: Any) -> None:
    """The app's commands. The page's CSP forbids eval, so view switches use run_js (which
    pywebview does not wrap in eval), not evaluate_js. EOF (the app is gone) closes the window:
    the panel never outlives the app."""
    while True:
        try:
            command = conn.recv()
        except (EOFError, OSError):
            command = ("close",)
        try:
            if command[0] == "focus":
                _, view, title = command
                window.restore()
                window.show()
                window.set_title(title)
                if view:
                    window.run_js(f"location.hash = {json.dumps('#' + view)}")
            elif command[0] == "title":
                window.set_title(command[1])
            elif command[0] == "close":
                window.destroy()
                return
        except Exception:  # a window mid-close: the next command or EOF ends this loop
            log.exception("panel command %r failed", command[0])
