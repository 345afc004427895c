"""A small in-process event bus: the engine publishes what happened (a message for the user, a
state change, a delivered file); the console, the control API's live stream and the desktop layer
subscribe. Publishers never wait for subscribers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class Event:
    kind: str  # message | file | notification | state | tool | error
    data: dict[str, Any] = field(default_factory=dict)


Subscriber = Callable[[Event], None]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        self._subscribers.append(fn)
        return lambda: self._subscribers.remove(fn) if fn in self._subscribers else None

    def publish(self, kind: str, /, **data: Any) -> None:
        event = Event(kind, data)
        for fn in list(self._subscribers):
            try:
                fn(event)
            except Exception:  # a broken subscriber must not stop the engine
                log.exception("event subscriber failed on %s", kind)
