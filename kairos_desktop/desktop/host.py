"""Which tray this session really offers, asked of the session itself, not guessed from the
desktop's name (XDG_CURRENT_DESKTOP says GNOME both where the AppIndicator extension shows
items and where nothing does).

- A StatusNotifierWatcher on the session bus (the name org.kde.StatusNotifierWatcher has an
  owner): Ubuntu's and GNOME's AppIndicator extension, KDE Plasma, most Wayland panels. The
  item is a StatusNotifierItem (sni.py).
- Else an XEmbed system tray on the X display (the selection _NET_SYSTEM_TRAY_S<screen> has an
  owner): Xfce, MATE, LXDE, trayer... The item is GTK's status icon (pystray's gtk backend).
- Else none: the app says so, shows its panel window instead, and keeps listening for a
  watcher, registering as soon as one appears.

macOS and Windows always have one (the menu bar, the notification area).
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from typing import Literal

HostKind = Literal["sni", "xembed", "none", "native"]
WATCHER = "org.kde.StatusNotifierWatcher"
ASK_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class TrayHost:
    kind: HostKind
    detail: str  # in words, for the terminal, the log, `kairos status` and doctor

    @property
    def backend(self) -> str:
        return {"sni": "appindicator", "xembed": "gtk", "none": "none"}.get(self.kind, "native")


def detect() -> TrayHost:
    """The session's tray; KAIROS_TRAY=appindicator|gtk|none forces one (for a tray that
    answers neither question, or to try another)."""
    forced = os.environ.get("KAIROS_TRAY", "").strip().lower()
    if forced in ("appindicator", "sni"):
        return TrayHost("sni", "StatusNotifierItem (KAIROS_TRAY)")
    if forced in ("gtk", "xembed"):
        return TrayHost("xembed", "XEmbed system tray (KAIROS_TRAY)")
    if forced == "none":
        return TrayHost("none", "no tray (KAIROS_TRAY=none)")
    if not sys.platform.startswith("linux"):
        return TrayHost("native", "the system's own tray")
    owner = watcher_owner()
    if owner:
        return TrayHost("sni", f"a StatusNotifierWatcher on the session bus ({owner})")
    tray = xembed_tray_owner()
    if tray:
        return TrayHost("xembed", f"an XEmbed system tray on {os.environ.get('DISPLAY')} "
                        f"(window {tray:#x})")
    return TrayHost("none", "no system tray in this session: no StatusNotifierWatcher on the "
                    "session bus (on GNOME, the AppIndicator extension shows tray icons: "
                    "gnome-shell-extension-appindicator) and no XEmbed tray on the display")


def watcher_owner(timeout: float = ASK_TIMEOUT_S) -> str | None:
    """The unique bus name owning org.kde.StatusNotifierWatcher, or None (also with no bus)."""
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS") and not os.environ.get("XDG_RUNTIME_DIR"):
        return None

    async def ask() -> str | None:
        from dbus_fast import Message, MessageType
        from dbus_fast.aio import MessageBus

        bus = await MessageBus().connect()
        try:
            reply = await bus.call(Message(
                destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus", member="GetNameOwner", signature="s",
                body=[WATCHER]))
        finally:
            bus.disconnect()
        if reply is None or reply.message_type == MessageType.ERROR:
            return None
        return str(reply.body[0])

    async def bounded() -> str | None:
        async with asyncio.timeout(timeout):
            return await ask()

    try:
        return asyncio.run(bounded())
    except Exception:  # no bus, a refused connection, a timeout: no watcher to use
        return None


def xembed_tray_owner() -> int | None:
    """The window owning the XEmbed tray selection of the default screen, or None."""
    display_name = os.environ.get("DISPLAY")
    if not display_name:
        return None
    try:
        from Xlib import X, display
    except ImportError:
        return None
    try:
        conn = display.Display(display_name)
    except Exception:
        return None
    try:
        screen = conn.get_default_screen()
        atom = conn.intern_atom(f"_NET_SYSTEM_TRAY_S{screen}")
        owner = conn.get_selection_owner(atom)
        ident = owner.id if hasattr(owner, "id") else int(owner)
        return None if ident == X.NONE else int(ident)
    except Exception:
        return None
    finally:
        conn.close()
