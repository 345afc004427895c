"""What a StatusNotifierItem host does with an item, as test helpers: read the watcher's list,
the item's properties (org.freedesktop.DBus.Properties.GetAll), its menu through
com.canonical.dbusmenu (GetLayout), and click a line (Event "clicked"). Each call opens its own
connection to the test's bus, as a host would."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

T = TypeVar("T")
WATCHER = "org.kde.StatusNotifierWatcher"


def _run(env: dict[str, str], fn: Callable[[MessageBus], Awaitable[T]]) -> T:
    async def main() -> T:
        bus = await MessageBus(bus_address=env["DBUS_SESSION_BUS_ADDRESS"]).connect()
        try:
            async with asyncio.timeout(10):
                return await fn(bus)
        finally:
            bus.disconnect()

    return asyncio.run(main())


async def _call(bus: MessageBus, destination: str, path: str, interface: str, member: str,
                signature: str = "", body: list[Any] | None = None) -> list[Any]:
    reply = await bus.call(Message(destination=destination, path=path, interface=interface,
                                   member=member, signature=signature, body=body or []))
    assert reply is not None
    if reply.message_type == MessageType.ERROR:
        raise AssertionError(f"{member} failed: {reply.error_name} {reply.body}")
    return list(reply.body)


def _plain(value: Any) -> Any:
    if isinstance(value, Variant):
        return _plain(value.value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def registered_items(env: dict[str, str]) -> list[str]:
    async def read(bus: MessageBus) -> list[str]:
        [value] = await _call(bus, WATCHER, "/StatusNotifierWatcher",
                              "org.freedesktop.DBus.Properties", "Get", "ss",
                              [WATCHER, "RegisteredStatusNotifierItems"])
        return list(value.value)

    return _run(env, read)


def _split(item: str) -> tuple[str, str]:
    name, _, path = item.partition("/")
    return name, "/" + path


def item_properties(env: dict[str, str], item: str) -> dict[str, Any]:
    name, path = _split(item)

    async def read(bus: MessageBus) -> dict[str, Any]:
        [props] = await _call(bus, name, path, "org.freedesktop.DBus.Properties", "GetAll", "s",
                              ["org.kde.StatusNotifierItem"])
        return {key: _plain(value) for key, value in props.items()}

    return _run(env, read)


@dataclass
class Line:
    id: int
    props: dict[str, Any]
    children: list[Line] = field(default_factory=list)

    @property
    def label(self) -> str:
        return str(self.props.get("label", ""))

    def find(self, label: str) -> Line:
        for child in self.children:
            if child.label == label or child.label.startswith(label):
                return child
        raise AssertionError(f"no menu line {label!r} in {[c.label for c in self.children]}")

    def labels(self) -> list[str]:
        return [c.label if c.props.get("type") != "separator" else "---" for c in self.children]


def _line(raw: list[Any]) -> Line:
    ident, props, children = raw
    return Line(ident, _plain(props), [_line(_plain(child)) for child in children])


def menu_layout(env: dict[str, str], item: str) -> tuple[int, Line]:
    """(revision, the root line) as GetLayout(0, -1, []) returns them."""
    name, _path = _split(item)
    menu_path = item_properties(env, item)["Menu"]

    async def read(bus: MessageBus) -> tuple[int, Line]:
        revision, layout = await _call(bus, name, menu_path, "com.canonical.dbusmenu",
                                       "GetLayout", "iias", [0, -1, []])
        return int(revision), _line(layout)

    return _run(env, read)


def click(env: dict[str, str], item: str, line: Line) -> None:
    name, _path = _split(item)
    menu_path = item_properties(env, item)["Menu"]

    async def send(bus: MessageBus) -> None:
        await _call(bus, name, menu_path, "com.canonical.dbusmenu", "Event", "isvu",
                    [line.id, "clicked", Variant("s", ""), int(time.time())])

    _run(env, send)


def watcher_record(env: dict[str, str]) -> list[dict[str, Any]]:
    path = Path(env["KAIROS_TEST_SNI_RECORD"])
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
