"""Native notifications through desktop-notifier, behind the core's Notifier interface.

All calls stay on the engine's asyncio loop (desktop-notifier's callbacks need it). Delivery is
never assumed: without a notification server the backend answers False, the tray shows "needs
attention", and the message or file stays unread in the store.

An approval request gets Allow and Deny buttons (where the server shows buttons) and Critical
urgency, so it stays on screen while the request waits; once the request is closed (decided
anywhere, or expired) `withdraw` takes it down, so no stale buttons remain.
"""

from __future__ import annotations

import html
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from desktop_notifier import Button, Capability, DesktopNotifier, Icon, ReplyField, Urgency

from ..delivery.notifier import Notification, Notifier

log = logging.getLogger(__name__)


class NativeNotifier(Notifier):
    def __init__(self, app_name: str, *, icon: Path | None,
                 on_click: Callable[[Notification], None],
                 on_reveal: Callable[[Notification], None],
                 on_reply: Callable[[Notification, str], None],
                 on_decide: Callable[[Notification, bool], None] | None = None) -> None:
        """`on_decide(notification, allow)`: an approval's Allow or Deny was pressed."""
        self._app_name = app_name
        self._icon = Icon(path=icon) if icon is not None and icon.exists() else None
        self._on_click = on_click
        self._on_reveal = on_reveal
        self._on_reply = on_reply
        self._on_decide = on_decide
        self._notifier: DesktopNotifier | None = None
        self._capabilities: frozenset[Capability] = frozenset()
        self.sent_ids: list[str] = []
        self._approval_ids: dict[str, str] = {}  # approval id -> notification id

    async def capabilities(self) -> frozenset[Capability]:
        """What the notification server offers; empty when none answers (asked again next
        time, so a server that starts later is found)."""
        if self._notifier is None:
            self._notifier = DesktopNotifier(app_name=self._app_name, app_icon=self._icon)
        if not self._capabilities:
            try:
                self._capabilities = await self._notifier.get_capabilities()
            except Exception as exc:
                log.warning("no notification server answered: %s", exc)
                self._capabilities = frozenset()
        return self._capabilities

    async def notify(self, notification: Notification) -> bool:
        caps = await self.capabilities()
        if Capability.TITLE not in caps and Capability.MESSAGE not in caps:
            return False
        assert self._notifier is not None
        buttons: list[Button] = []
        if notification.kind == "file" and Capability.BUTTONS in caps:
            buttons.append(Button("Show in folder",
                                  on_pressed=lambda: self._on_reveal(notification)))
        approval = notification.kind in ("approval", "approval-review")
        if approval and self._on_decide is not None and Capability.BUTTONS in caps:
            # A long or multi-line command cannot be read in a notification: no Allow there,
            # a click opens the panel where it is shown whole.
            if notification.kind == "approval":
                buttons.append(Button("Allow",
                                      on_pressed=lambda: self._decided(notification, True)))
            buttons.append(Button("Deny", on_pressed=lambda: self._decided(notification, False)))
        reply = None
        if notification.kind == "message" and Capability.REPLY_FIELD in caps:
            reply = ReplyField(title="Reply", button_title="Send",
                               on_replied=lambda text: self._on_reply(notification, text))
        try:
            identifier = await self._notifier.send(
                title=notification.title, message=_plain(notification.body),
                urgency=(Urgency.Critical if notification.kind == "error" or approval
                         else Urgency.Normal),
                buttons=buttons, reply_field=reply,
                on_clicked=lambda: self._on_click(notification))
        except Exception as exc:
            log.warning("notification failed: %s", exc)
            self._capabilities = frozenset()
            return False
        self.sent_ids.append(identifier)
        if approval and notification.ref:
            self._approval_ids[notification.ref] = identifier
        return True

    def _decided(self, notification: Notification, allow: bool) -> None:
        # Answered on the notification itself: the server takes it down (dunst keeps it shown,
        # which is dunst's choice), and desktop-notifier forgets it, so nothing to withdraw.
        if notification.ref:
            self._approval_ids.pop(notification.ref, None)
        assert self._on_decide is not None
        self._on_decide(notification, allow)

    async def withdraw(self, approval_id: str) -> None:
        """Take down the notification of an approval request closed elsewhere (the panel, the
        CLI, the timeout)."""
        identifier = self._approval_ids.pop(approval_id, None)
        if identifier is None or self._notifier is None:
            return
        try:
            await self._notifier.clear(identifier)
        except Exception as exc:
            log.warning("could not withdraw the approval notification: %s", exc)


def _plain(text: str) -> str:
    """Freedesktop servers read a body as markup (dunst, GNOME): escape it, so a command or a
    message cannot hide part of itself in tags. Other platforms show text as it is."""
    if not sys.platform.startswith("linux"):
        return text
    return html.escape(text, quote=False)
