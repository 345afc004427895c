"""The tray item as a StatusNotifierItem with a com.canonical.dbusmenu menu, on dbus-fast.

This is the protocol of the "AppIndicator" trays: Ubuntu's and GNOME's AppIndicator extension,
KDE Plasma, and most panels on Wayland. Why our own and not pystray's `appindicator` backend
(libayatana-appindicator): that library has no tooltip (its item exports no ToolTip), and pystray
gives it a new Gtk.Menu and a new temp icon file (with no extension, which hosts cannot type) on
every change, so the host re-reads the whole item each time. Here the item is registered once
per watcher and a change sends only what changed: NewIcon / NewTitle / NewToolTip / NewStatus,
ItemsPropertiesUpdated for a label or a check mark, LayoutUpdated only when the Inbox
submenu's files changed.

The icon goes both ways: IconName is a theme name (`kairos-sleeping`, found in IconThemePath,
the user's icon folder) when launcher.py installed the icons there, and IconPixmap carries every
tray size (16 to 64 px, each drawn for its size), so a host without the theme still draws the
asset made for its panel.

Everything here runs on the tray's own asyncio loop, on the main thread (tray_app.py); `show()`
may be called from any thread. Clicks go to `on_action(action, arg)`, on that thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable
from typing import Annotated, Any

from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusSignature
from dbus_fast.service import (
    PropertyAccess,
    ServiceInterface,
    dbus_method,
    dbus_property,
    dbus_signal,
)

from ..launcher import icon_theme_dir, icons_installed
from .icons import TRAY_SIZES, argb_pixmap
from .trayview import MenuEntry, MenuIds, TrayView, menu

log = logging.getLogger(__name__)

WATCHER = "org.kde.StatusNotifierWatcher"
WATCHER_PATH = "/StatusNotifierWatcher"
ITEM_PATH = "/StatusNotifierItem"
MENU_PATH = "/MenuBar"

S = Annotated[str, DBusSignature("s")]
B = Annotated[bool, DBusSignature("b")]
I32 = Annotated[int, DBusSignature("i")]
U32 = Annotated[int, DBusSignature("u")]
PATH = Annotated[str, DBusSignature("o")]
V = Annotated[Variant, DBusSignature("v")]
AS = Annotated[list[str], DBusSignature("as")]
AI = Annotated[list[int], DBusSignature("ai")]
PIXMAPS = Annotated[list[Any], DBusSignature("a(iiay)")]
TOOLTIP = Annotated[list[Any], DBusSignature("(sa(iiay)ss)")]
LAYOUT = Annotated[list[Any], DBusSignature("u(ia{sv}av)")]
GROUP = Annotated[list[Any], DBusSignature("a(ia{sv})")]
EVENTS = Annotated[list[Any], DBusSignature("a(isvu)")]
ABOUT = Annotated[list[Any], DBusSignature("aiai")]
UPDATED = Annotated[list[Any], DBusSignature("a(ia{sv})a(ias)")]
REVISION = Annotated[list[Any], DBusSignature("ui")]
# D-Bus methods and signals with no reply body carry no return annotation: dbus-fast reads an
# annotation as the body's signature, and "None" is not one.


def _pixmaps(state: str) -> list[Any]:
    return [list(argb_pixmap(state, size)) for size in TRAY_SIZES]


class Item(ServiceInterface):
    """org.kde.StatusNotifierItem: what the host shows (read as properties, re-read on signals)."""

    def __init__(self, on_activate: Callable[[], None]) -> None:
        super().__init__("org.kde.StatusNotifierItem")
        self.view = TrayView()
        self.theme = icons_installed()
        self._on_activate = on_activate

    def _status(self) -> str:
        return "NeedsAttention" if self.view.state in ("attention", "error") else "Active"

    # -- properties (the spec's, plus ItemIsMenu) --------------------------------------------

    @dbus_property(access=PropertyAccess.READ)
    def Category(self) -> S:
        return "ApplicationStatus"

    @dbus_property(access=PropertyAccess.READ)
    def Id(self) -> S:
        return "kairos"

    @dbus_property(access=PropertyAccess.READ)
    def Title(self) -> S:
        return self.view.name

    @dbus_property(access=PropertyAccess.READ)
    def Status(self) -> S:
        return self._status()

    @dbus_property(access=PropertyAccess.READ)
    def WindowId(self) -> I32:
        return 0

    @dbus_property(access=PropertyAccess.READ)
    def IconThemePath(self) -> S:
        return str(icon_theme_dir()) if self.theme else ""

    @dbus_property(access=PropertyAccess.READ)
    def IconName(self) -> S:
        return f"kairos-{self.view.icon_state}" if self.theme else ""

    @dbus_property(access=PropertyAccess.READ)
    def IconPixmap(self) -> PIXMAPS:
        return _pixmaps(self.view.icon_state)

    @dbus_property(access=PropertyAccess.READ)
    def OverlayIconName(self) -> S:
        return ""

    @dbus_property(access=PropertyAccess.READ)
    def OverlayIconPixmap(self) -> PIXMAPS:
        return []

    @dbus_property(access=PropertyAccess.READ)
    def AttentionIconName(self) -> S:
        return f"kairos-{self.view.icon_state}" if self.theme else ""

    @dbus_property(access=PropertyAccess.READ)
    def AttentionIconPixmap(self) -> PIXMAPS:
        return _pixmaps(self.view.icon_state)

    @dbus_property(access=PropertyAccess.READ)
    def AttentionMovieName(self) -> S:
        return ""

    @dbus_property(access=PropertyAccess.READ)
    def ToolTip(self) -> TOOLTIP:
        return [f"kairos-{self.view.icon_state}" if self.theme else "", [],
                self.view.tooltip_title, self.view.detail]

    @dbus_property(access=PropertyAccess.READ)
    def ItemIsMenu(self) -> B:
        return False  # a click (where the host sends Activate) opens the panel

    @dbus_property(access=PropertyAccess.READ)
    def Menu(self) -> PATH:
        return MENU_PATH

    # -- methods -----------------------------------------------------------------------------

    @dbus_method()
    def Activate(self, x: I32, y: I32):
        self._on_activate()

    @dbus_method()
    def SecondaryActivate(self, x: I32, y: I32):
        self._on_activate()

    @dbus_method()
    def ContextMenu(self, x: I32, y: I32):
        """Hosts that draw the menu themselves read it over dbusmenu; nothing to do here."""

    @dbus_method()
    def Scroll(self, delta: I32, orientation: S):
        """No scroll action."""

    # -- signals -----------------------------------------------------------------------------

    @dbus_signal()
    def NewTitle(self):
        return None

    @dbus_signal()
    def NewIcon(self):
        return None

    @dbus_signal()
    def NewAttentionIcon(self):
        return None

    @dbus_signal()
    def NewToolTip(self):
        return None

    @dbus_signal()
    def NewStatus(self, status: S) -> S:
        return status

    def show(self, view: TrayView) -> list[str]:
        """Take `view`; emit a signal per part that changed. Returns their names (tests, logs)."""
        old, old_status = self.view, self._status()
        self.view = view
        changed = []
        if view.name != old.name:
            self.NewTitle()
            changed.append("title")
        if view.icon_state != old.icon_state:
            self.NewIcon()
            self.NewAttentionIcon()
            changed.append("icon")
        if (view.tooltip_title, view.detail, view.icon_state) != (
                old.tooltip_title, old.detail, old.icon_state):
            self.NewToolTip()
            changed.append("tooltip")
        if self._status() != old_status:
            self.NewStatus(self._status())
            changed.append("status")
        return changed


def _props(entry: MenuEntry) -> dict[str, Variant]:
    if entry.separator:
        return {"type": Variant("s", "separator")}
    props = {"label": Variant("s", entry.label.replace("_", "__")),  # "_x" is a mnemonic
             "enabled": Variant("b", entry.enabled), "visible": Variant("b", True)}
    if entry.checked is not None:
        props["toggle-type"] = Variant("s", "checkmark")
        props["toggle-state"] = Variant("i", 1 if entry.checked else 0)
    if entry.children is not None:
        props["children-display"] = Variant("s", "submenu")
    return props


class DBusMenu(ServiceInterface):
    """com.canonical.dbusmenu: the menu as numbered lines; the host reads it with GetLayout
    and clicks with Event(id, "clicked")."""

    def __init__(self, on_action: Callable[[str, str | None], None]) -> None:
        super().__init__("com.canonical.dbusmenu")
        self._on_action = on_action
        self._ids = MenuIds()
        self._entries: dict[int, MenuEntry] = {}
        self._children: dict[int, list[int]] = {0: []}
        self.revision = 1
        self.set_entries(menu(TrayView()))

    def set_entries(self, entries: tuple[MenuEntry, ...]) -> tuple[set[int], list[int]]:
        """Replace the menu; returns (ids whose properties changed, parents whose list of
        children changed)."""
        old_entries, old_children = self._entries, self._children
        new_entries: dict[int, MenuEntry] = {}
        new_children: dict[int, list[int]] = {}

        def walk(parent: int, items: tuple[MenuEntry, ...]) -> None:
            new_children[parent] = []
            for entry in items:
                ident = self._ids.of(entry.key)
                new_entries[ident] = entry
                new_children[parent].append(ident)
                if entry.children is not None:
                    walk(ident, entry.children)

        walk(0, entries)
        self._ids.forget_except({e.key for e in new_entries.values()})
        self._entries, self._children = new_entries, new_children
        changed = {ident for ident, entry in new_entries.items()
                   if ident in old_entries and old_entries[ident].props() != entry.props()}
        moved = [parent for parent, kids in new_children.items()
                 if old_children.get(parent) != kids]
        return changed, moved

    def _layout(self, ident: int, depth: int) -> list[Any]:
        props = {"children-display": Variant("s", "submenu")} if ident == 0 else \
            _props(self._entries[ident])
        kids: list[Variant] = []
        if depth != 0:
            kids = [Variant("(ia{sv}av)", self._layout(kid, depth - 1))
                    for kid in self._children.get(ident, [])]
        return [ident, props, kids]

    # -- properties --------------------------------------------------------------------------

    @dbus_property(access=PropertyAccess.READ)
    def Version(self) -> U32:
        return 3

    @dbus_property(access=PropertyAccess.READ)
    def TextDirection(self) -> S:
        return "ltr"

    @dbus_property(access=PropertyAccess.READ)
    def Status(self) -> S:
        return "normal"

    @dbus_property(access=PropertyAccess.READ)
    def IconThemePath(self) -> AS:
        return []

    # -- methods -----------------------------------------------------------------------------

    @dbus_method()
    def GetLayout(self, parentId: I32, recursionDepth: I32, propertyNames: AS) -> LAYOUT:
        if parentId != 0 and parentId not in self._entries:
            parentId = 0  # a line that went away: the whole menu
        return [self.revision, self._layout(parentId, recursionDepth)]

    @dbus_method()
    def GetGroupProperties(self, ids: AI, propertyNames: AS) -> GROUP:
        wanted = ids or list(self._entries)
        return [[ident, _props(self._entries[ident])] for ident in wanted
                if ident in self._entries]

    @dbus_method()
    def GetProperty(self, id: I32, name: S) -> V:
        entry = self._entries.get(id)
        value = _props(entry).get(name) if entry is not None else None
        return value if value is not None else Variant("s", "")

    @dbus_method()
    def Event(self, id: I32, eventId: S, data: V, timestamp: U32):
        self._event(id, eventId)

    @dbus_method()
    def EventGroup(self, events: EVENTS) -> AI:
        errors = []
        for ident, event_id, _data, _timestamp in events:
            if ident not in self._entries:
                errors.append(ident)
            else:
                self._event(ident, event_id)
        return errors

    @dbus_method()
    def AboutToShow(self, id: I32) -> B:
        return False  # the menu is always current: no update needed

    @dbus_method()
    def AboutToShowGroup(self, ids: AI) -> ABOUT:
        return [[], [i for i in ids if i != 0 and i not in self._entries]]

    def _event(self, ident: int, event_id: str) -> None:
        entry = self._entries.get(ident)
        if event_id != "clicked" or entry is None or entry.action is None \
                or not entry.enabled:
            return
        self._on_action(entry.action, entry.arg)

    # -- signals -----------------------------------------------------------------------------

    @dbus_signal()
    def ItemsPropertiesUpdated(self, updated: GROUP, removed: GROUP) -> UPDATED:
        return [updated, removed]

    @dbus_signal()
    def LayoutUpdated(self, revision: U32, parent: I32) -> REVISION:
        return [revision, parent]

    @dbus_signal()
    def ItemActivationRequested(self, id: I32, timestamp: U32) -> Annotated[
            list[Any], DBusSignature("iu")]:
        return [id, timestamp]

    def show(self, view: TrayView) -> list[str]:
        changed, moved = self.set_entries(menu(view))
        done = []
        if moved:
            self.revision += 1
            self.LayoutUpdated(self.revision, moved[0] if len(moved) == 1 else 0)
            done.append("layout")
        if changed:
            self.ItemsPropertiesUpdated(
                [[ident, _props(self._entries[ident])] for ident in sorted(changed)], [])
            done.append("items")
        return done


class StatusNotifierTray:
    """The item on the session bus: registered with the StatusNotifierWatcher when there is
    one, and again whenever a watcher (re)appears (GNOME Shell restarted, an extension turned
    on after the app started). With no bus or no watcher it keeps running, unseen, and says
    so through `describe()`."""

    backend = "appindicator"

    def __init__(self, on_action: Callable[[str, str | None], None]) -> None:
        self._on_action = on_action
        self.item = Item(on_activate=lambda: on_action("open", None))
        self.menu = DBusMenu(on_action)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.bus: MessageBus | None = None
        self.name = f"org.kde.StatusNotifierItem-{os.getpid()}-1"
        self.registrations = 0
        self.registered = False
        self.updates: dict[str, int] = {}  # how many of each signal were sent (status, tests)
        self.problem = ""
        self._stopped = asyncio.Event()
        self._stop_asked = False
        self._tasks: set[asyncio.Future[bool]] = set()

    async def start(self) -> None:
        """Connect, export, register. Never raises: a missing bus or watcher is a state."""
        self.loop = asyncio.get_running_loop()
        try:
            self.bus = await MessageBus(bus_type=BusType.SESSION).connect()
        except Exception as exc:
            self.problem = f"no D-Bus session bus ({type(exc).__name__}: {exc})"
            log.warning("tray: %s", self.problem)
            return
        self.bus.export(ITEM_PATH, self.item)
        self.bus.export(MENU_PATH, self.menu)
        await self.bus.request_name(self.name)
        self.bus.add_message_handler(self._on_message)
        await self._call("org.freedesktop.DBus", "/org/freedesktop/DBus",
                         "org.freedesktop.DBus", "AddMatch", "s",
                         [f"type='signal',sender='org.freedesktop.DBus',"
                          f"interface='org.freedesktop.DBus',member='NameOwnerChanged',"
                          f"arg0='{WATCHER}'"])
        await self.register()

    async def _call(self, destination: str, path: str, interface: str, member: str,
                    signature: str = "", body: list[Any] | None = None) -> Message | None:
        assert self.bus is not None
        reply = await self.bus.call(Message(destination=destination, path=path,
                                            interface=interface, member=member,
                                            signature=signature, body=body or []))
        if reply is None or reply.message_type == MessageType.ERROR:
            return None
        return reply

    async def register(self) -> bool:
        """Ask the watcher to show the item; False when there is none (or it refused)."""
        if self.bus is None:
            return False
        try:
            async with asyncio.timeout(5):
                reply = await self._call(WATCHER, WATCHER_PATH, WATCHER,
                                         "RegisterStatusNotifierItem", "s", [self.name])
        except TimeoutError:
            reply = None
        self.registered = reply is not None
        if self.registered:
            self.registrations += 1
            self.problem = ""
            log.info("tray: registered with the StatusNotifierWatcher")
        else:
            self.problem = ("no StatusNotifierWatcher on the session bus (no AppIndicator / "
                            "KStatusNotifierItem tray is running)")
        return self.registered

    def _on_message(self, message: Message) -> bool:
        if message.message_type == MessageType.SIGNAL and message.member == "NameOwnerChanged" \
                and message.body and message.body[0] == WATCHER:
            new_owner = message.body[2]
            if new_owner:
                task = asyncio.ensure_future(self.register())
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            else:
                self.registered = False
                self.problem = "the StatusNotifierWatcher went away"
        return False  # not handled: dbus-fast goes on with it

    def show(self, view: TrayView) -> None:
        """Thread-safe: the view is applied on the tray's loop."""
        if self.loop is None or self.loop.is_closed():
            self.item.view = view
            self.menu.set_entries(menu(view))
            return
        self.loop.call_soon_threadsafe(self._apply, view)

    def _apply(self, view: TrayView) -> None:
        sent = self.item.show(view) + self.menu.show(view)
        for name in sent:
            self.updates[name] = self.updates.get(name, 0) + 1

    def describe(self) -> dict[str, Any]:
        return {"backend": self.backend,
                "registered": self.registered, "embedded": self.registered,
                "registrations": self.registrations, "busName": self.name,
                "iconName": self.item.IconName, "updates": dict(self.updates),
                **({"problem": self.problem} if self.problem else {})}

    # -- the main thread ----------------------------------------------------------------------

    def run(self, on_ready: Callable[[], None], on_signal: Callable[[], None]) -> None:
        """The tray's loop on this (the main) thread until stop(); SIGINT and SIGTERM ask a
        clean Quit (`on_signal`) instead of killing the app."""

        async def main() -> None:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, on_signal)
            try:
                async with asyncio.timeout(10):
                    await self.start()
            except TimeoutError:
                self.problem = "the session bus did not answer within 10 s"
                log.warning("tray: %s", self.problem)
            self._apply(self.item.view)
            on_ready()
            if self._stop_asked:
                self._stopped.set()
            await self._stopped.wait()
            if self.bus is not None:
                self.bus.disconnect()
                self.bus = None

        self._stopped = asyncio.Event()
        asyncio.run(main())

    def stop(self) -> None:
        """Thread-safe: end run()."""
        self._stop_asked = True
        loop = self.loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # closing at this very moment
                loop.call_soon_threadsafe(self._stopped.set)
