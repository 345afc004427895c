"""The desktop app: the tray on the main thread, the engine's asyncio loop on another.

One process per home: a second launch asks the running one to show itself and exits 0.
Quit closes the panel window, stops the engine cleanly (its turn ends or is cancelled; nothing
queued is lost), then the tray. The panel (panel.py) is the control API's page in a pywebview
window in a child process; "Open", "Settings...", a second launch and a click on a message
notification show it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import threading
import time
import webbrowser
from typing import Any

from ..control.client import ControlClient
from ..delivery.notifier import Notification
from ..errors import ConflictError, HomeLockedError, KairosError, NotRunningError
from ..events import Event
from ..home import Home
from .panel import PanelRun, PanelWindow

log = logging.getLogger(__name__)


def choose_backend() -> str:
    """pystray's backend: PYSTRAY_BACKEND if set; on Linux, AppIndicator where the desktop
    has no XEmbed tray (GNOME, KDE, Unity) and it is installed, else GTK."""
    if os.environ.get("PYSTRAY_BACKEND"):
        return os.environ["PYSTRAY_BACKEND"]
    if not sys.platform.startswith("linux"):
        return ""
    desktop = os.environ.get("XDG_CURRENT_DESKTOP", "").lower()
    if any(name in desktop for name in ("gnome", "kde", "unity", "ubuntu")):
        try:
            import gi

            gi.require_version("AyatanaAppIndicator3", "0.1")
            return "appindicator"
        except (ImportError, ValueError):
            pass
    return "gtk"


def run_desktop(home: Home, *, session_id: str | None, resume: bool,
                exit_after: float | None) -> int:
    try:
        ControlClient.for_home(home).show()
        print("kairos is already running; it was asked to show itself")
        return 0
    except NotRunningError:
        pass
    backend = choose_backend()
    if backend:
        os.environ["PYSTRAY_BACKEND"] = backend
    if backend in ("gtk", "appindicator"):
        from gi.repository import GLib

        GLib.set_prgname("kairos")  # the window class and the name desktops show for the tray
        GLib.set_application_name("Kairos")
    app = DesktopApp(home, session_id=session_id, resume=resume, exit_after=exit_after)
    return app.run()


class DesktopApp:
    """The icon shows first (in a "starting" state); the engine, whose import alone takes about
    a second (the anthropic SDK), comes up on its own thread meanwhile. Menu actions wait for it."""

    def __init__(self, home: Home, *, session_id: str | None, resume: bool,
                 exit_after: float | None) -> None:
        from .icons import app_icon_path
        from .notifier import NativeNotifier

        self.home = home
        self._session_id = session_id
        self._resume = resume
        self._exit_after = exit_after
        self.notifier = NativeNotifier("Kairos", icon=app_icon_path(), on_click=self._clicked,
                                       on_reveal=self._reveal, on_reply=self._replied,
                                       on_decide=self._decided)
        self.panel = PanelWindow(on_closed=self._panel_closed)
        self.engine: Any = None  # runtime.Engine, built on the engine thread: its life cycle
        self.app: Any = None  # its application API: everything the tray does goes through it
        self.loop = asyncio.new_event_loop()
        self.attention = False
        self.started_at = time.monotonic()
        self._ready = threading.Event()
        self._exit_code = 0
        self.tray: Any = None

    # -- threads -----------------------------------------------------------------------------

    def run(self) -> int:
        from .tray import Tray, TrayActions

        self.tray = Tray(TrayActions(
            open=lambda: self.open("chat"),
            wake=self._call(lambda: self.app.wake()),
            toggle_pause=self.toggle_pause,
            dream=self._call(lambda: self.app.start_dream(force=True)),
            settings=lambda: self.open("settings"), quit=self.quit,
            open_inbox_folder=self.open_inbox_folder,
            open_file=self._call_with(self._open_item), recent_files=self.recent_files,
            is_paused=lambda: self._ready.is_set() and self.app.is_paused(),
            name=lambda: self.app.assistant_name() if self._ready.is_set() else "Kairos"))
        self.tray.update("starting")
        engine_thread = threading.Thread(target=self._engine_main, name="kairos-engine",
                                         daemon=True)

        def icon_ready(icon: Any) -> None:
            # Only once the icon sits in the tray does the engine start: its import (about a
            # second of pure Python for the SDK) would otherwise hold the GIL while GTK docks.
            icon.visible = True
            self.tray.wait_embedded(timeout=3.0)
            engine_thread.start()

        try:
            self.tray.icon.run(setup=icon_ready)
        except Exception as exc:
            print(f"kairos: the tray could not start ({exc}); stopping. `kairos run --headless` "
                  "runs without a tray.", file=sys.stderr, flush=True)
            self.quit()
            if engine_thread.is_alive():
                engine_thread.join(timeout=30)
            os._exit(1)  # pystray may leave a non-daemon thread waiting for the icon
        self.panel.close()  # already closed by Quit; not yet when the stop came from elsewhere
        if engine_thread.is_alive():
            engine_thread.join(timeout=30)
        if self._exit_code == 0 and self.app is not None:
            print(f"{self.app.assistant_name()} stopped.", flush=True)
        return self._exit_code

    def _engine_main(self) -> None:
        from ..runtime import Engine  # about a second (the anthropic SDK): off the GUI thread

        asyncio.set_event_loop(self.loop)
        try:
            self.engine = Engine(self.home, notifier=self.notifier)
            self.app = self.engine.app
            self.loop.run_until_complete(self.engine.start(session_id=self._session_id,
                                                           resume=self._resume))
        except BaseException as exc:
            reason = str(exc) if isinstance(exc, HomeLockedError) else repr(exc)
            print(f"kairos: {reason}", file=sys.stderr, flush=True)
            self._exit_code = 1
            self.tray.icon.stop()
            return
        self.engine.on_show = self.open
        self.engine.status_extra["tray"] = self.tray.geometry
        self.engine.status_extra["desktop"] = lambda: {"attention": self.attention}
        self.engine.status_extra["panel"] = self.panel.describe
        self._ready.set()
        self._follow_engine()
        self.loop.create_task(self._close_panel_on_stop())
        print(f"{self.app.assistant_name()} is running in the tray (session "
              f"{self.app.status()['sessionId']}, home {self.home.root}).", flush=True)
        try:
            self.loop.run_until_complete(self.engine.run_until_stopped(self._exit_after))
        finally:
            self.tray.icon.stop()
            self.loop.close()

    async def _close_panel_on_stop(self) -> None:
        """Whatever asked the stop (Quit, `kairos stop`, a signal), the window goes first: it
        would only show the API going away."""
        await self.engine.stop_requested.wait()
        await asyncio.to_thread(self.panel.close)

    def _call(self, fn: Any) -> Any:
        """A menu action that runs `fn` on the engine's loop (ignored until it has started)."""
        return lambda: self._ready.is_set() and self.loop.call_soon_threadsafe(fn)

    def _call_with(self, fn: Any) -> Any:
        """Like _call, for an action with one argument."""
        return lambda arg: self._ready.is_set() and self.loop.call_soon_threadsafe(fn, arg)

    # -- engine -> tray ----------------------------------------------------------------------

    def _follow_engine(self) -> None:
        self.app.subscribe(self._on_event)
        self._refresh()

    def _on_event(self, event: Event) -> None:
        if event.kind == "notification":
            self.attention = not event.data.get("shown", True) or (
                self.attention and event.data.get("kind") != "message")
        if event.kind in ("state", "dream", "notification", "settings"):
            self._refresh()
        if event.kind == "settings":
            self.panel.set_title(self.app.assistant_name())
        if event.kind == "panel" and event.data.get("ready"):
            self.panel.mark_ready()
        if event.kind == "approval" and event.data.get("state") not in (None, "pending"):
            self.loop.create_task(self.notifier.withdraw(str(event.data.get("id"))))

    def _refresh(self) -> None:
        status = self.app.status()
        state = {"no_api_key": "offline", "offline": "offline", "error": "error",
                 "paused": "paused", "working": "working"}.get(status["state"], "sleeping")
        if status["dream"]["running"]:
            state = "dreaming"
        if self.attention and state in ("sleeping", "working"):
            state = "attention"
        detail = status["detail"][:60] if state in ("offline", "error") else ""
        if state == "sleeping":
            until = status["sleepingUntil"]
            detail = f"next wake {until[11:16]}" if until else "until something arrives"
        if state == "attention":
            detail = "a notification could not be shown; open the app to read it"
        if self.tray is not None:
            self.tray.update(state, detail)

    # -- actions -----------------------------------------------------------------------------

    def open(self, view: str | None = None) -> None:
        """Show the panel (at `view`, e.g. "settings"; else as the user left it, or the page's
        default view). Called from the tray's GUI thread and from the engine's loop."""
        if not self._ready.is_set():
            return
        self.attention = False
        self.panel.open(self.app.panel_address(), view=view, title=self.app.assistant_name())
        self.loop.call_soon_threadsafe(self._refresh)

    def _panel_closed(self, run: PanelRun) -> None:
        """A window that failed before showing its page (no WebKit, no display): the same page
        in the browser instead, so "Open" is never a dead click."""
        if run.exitcode and run.loaded_at is None and not run.closed_by_app \
                and self._ready.is_set():
            log.warning("the panel window failed (exit code %s); opening it in the browser",
                        run.exitcode)
            webbrowser.open(self.app.panel_link())

    def toggle_pause(self) -> None:
        if not self._ready.is_set():
            return

        def toggle() -> None:
            if self.app.is_paused():
                self.app.resume()
            else:
                self.app.pause()
        self.loop.call_soon_threadsafe(toggle)

    def quit(self) -> None:
        if self.engine is None or not self._ready.is_set():
            self.tray.icon.stop()  # nothing started yet: the engine thread ends on its own
            return
        self.loop.call_soon_threadsafe(self.app.request_stop)

    def open_inbox_folder(self) -> None:
        if self._ready.is_set():
            self.loop.call_soon_threadsafe(self.app.open_inbox_folder)

    def recent_files(self) -> list[tuple[str, str]]:
        if not self._ready.is_set():
            return []
        return [(("• " if not item["read"] else "") + item["title"], item["id"])
                for item in self.app.recent_files()]

    def _open_item(self, item_id: str) -> None:
        """Open a delivered file (marked read, for every front end); a program or script is
        shown in its folder instead, since opening it would run it."""
        try:
            self.app.open_inbox_item(item_id)
        except ConflictError:
            self.app.reveal_inbox_item(item_id)
        except KairosError as exc:  # gone, or never there
            log.warning("inbox item %s: %s", item_id, exc)

    # -- notification callbacks (engine loop) ------------------------------------------------

    def _clicked(self, notification: Notification) -> None:
        if notification.kind == "file" and notification.ref:
            self._open_item(notification.ref)
            return
        if notification.kind == "message" and notification.ref:
            with contextlib.suppress(KairosError):
                self.app.mark_message_read(notification.ref)
            self.open("chat")
            return
        self.open()  # an approval shows in the panel whatever its view

    def _reveal(self, notification: Notification) -> None:
        if notification.ref:
            try:
                self.app.reveal_inbox_item(notification.ref)
            except KairosError as exc:
                log.warning("inbox item %s: %s", notification.ref, exc)

    def _decided(self, notification: Notification, allow: bool) -> None:
        """Allow or Deny pressed on an approval notification."""
        approval_id = notification.ref
        if not approval_id:
            return

        def decide() -> None:
            try:
                self.app.decide_approval(approval_id, allow, by="notification")
            except KairosError as exc:  # decided elsewhere already, or expired
                log.warning("approval %s: %s", approval_id, exc)
        self.loop.call_soon_threadsafe(decide)

    def _replied(self, notification: Notification, text: str) -> None:
        self.app.reply_from_notification(text)
