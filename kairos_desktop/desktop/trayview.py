"""What the tray shows, as plain data: the icon's state, its title and tooltip, and the menu.

Computed on the engine's loop from the application API only (status, recent files, the name),
whenever an event says one of them changed; every tray backend (the StatusNotifierItem of
sni.py, GTK's status icon, macOS and Windows through pystray) only draws it. So the GUI thread
never reads the engine, and a backend can tell exactly what changed since the last view and
update only that: a check mark, a label, the Inbox submenu.

No GUI import here: the view and the menu are tested without a display.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STATE_WORDS = {"starting": "starting", "sleeping": "sleeping", "working": "working",
               "dreaming": "dreaming", "paused": "paused", "attention": "needs your attention",
               "offline": "offline", "error": "error"}
INBOX_MENU_FILES = 8  # the newest files listed in the Inbox submenu


@dataclass(frozen=True)
class InboxFile:
    id: str
    title: str
    unread: bool


@dataclass(frozen=True)
class TrayView:
    name: str = "Kairos"
    state: str = "starting"  # one of icons.STATES, or "starting"
    detail: str = ""  # the tooltip's second line: the next wake, or what is wrong
    paused: bool = False
    ready: bool = False  # the engine is up: the menu's actions reach it
    files: tuple[InboxFile, ...] = ()

    @property
    def icon_state(self) -> str:
        return "sleeping" if self.state == "starting" else self.state

    @property
    def words(self) -> str:
        return STATE_WORDS.get(self.state, self.state)

    @property
    def tooltip_title(self) -> str:
        return f"{self.name}: {self.words}"

    @property
    def tooltip(self) -> str:
        """One line, for backends whose tooltip is plain text (GTK, macOS, Windows)."""
        return self.tooltip_title + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True)
class MenuEntry:
    """One menu line. `key` is stable for the line's life (a backend keeps its widget or id);
    `action` is what a click asks (with `arg`, an inbox item's id)."""

    key: str
    label: str = ""
    action: str | None = None
    arg: str | None = None
    checked: bool | None = None  # None: not a check item
    enabled: bool = True
    default: bool = False  # GTK: the left-click action
    separator: bool = False
    children: tuple[MenuEntry, ...] | None = None

    def props(self) -> dict[str, Any]:
        """What may change in place (everything but the key and the children)."""
        return {"label": self.label, "checked": self.checked, "enabled": self.enabled,
                "separator": self.separator, "submenu": self.children is not None}


SEPARATOR = "separator"


def menu(view: TrayView) -> tuple[MenuEntry, ...]:
    """The menu for `view`. "Open" comes first: on GNOME a click on the icon opens the menu."""
    files = tuple(MenuEntry(f"file:{f.id}", ("• " if f.unread else "") + _menu_text(f.title),
                            action="open_file", arg=f.id)
                  for f in view.files[:INBOX_MENU_FILES])
    inbox = (*files, MenuEntry("inbox-separator", separator=True),
             MenuEntry("inbox-folder", "Open inbox folder", action="open_inbox_folder",
                       enabled=view.ready)) if files else (
        MenuEntry("inbox-empty", "No files yet", enabled=False),
        MenuEntry("inbox-folder", "Open inbox folder", action="open_inbox_folder",
                  enabled=view.ready))
    return (
        MenuEntry("open", f"Open {view.name}", action="open", default=True),
        MenuEntry("inbox", "Inbox", children=inbox),
        MenuEntry("wake", "Wake now", action="wake", enabled=view.ready and not view.paused),
        MenuEntry("pause", "Pause", action="toggle_pause", checked=view.paused,
                  enabled=view.ready),
        MenuEntry("dream", "Dream now", action="dream", enabled=view.ready),
        MenuEntry("settings", "Settings...", action="settings"),
        MenuEntry(SEPARATOR, separator=True),
        MenuEntry("quit", "Quit", action="quit"),
    )


def _menu_text(title: str) -> str:
    """A file's title as one short menu line (a title is the model's text: no newlines, and
    no mnemonic underscores for GTK)."""
    text = " ".join(title.split())
    return text if len(text) <= 60 else text[:59] + "…"


def view_from_status(status: dict[str, Any], *, name: str, paused: bool,
                     recent: list[dict[str, Any]], attention: bool) -> TrayView:
    """The view of the engine's status (EngineApp.status()) and its recent inbox files."""
    state = {"no_api_key": "offline", "offline": "offline", "error": "error",
             "paused": "paused", "working": "working", "starting": "starting",
             "budget": "paused"}.get(status.get("state", ""), "sleeping")
    if paused:
        state = "paused"
    if (status.get("dream") or {}).get("running"):
        state = "dreaming"
    if attention and state in ("sleeping", "working"):
        state = "attention"
    detail = ""
    if state in ("offline", "error"):
        detail = str(status.get("detail") or "")[:80]
    elif state == "sleeping":
        until = status.get("sleepingUntil")
        detail = f"next wake {until[11:16]}" if until else "until something arrives"
    elif state == "attention":
        detail = "a notification could not be shown; open the app to read it"
    elif state == "paused" and status.get("state") == "budget" and not paused:
        budget = status.get("budget") or {}
        detail = (f"daily budget reached (${budget.get('spentUsd', 0):,.2f} of "
                  f"${budget.get('capUsd') or 0:,.2f}): no model call until midnight; "
                  "raise it in the panel")
    elif state == "paused":
        detail = "no ticks, no model calls; tasks wait for Resume"
    held = status.get("notificationsHeld")
    if isinstance(held, dict) and held.get("count"):
        count = held["count"]
        note = (f"{count} notification{'s' if count > 1 else ''} held until "
                f"{str(held.get('until'))[11:16]}")
        detail = f"{detail}; {note}" if detail else note
    files = tuple(InboxFile(str(item["id"]), str(item.get("title") or item.get("name") or ""),
                            not item.get("read")) for item in recent)
    return TrayView(name=name, state=state, detail=detail, paused=paused, ready=True,
                    files=files)


@dataclass
class MenuIds:
    """Stable numeric ids for menu keys (dbusmenu addresses lines by number): a key keeps its
    id while it is in the menu, so a host that holds a line can still click it."""

    _ids: dict[str, int] = field(default_factory=dict)
    _next: int = 1

    def of(self, key: str) -> int:
        if key not in self._ids:
            self._ids[key] = self._next
            self._next += 1
        return self._ids[key]

    def forget_except(self, keys: set[str]) -> None:
        for key in [k for k in self._ids if k not in keys]:
            del self._ids[key]
