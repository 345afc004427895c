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
from collections.abc import Callable
from typing import Any

from ..control.client import ControlClient
from ..delivery.notifier import Notification
from ..errors import ConflictError, HomeLockedError, KairosError, NotRunningError
from ..events import Event
from ..home import Home
from .host import TrayHost
from .panel import PanelRun, PanelWindow
from .trayview import INBOX_MENU_FILES, view_from_status

log = logging.getLogger(__name__)


def run_desktop(home: Home, *, session_id: str | None, resume: bool,
                exit_after: float | None) -> int:
    try:
        ControlClient.for_home(home).show()
        print("kairos is already running; it was asked to show itself")
        return 0
    except NotRunningError:
        pass
    from .host import detect

    app = DesktopApp(home, host=detect(), session_id=session_id, resume=resume,
                     exit_after=exit_after)
    return app.run()


def make_tray(host: TrayHost, on_action: Callable[[str, str | None], None]) -> Any:
    """The backend for the tray this session offers (host.py): a StatusNotifierItem, GTK's
    status icon in an XEmbed tray, or pystray's own on macOS and Windows. With no tray at all,
    the StatusNotifierItem too: unseen until a watcher appears, when it registers."""
    forced = os.environ.get("PYSTRAY_BACKEND", "")
    if (forced and forced != "gtk") or host.kind == "native":
        from .tray import PystrayTray

        return PystrayTray(on_action)
    if host.kind == "xembed" or forced == "gtk":
        from .tray import GtkTray

        return GtkTray(on_action)
    from .sni import StatusNotifierTray

    return StatusNotifierTray(on_action)


class DesktopApp:
    """The icon shows first (in a "starting" state); the engine, whose import alone takes about
    a second (the anthropic SDK), comes up on its own thread meanwhile. Menu actions wait for it.
    With no tray in the session, the panel window is shown instead once the engine is up."""

    def __init__(self, home: Home, *, host: TrayHost, session_id: str | None, resume: bool,
                 exit_after: float | None) -> None:
        from .icons import app_icon_path
        from .notifier import NativeNotifier

        self.home = home
        self.host = host
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
        self._quit_asked = False
        self._exit_code = 0
        self.tray: Any = None

    # -- threads -----------------------------------------------------------------------------

    def run(self) -> int:
        self.tray = make_tray(self.host, self._action)
        if self.host.kind == "none":
            message = (f"kairos: {self.host.detail}. The panel window is shown instead: "
                       "`kairos run` again shows it, `kairos stop` ends the app, and the icon "
                       "appears as soon as a tray starts.")
            print(message, file=sys.stderr, flush=True)
            log.warning("%s", message)
        engine_thread = threading.Thread(target=self._engine_main, name="kairos-engine",
                                         daemon=True)
        try:
            self.tray.run(on_ready=engine_thread.start, on_signal=self.quit)
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
            self.engine = Engine(self.home, notifier=self.notifier, freeze_heap=True)
            self.app = self.engine.app
            self.loop.run_until_complete(self.engine.start(session_id=self._session_id,
                                                           resume=self._resume))
        except BaseException as exc:
            reason = str(exc) if isinstance(exc, HomeLockedError) else repr(exc)
            print(f"kairos: {reason}", file=sys.stderr, flush=True)
            self._exit_code = 1
            self.tray.stop()
            return
        self.engine.on_show = self.open
        self.engine.status_extra["tray"] = self.tray_status
        self.engine.status_extra["desktop"] = lambda: {"attention": self.attention}
        self.engine.status_extra["panel"] = self.panel.describe
        self._ready.set()
        self._follow_engine()
        self.loop.create_task(self._close_panel_on_stop(), name="kairos-panel-closer")
        where = "in the tray" if self.host.kind != "none" else "without a tray icon"
        print(f"{self.app.assistant_name()} is running {where} (session "
              f"{self.app.status()['sessionId']}, home {self.home.root}).", flush=True)
        if self.host.kind == "none":
            self.app.note(f"{self.host.detail}; the panel window is shown instead of a tray "
                          "icon")
        if self._quit_asked:
            self.app.request_stop()
        elif self.host.kind == "none":
            self.open("chat")
        try:
            self.loop.run_until_complete(self.engine.run_until_stopped(self._exit_after))
            self._finish_tasks()
        finally:
            self.tray.stop()
            self.loop.close()

    def _finish_tasks(self) -> None:
        """What is still pending on the engine's loop once the engine stopped ends now, so
        closing the loop destroys no pending task."""
        pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))

    def tray_status(self) -> dict[str, Any]:
        """For `kairos status` and doctor: the tray host this session offers and the item."""
        info = {"host": self.host.kind, "hostDetail": self.host.detail, **self.tray.describe()}
        if self.host.kind == "none" and not info.get("registered"):
            info.update(backend="none", embedded=False,
                        shownInstead="the panel window")
        return info

    async def _close_panel_on_stop(self) -> None:
        """Whatever asked the stop (Quit, `kairos stop`, a signal), the window goes first: it
        would only show the API going away."""
        await self.engine.stop_requested.wait()
        await asyncio.to_thread(self.panel.close)

    def _call(self, fn: Any, *args: Any) -> None:
        """Run `fn(*args)` on the engine's loop (ignored until it has started)."""
        if self._ready.is_set():
            self.loop.call_soon_threadsafe(fn, *args)

    def _action(self, action: str, arg: str | None) -> None:
        """A menu line or a click on the icon (on the tray's thread)."""
        if action == "open":
            self.open("chat")
        elif action == "settings":
            self.open("settings")
        elif action == "quit":
            self.quit()
        elif action == "toggle_pause":
            self.toggle_pause()
        elif action == "wake":
            self._call(lambda: self.app.wake())
        elif action == "dream":
            self._call(lambda: self.app.start_dream(force=True))
        elif action == "open_inbox_folder":
            self._call(lambda: self.app.open_inbox_folder())
        elif action == "open_file" and arg:
            self._call(self._open_item, arg)

    # -- engine -> tray ----------------------------------------------------------------------

    def _follow_engine(self) -> None:
        self.app.subscribe(self._on_event)
        self._refresh()

    def _on_event(self, event: Event) -> None:
        if event.kind == "notification":
            self.attention = not event.data.get("shown", True) or (
                self.attention and event.data.get("kind") != "message")
        if event.kind in ("state", "dream", "notification", "settings", "file", "inbox"):
            self._refresh()
        if event.kind == "settings":
            self.panel.set_title(self.app.assistant_name())
        if event.kind == "panel" and event.data.get("ready"):
            self.panel.mark_ready()
        if event.kind == "approval" and event.data.get("state") not in (None, "pending"):
            self.loop.create_task(self.notifier.withdraw(str(event.data.get("id"))))

    def _refresh(self) -> None:
        """The tray's view, read through the application API on the engine's loop."""
        if self.tray is None:
            return
        self.tray.show(view_from_status(self.app.status(), name=self.app.assistant_name(),
                                        paused=self.app.is_paused(),
                                        recent=self.app.recent_files(INBOX_MENU_FILES),
                                        attention=self.attention))

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
        def toggle() -> None:
            if self.app.is_paused():
                self.app.resume()
            else:
                self.app.pause()
            self._refresh()
        self._call(toggle)

    def quit(self) -> None:
        """A clean stop, whenever asked: before the engine is up, it stops once it is."""
        self._quit_asked = True
        if self._ready.is_set():
            with contextlib.suppress(RuntimeError):  # the engine's loop has already closed
                self.loop.call_soon_threadsafe(self.app.request_stop)

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
