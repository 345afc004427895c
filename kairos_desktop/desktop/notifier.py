"""Native notifications through desktop-notifier, behind the core's Notifier interface.

All calls stay on the engine's asyncio loop (desktop-notifier's callbacks need it). Delivery is
never assumed: without a notification server the backend answers False, the tray shows "needs
attention", and the message or file stays unread in the store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from desktop_notifier import Button, Capability, DesktopNotifier, Icon, ReplyField, Urgency

from ..delivery.notifier import Notification, Notifier

log = logging.getLogger(__name__)


class NativeNotifier(Notifier):
    def __init__(self, app_name: str, *, icon: Path | None,
                 on_click: Callable[[Notification], None],
                 on_reveal: Callable[[Notification], None],
                 on_reply: Callable[[Notification, str], None]) -> None:
        self._app_name = app_name
        self._icon = Icon(path=icon) if icon is not None and icon.exists() else None
        self._on_click = on_click
        self._on_reveal = on_reveal
        self._on_reply = on_reply
        self._notifier: DesktopNotifier | None = None
        self._capabilities: frozenset[Capability] = frozenset()
        self.sent_ids: list[str] = []

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
        reply = None
        if notification.kind == "message" and Capability.REPLY_FIELD in caps:
            reply = ReplyField(title="Reply", button_title="Send",
                               on_replied=lambda text: self._on_reply(notification, text))
        try:
            identifier = await self._notifier.send(
                title=notification.title, message=notification.body,
                urgency=Urgency.Critical if notification.kind == "error" else Urgency.Normal,
                buttons=buttons, reply_field=reply,
                on_clicked=lambda: self._on_click(notification))
        except Exception as exc:
            log.warning("notification failed: %s", exc)
            self._capabilities = frozenset()
            return False
        self.sent_ids.append(identifier)
        return True
