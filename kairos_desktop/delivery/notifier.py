"""The Notifier interface: the core says what to show, a backend decides how.

Headless (and in a notebook) notifications are logged and printed; the desktop layer plugs in a
native backend. A backend returns whether the notification reached a notification server, so the
caller never assumes delivery.
"""

from __future__ import annotations

import logging
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TextIO

log = logging.getLogger(__name__)


@dataclass
class Notification:
    title: str
    body: str
    kind: str = "push"  # push | message | file | error
    ref: str | None = None  # the id of the message or file it is about
    urgent: bool = False


class Notifier(ABC):
    @abstractmethod
    async def notify(self, notification: Notification) -> bool:
        """Show `notification`; True when a notification server accepted it."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        pass


class ConsoleNotifier(Notifier):
    """Headless backend: logs every notification and prints it to a stream (stdout)."""

    def __init__(self, stream: TextIO | None = None, *, quiet_kinds: tuple[str, ...] = ()) -> None:
        """`quiet_kinds`: kinds logged but not printed (the headless CLI prints messages and
        files itself, so their notifications would only repeat them)."""
        self.stream = stream
        self.quiet_kinds = quiet_kinds
        self.sent: list[Notification] = []

    async def notify(self, notification: Notification) -> bool:
        self.sent.append(notification)
        log.info("notification: %s: %s", notification.title, notification.body)
        if notification.kind in self.quiet_kinds:
            return True
        stream = self.stream if self.stream is not None else sys.stdout
        print(f"[notification] {notification.title}: {notification.body}", file=stream, flush=True)
        return True
