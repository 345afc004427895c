"""The tray icon and its menu (pystray; the GTK, AppIndicator, macOS or Windows backend).

The menu reads the app's state when it opens; the icon and tooltip follow the engine's events.
pystray marshals every update to the GUI thread itself, so the engine thread may call update().
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pystray

from .icons import state_icon

STATE_WORDS = {"starting": "starting", "sleeping": "sleeping", "working": "working",
               "dreaming": "dreaming", "paused": "paused", "attention": "needs your attention",
               "offline": "offline", "error": "error"}


@dataclass
class TrayActions:
    open: Callable[[], None]
    wake: Callable[[], None]
    toggle_pause: Callable[[], None]
    dream: Callable[[], None]
    settings: Callable[[], None]
    quit: Callable[[], None]
    open_inbox_folder: Callable[[], None]
    open_file: Callable[[str], None]
    recent_files: Callable[[], list[tuple[str, str]]]  # (label, inbox id), newest first
    is_paused: Callable[[], bool]
    name: Callable[[], str]


class _Icon(pystray.Icon):  # type: ignore[misc,valid-type]
    """pystray's GLib backends start their own D-Bus notifier when the icon starts; with no
    notification server that raises and the tray never appears. We never use it, so its
    failure is ignored. They also reset SIGINT to the default (an abrupt kill): we route
    SIGINT and SIGTERM to a clean Quit instead."""

    on_signal: Callable[[], None] | None = None

    def _initialize(self) -> None:
        try:
            super()._initialize()
        except Exception:
            self._notifier = None
            self._mark_ready()
        if self.on_signal is not None:
            from gi.repository import GLib

            def handle() -> bool:
                assert self.on_signal is not None
                self.on_signal()
                return True

            for sig in (signal.SIGINT, signal.SIGTERM):
                GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, handle)


class Tray:
    def __init__(self, actions: TrayActions) -> None:
        self.actions = actions
        self.state = "starting"
        self._geometry: dict[str, Any] = {"backend": "gtk", "embedded": False}
        self.icon = _Icon("kairos", state_icon("sleeping"), actions.name(), menu=self._menu())
        if hasattr(pystray.Icon, "_initialize"):
            self.icon.on_signal = actions.quit

    def _menu(self) -> pystray.Menu:
        a = self.actions

        def inbox_items() -> Any:
            files = a.recent_files()[:8]
            for label, path in files:
                yield pystray.MenuItem(label, lambda _icon, _item, i=path: a.open_file(i))
            if files:
                yield pystray.Menu.SEPARATOR
            yield pystray.MenuItem("Open inbox folder", lambda: a.open_inbox_folder())

        return pystray.Menu(
            pystray.MenuItem(lambda _item: f"Open {a.name()}", lambda: a.open(), default=True),
            pystray.MenuItem("Inbox", pystray.Menu(inbox_items)),
            pystray.MenuItem("Wake now", lambda: a.wake()),
            pystray.MenuItem("Pause", lambda: a.toggle_pause(),
                             checked=lambda _item: a.is_paused()),
            pystray.MenuItem("Dream now", lambda: a.dream()),
            pystray.MenuItem("Settings...", lambda: a.settings()),
            pystray.Menu.SEPARATOR,
            pystray.MenuItem("Quit", lambda: a.quit()),
        )

    def update(self, state: str, detail: str = "") -> None:
        """Show `state` (one of icons.STATES) and a tooltip with it and `detail`."""
        if state != self.state:
            self.state = state
            self.icon.icon = state_icon(state if state != "starting" else "sleeping")
        words = STATE_WORDS.get(state, state)
        self.icon.title = f"{self.actions.name()}: {words}" + (f" ({detail})" if detail else "")
        self.icon.update_menu()

    def wait_embedded(self, timeout: float) -> bool:
        """Block (not on the GUI thread) until the tray holds the icon; True if it does. Only
        the GTK backend can tell; the others return at once."""
        status_icon = getattr(self.icon, "_status_icon", None)
        if status_icon is None:
            return True
        from gi.repository import GLib

        embedded = threading.Event()

        def check() -> bool:
            if status_icon.is_embedded():
                embedded.set()
                return False  # stop the GLib timeout
            return True

        GLib.timeout_add(20, check)
        return embedded.wait(timeout)

    def geometry(self) -> dict[str, Any]:
        """Where the icon is on screen (GTK backend only): tests click it, the app reports it.

        Never blocks the caller (the engine's loop): it returns what the GTK thread last
        measured and asks it to measure again."""
        status_icon = getattr(self.icon, "_status_icon", None)
        if status_icon is None:
            return {"backend": type(self.icon).__module__.rsplit(".", 1)[-1], "embedded": None}
        from gi.repository import GLib

        def probe() -> bool:
            info: dict[str, Any] = {"backend": "gtk",
                                    "embedded": bool(status_icon.is_embedded())}
            if info["embedded"]:
                ok, _screen, area, _orientation = status_icon.get_geometry()
                if ok:
                    info.update(x=area.x, y=area.y, width=area.width, height=area.height)
            self._geometry = info
            return False

        GLib.idle_add(probe)
        return dict(self._geometry)
