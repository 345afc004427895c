"""Deliveries: the one door through which anything reaches the user.

A message is stored in the outbox, logged, published on the event bus and, when its status is one
the user wants notifications for, shown as a notification. A file is copied into the inbox first
(through the folder policy), then announced the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from ..events import EventBus
from ..journal import DailyLog
from ..paths import FolderPolicy
from ..settings import Settings
from .inbox import Inbox
from .notifier import Notification, Notifier
from .outbox import MessageStatus, Outbox

log = logging.getLogger(__name__)
# How many of the newest messages and files done_by reads: far more than one turn delivers.
RECENT_DELIVERIES = 200


class Deliveries:
    def __init__(self, *, outbox: Outbox, inbox: Inbox, notifier: Notifier, daily_log: DailyLog,
                 bus: EventBus, settings: Callable[[], Settings],
                 policy: Callable[[], FolderPolicy]) -> None:
        self.outbox = outbox
        self.inbox = inbox
        self.notifier = notifier
        self._log = daily_log
        self._bus = bus
        self._settings = settings
        self._policy = policy
        self.session_id: str | None = None

    async def message(self, text: str, status: MessageStatus,
                      attachments: list[str] | None = None, *,
                      call_id: str | None = None) -> dict[str, Any]:
        """`call_id`: the model's tool call sending it, kept with every record it writes."""
        files = [self.file_record(path, call_id=call_id) for path in attachments or []]
        record = self.outbox.add(text, status, [f["path"] for f in files],
                                 session_id=self.session_id, call_id=call_id)
        self._log.append(f"message ({status})", text)
        self._bus.publish("message", **record)
        settings = self._settings()
        if settings.notifications_enabled and status in settings.notify_statuses:
            await self.notify(Notification(settings.assistant_name, text, "message", record["id"],
                                            urgent=status == "system"))
        return record

    def file_record(self, raw_path: str, title: str | None = None, *,
                    call_id: str | None = None) -> dict[str, Any]:
        source = self._policy().readable(raw_path)
        record = self.inbox.deliver(Path(source), title=title, session_id=self.session_id,
                                    call_id=call_id)
        self._log.append("file delivered", f"{record['name']} ({record['size']:,} bytes) "
                         f"-> {record['path']} sha256={record['sha256'][:16]}")
        self._bus.publish("file", **record)
        return record

    async def file(self, raw_path: str, title: str | None = None, *,
                   call_id: str | None = None) -> dict[str, Any]:
        record = self.file_record(raw_path, title, call_id=call_id)
        settings = self._settings()
        if settings.notifications_enabled:
            # The body names the file (what the click opens); the title, what it is.
            title = record["title"] if record["title"] != record["name"] else "new file"
            await self.notify(Notification(
                f"{settings.assistant_name}: {title}", record["name"], "file", record["id"]))
        return record

    async def push(self, title: str, body: str, *, in_chat: bool = False,
                   call_id: str | None = None) -> bool:
        """A notification; `in_chat`: also a chat message (the assistant's PushNotification:
        what it told the user shows where they read, even when the notification is gone)."""
        self._log.append("notification", f"{title}: {body}")
        if in_chat:
            record = self.outbox.add(f"{title}: {body}", "push", session_id=self.session_id,
                                     call_id=call_id)
            self._bus.publish("message", **record)
        if not self._settings().notifications_enabled:
            self._log.append("notification", "not shown: notificationsEnabled is off")
            return False
        return await self.notify(Notification(title, body, "push", urgent=True))

    def done_by(self, call_ids: Collection[str]) -> dict[str, list[str]]:
        """What the model's tool calls `call_ids` delivered, in words ("message 3f2a...",
        "file report.md"), for the calls that delivered anything: a start after a crash
        answers a call the crash left unanswered from this, never by delivering again. Reads
        only the newest records (a crash's calls are among the last): its cost never grows
        with the years of messages."""
        wanted = set(call_ids)
        found: dict[str, list[str]] = {}
        if not wanted:
            return found
        for record in self.inbox.items(RECENT_DELIVERIES):
            if record.get("callId") in wanted:
                found.setdefault(record["callId"], []).append(f"file {record['name']}")
        for record in self.outbox.recent(RECENT_DELIVERIES):
            if record.get("callId") in wanted:
                found.setdefault(record["callId"], []).append(f"message {record['id']}")
        return found

    async def notify(self, notification: Notification) -> bool:
        """Through the policy to the backend; the event says whether it was shown."""
        held_before = getattr(self.notifier, "held", 0)
        try:
            shown = await self.notifier.notify(notification)
        except Exception as exc:  # a broken backend must not lose the message: it is stored
            log.exception("notifier failed")
            self._log.append("error", f"notification failed: {exc}")
            shown = False
        held = getattr(self.notifier, "held", 0) > held_before
        info = self.notifier.held_info() if held and hasattr(self.notifier, "held_info") \
            else None
        if info:
            self._log.append("notification", f"held until {info['until'][11:16]} "
                             f"({info['reason']}): {notification.title}")
        self._bus.publish("notification", title=notification.title, body=notification.body,
                          kind=notification.kind, ref=notification.ref, shown=shown,
                          held=held, heldUntil=info["until"] if info else None)
        return shown
