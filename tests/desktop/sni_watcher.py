"""A StatusNotifierWatcher, written against the spec (freedesktop.org StatusNotifierItem,
"StatusNotifierWatcher"), standing in for GNOME Shell's AppIndicator extension and KDE's
plasmashell in the tests. Run as its own process on a test bus:

    python -m tests.desktop.sni_watcher RECORD.jsonl

It owns org.kde.StatusNotifierWatcher, exports /StatusNotifierWatcher, accepts registrations
(the argument is a bus name, or an object path on the caller's connection, as libappindicator
sends it), drops items whose connection goes away, and appends every registration and every
signal an item sends to RECORD.jsonl, one JSON object a line, so a test can count them. It
prints "ready" once the name is owned.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusSignature
from dbus_fast.service import PropertyAccess, ServiceInterface, dbus_property, dbus_signal

S = Annotated[str, DBusSignature("s")]
B = Annotated[bool, DBusSignature("b")]
I32 = Annotated[int, DBusSignature("i")]
AS = Annotated[list[str], DBusSignature("as")]


class Watcher(ServiceInterface):
    def __init__(self, record: Path) -> None:
        super().__init__("org.kde.StatusNotifierWatcher")
        self.items: list[str] = []
        self.hosts: list[str] = []
        self.record = record

    def note(self, **entry: Any) -> None:
        with self.record.open("a") as out:
            out.write(json.dumps({"t": time.time(), **entry}) + "\n")

    # The two Register methods are answered by the bus's message handler (main()): they need
    # the caller's unique name, which dbus-fast does not pass to a service method.
    def register_item(self, service: str, sender: str) -> None:
        # "service" is a bus name, or (libappindicator) an object path on the sender's bus.
        bus_name, path = (sender, service) if service.startswith("/") else (
            service, "/StatusNotifierItem")
        key = f"{bus_name}{path}"
        self.note(event="register", service=service, sender=sender, item=key)
        if key not in self.items:
            self.items.append(key)
        self.StatusNotifierItemRegistered(key)
        self.emit_properties_changed({"RegisteredStatusNotifierItems": self.items})

    def register_host(self, service: str) -> None:
        self.hosts.append(service)
        self.StatusNotifierHostRegistered()

    @dbus_property(access=PropertyAccess.READ)
    def RegisteredStatusNotifierItems(self) -> AS:
        return list(self.items)

    @dbus_property(access=PropertyAccess.READ)
    def IsStatusNotifierHostRegistered(self) -> B:
        return True  # this watcher is also the host that shows the items

    @dbus_property(access=PropertyAccess.READ)
    def ProtocolVersion(self) -> I32:
        return 0

    @dbus_signal()
    def StatusNotifierItemRegistered(self, item: S) -> S:
        return item

    @dbus_signal()
    def StatusNotifierItemUnregistered(self, item: S) -> S:
        return item

    @dbus_signal()
    def StatusNotifierHostRegistered(self):
        return None

    def gone(self, bus_name: str) -> None:
        for key in [k for k in self.items if k.startswith(bus_name + "/")
                    or k.split("/", 1)[0] == bus_name]:
            self.items.remove(key)
            self.note(event="unregister", item=key)
            self.StatusNotifierItemUnregistered(key)


async def main(record: Path) -> None:
    bus = await MessageBus().connect()
    watcher = Watcher(record)
    bus.export("/StatusNotifierWatcher", watcher)
    owners: dict[str, str] = {}  # well-known item names -> their unique owner

    def on_message(message: Message) -> bool | Message:
        if message.message_type == MessageType.METHOD_CALL \
                and message.path == "/StatusNotifierWatcher" \
                and message.member in ("RegisterStatusNotifierItem",
                                       "RegisterStatusNotifierHost"):
            if message.signature != "s":
                return Message.new_error(message, "org.freedesktop.DBus.Error.InvalidArgs",
                                         "expected one string")
            if message.member == "RegisterStatusNotifierItem":
                watcher.register_item(message.body[0], message.sender or "")
            else:
                watcher.register_host(message.body[0])
            return Message.new_method_return(message)
        if message.message_type != MessageType.SIGNAL:
            return False
        if message.member == "NameOwnerChanged":
            name, old, new = message.body
            if not new:
                watcher.gone(name)
                if old:
                    watcher.gone(old)
            elif name.startswith("org.kde.StatusNotifierItem"):
                owners[name] = new
        elif message.interface in ("org.kde.StatusNotifierItem", "com.canonical.dbusmenu"):
            watcher.note(event="signal", member=message.member, sender=message.sender,
                         body=_jsonable(message.body))
        return False

    bus.add_message_handler(on_message)
    for rule in ("type='signal',interface='org.freedesktop.DBus',member='NameOwnerChanged'",
                 "type='signal',interface='org.kde.StatusNotifierItem'",
                 "type='signal',interface='com.canonical.dbusmenu'"):
        await bus.call(Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                               interface="org.freedesktop.DBus", member="AddMatch",
                               signature="s", body=[rule]))
    await bus.request_name("org.kde.StatusNotifierWatcher")
    print("ready", flush=True)
    await bus.wait_for_disconnect()


def _jsonable(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if hasattr(value, "value") and hasattr(value, "signature"):
        return _jsonable(value.value)
    return value


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
