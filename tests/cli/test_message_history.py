"""`kairos messages --all`: every message ever sent, oldest first, read a page at a time, the
same from the running app (over the control API) as from the home's files."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from kairos_desktop.clock import FakeClock, local_zone
from kairos_desktop.control.client import ControlClient
from kairos_desktop.delivery.outbox import Outbox
from kairos_desktop.errors import InputError
from kairos_desktop.home import Home
from kairos_desktop.store import Store
from tests.cli.harness import Cli, StartApp

SENT = 2_345  # more than two pages of 1,000


def write_messages(home: Home) -> list[str]:
    home.ensure()
    store = Store(home.store_file, owner=True)
    clock = FakeClock(datetime(2025, 10, 1, 9, 0, tzinfo=local_zone()))
    outbox = Outbox(store, clock)
    texts = []
    for n in range(SENT):
        texts.append(f"message {n}")
        outbox.add(texts[-1], "normal")
        clock.advance(3 * 3600)  # ten months of them
    store.close()
    return texts


def test_messages_all_lists_every_message_oldest_first(cli: Cli, home: Home,
                                                       start_app: StartApp) -> None:
    texts = write_messages(home)
    offline = json.loads(cli("messages", "--all", "--json").out)
    assert [m["text"] for m in offline] == texts
    assert [m["text"] for m in json.loads(cli("messages", "--json").out)] == texts[-20:]
    lines = cli("messages", "--all").out.splitlines()
    assert len(lines) == SENT and lines[0].endswith("[normal] message 0")

    app = start_app(home)
    app.wait_sleeping(1)
    online = json.loads(cli("messages", "--all", "--json").out)
    assert [m["text"] for m in online] == texts  # the app says nothing on a quiet tick
    assert online == offline
    client = ControlClient.for_home(home)
    page = client.message_history(None, 1000)
    assert len(page["messages"]) == 1000 and page["next"]
    with pytest.raises(InputError) as bad:
        client.message_history("page two", 1000)
    assert bad.value.key == "after"
