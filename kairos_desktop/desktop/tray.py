"""The tray icon through pystray: GTK's status icon in an XEmbed tray on Linux, the menu bar
on macOS, the notification area on Windows. (A StatusNotifierItem tray is sni.py's.)

The backend only draws a TrayView (trayview.py), which the app computes on the engine's loop:
the menu's labels and check marks are read from the view, never from the engine, on the GUI
thread. pystray marshals every update to the GUI thread itself, so show() may be called from
any thread.

On GTK the icon is drawn from the asset made for the tray's size (16, 22, 24 px...: GTK tells
the size once the icon is docked, and again when the panel changes it), not the 64 px image
scaled down, and the view's one-line tooltip is the icon's tooltip.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable
from typing import Any

from .icons import state_icon, state_icon_path
from .trayview import MenuEntry, TrayView, menu

Action = Callable[[str, str | None], None]


def _pystray_menu(pystray: Any, entries: tuple[MenuEntry, ...], on_action: Action) -> Any:
    def item(entry: MenuEntry) -> Any:
        if entry.separator:
            return pystray.Menu.SEPARATOR
        if entry.children is not None:
            return pystray.MenuItem(entry.label,
                                    pystray.Menu(*[item(e) for e in entry.children]),
                                    enabled=entry.enabled)

        action, arg, checked = entry.action, entry.arg, entry.checked

        def clicked() -> None:  # pystray counts the arguments: none is one of its forms
            if action is not None:
                on_action(action, arg)

        def is_checked(_item: Any) -> bool:
            return bool(checked)

        return pystray.MenuItem(entry.label, clicked, default=entry.default,
                                enabled=entry.enabled,
                                checked=is_checked if checked is not None else None)

    return pystray.Menu(*[item(e) for e in entries])


class PystrayTray:
    """pystray's platform backend (macOS, Windows; also Linux when PYSTRAY_BACKEND is set)."""

    backend = "native"

    def __init__(self, on_action: Action) -> None:
        import pystray

        self._pystray = pystray
        self._on_action = on_action
        self.view = TrayView()
        self.icon = self._make_icon()

    def _make_icon(self) -> Any:
        pystray = self._pystray
        return pystray.Icon("kairos", state_icon(self.view.icon_state), self.view.tooltip,
                            menu=_pystray_menu(pystray, menu(self.view), self._on_action))

    def show(self, view: TrayView) -> None:
        old, self.view = self.view, view
        if view.icon_state != old.icon_state:
            self.icon.icon = state_icon(view.icon_state)
        if view.tooltip != old.tooltip:
            self.icon.title = view.tooltip
        if menu(view) != menu(old):
            self.icon.menu = _pystray_menu(self._pystray, menu(view), self._on_action)

    def run(self, on_ready: Callable[[], None], on_signal: Callable[[], None]) -> None:
        def setup(icon: Any) -> None:
            icon.visible = True
            on_ready()

        self.icon.run(setup=setup)

    def stop(self) -> None:
        self.icon.stop()

    def describe(self) -> dict[str, Any]:
        return {"backend": type(self.icon).__module__.rsplit(".", 1)[-1].lstrip("_"),
                "embedded": None}


class GtkTray(PystrayTray):
    """GtkStatusIcon in an XEmbed tray (pystray's gtk backend, taken by name: no guess from
    PYSTRAY_BACKEND or the desktop)."""

    backend = "gtk"

    def _make_icon(self) -> Any:
        from pystray import _gtk

        tray = self

        class Icon(_gtk.Icon):  # type: ignore[misc,name-defined]
            """Draws the asset made for the tray's size, sets the tooltip, ignores pystray's
            own notifier (its failure without a notification server would stop the tray) and
            routes SIGINT and SIGTERM to a clean Quit."""

            on_signal: Callable[[], None] | None = None

            def _initialize(self) -> None:
                try:
                    super()._initialize()
                except Exception:
                    self._notifier = None
                    self._mark_ready()
                self._status_icon.connect("size-changed", lambda *_: (self._draw(), True)[1])
                if self.on_signal is not None:
                    from gi.repository import GLib

                    def handle() -> bool:
                        assert self.on_signal is not None
                        self.on_signal()
                        return True

                    for sig in (signal.SIGINT, signal.SIGTERM):
                        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, handle)

            def _draw(self) -> None:
                from gi.repository import GdkPixbuf

                size = self._status_icon.get_size() or 22
                path = state_icon_path(tray.view.icon_state, size)
                if path is None:
                    super()._update_icon()
                    return
                pixbuf = GdkPixbuf.Pixbuf.new_from_file(str(path))
                if pixbuf.get_width() != size:
                    pixbuf = pixbuf.scale_simple(size, size, GdkPixbuf.InterpType.BILINEAR)
                self._status_icon.set_from_pixbuf(pixbuf)
                tray.drawn_size = size

            def _update_icon(self) -> None:
                from gi.repository import GLib

                GLib.idle_add(lambda: self._draw() or False)

            def _update_title(self) -> None:
                from gi.repository import GLib

                def apply() -> bool:
                    self._status_icon.set_title(self.title)
                    self._status_icon.set_tooltip_text(self.title)
                    return False

                GLib.idle_add(apply)

            def _finalize(self) -> None:
                # pystray hides its own notification here; with no notification server that
                # raises, and the stop would be reported as a failed tray.
                with contextlib.suppress(Exception):
                    super()._finalize()

        self.drawn_size = 0
        icon = Icon("kairos", state_icon(self.view.icon_state), self.view.tooltip,
                    menu=_pystray_menu(self._pystray, menu(self.view), self._on_action))
        return icon

    def run(self, on_ready: Callable[[], None], on_signal: Callable[[], None]) -> None:
        from gi.repository import GLib

        GLib.set_prgname("kairos")  # the window class and the name desktops show for the tray
        GLib.set_application_name("Kairos")
        self.icon.on_signal = on_signal

        def setup(icon: Any) -> None:
            # Only once the icon sits in the tray does the engine start: its import (about a
            # second of pure Python for the SDK) would otherwise hold the GIL while GTK docks.
            icon.visible = True
            icon._update_title()  # pystray sets no title (our tooltip) on a hidden icon
            self.wait_embedded(timeout=3.0)
            on_ready()

        self._geometry: dict[str, Any] = {"backend": "gtk", "embedded": False}
        self.icon.run(setup=setup)

    def wait_embedded(self, timeout: float) -> bool:
        """Block (not on the GUI thread) until the tray holds the icon; True if it does."""
        from gi.repository import GLib

        status_icon = self.icon._status_icon
        embedded = threading.Event()

        def check() -> bool:
            if status_icon.is_embedded():
                embedded.set()
                return False  # stop the GLib timeout
            return True

        GLib.timeout_add(20, check)
        return embedded.wait(timeout)

    def describe(self) -> dict[str, Any]:
        """Where the icon is on screen: tests click it, the app reports it. Never blocks the
        caller (the engine's loop): it returns what the GTK thread last measured and asks it
        to measure again."""
        from gi.repository import GLib

        status_icon = self.icon._status_icon

        def probe() -> bool:
            info: dict[str, Any] = {"backend": "gtk",
                                    "embedded": bool(status_icon.is_embedded()),
                                    "iconSize": self.drawn_size}
            if info["embedded"]:
                ok, _screen, area, _orientation = status_icon.get_geometry()
                if ok:
                    info.update(x=area.x, y=area.y, width=area.width, height=area.height)
            self._geometry = info
            return False

        GLib.idle_add(probe)
        return dict(getattr(self, "_geometry", {"backend": "gtk", "embedded": False}))
