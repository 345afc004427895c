"""`kairos queue`: what waits for the assistant and what the model API refused (held), and
retrying or dropping a held item, with the app running or not."""

from __future__ import annotations

import json

from kairos_desktop.home import Home
from kairos_desktop.queue import HeldItem, InboundItem, InboundQueue
from kairos_desktop.store import Store
from tests.cli.harness import Cli, StartApp
from tests.fakes.anthropic_server import FakeAnthropic

PASTE = "BEGIN-PASTE " + "word " * 5_000


def hold(home: Home, text: str) -> str:
    """A home whose queue holds `text` as a refused item (as the app leaves it)."""
    store = Store(home.store_file)
    queue = InboundQueue(store)
    item = InboundItem(kind="user", text=text, created_at="2026-11-22T08:58:00+01:00")
    queue.put(item)
    queue.settle(ack=[], hold=[HeldItem(item, "the model API refused the request (400: "
                                              "prompt is too long: 250000 tokens > 200000 "
                                              "maximum)", "2026-11-22T09:00:00+01:00", 400)])
    store.close()
    return item.id


def test_queue_lists_queued_and_held_items_and_retries_or_drops_them_offline(
        cli: Cli, home: Home) -> None:
    held = hold(home, PASTE)
    cli("send", "buy milk")
    listing = cli("queue")
    assert listing.code == 0
    queued_id = json.loads(cli("queue", "--json").out)["queued"][0]["id"]
    first = listing.out.splitlines()[0]
    assert first.startswith(f"{queued_id}  user ") and first.endswith(" buy milk")
    assert "held (the model API refused them; `kairos queue retry ID` or `kairos queue drop " \
           "ID`): 1" in listing.out
    assert f"{held}  user         held 2026-11-22T09:00:00+01:00  BEGIN-PASTE word word" \
        in listing.out
    assert "    why: the model API refused the request (400: prompt is too long" in listing.out
    data = json.loads(cli("queue", "--json").out)
    assert [i["preview"] for i in data["queued"]] == ["buy milk"]
    assert data["held"][0]["chars"] == len(PASTE) and data["held"][0]["status"] == 400
    assert json.loads(cli("status", "--json").out)["held"] == 1

    retried = cli("queue", "retry", held)
    assert retried.code == 0
    assert retried.out.strip() == (f"{held} is back in the queue; kairos is not running: it "
                                   "goes at the next start")
    data = json.loads(cli("queue", "--json").out)
    assert data["held"] == [] and data["queued"][-1]["id"] == held
    assert data["queued"][-1]["chars"] == len(PASTE)  # the same words, nothing cut


def test_drop_removes_a_held_item_and_a_wrong_id_is_refused_in_words(
        cli: Cli, home: Home) -> None:
    held = hold(home, "too big")
    wrong = cli("queue", "drop", "nope")
    assert wrong.code == 2
    assert wrong.err.strip() == ("kairos: no held item with id 'nope' (`kairos queue` lists "
                                 "them)")
    assert cli("queue", "retry", "nope").code == 2
    dropped = cli("queue", "drop", held)
    assert dropped.code == 0 and dropped.out.strip() == f"{held} dropped (user: too big)"
    assert json.loads(cli("queue", "--json").out) == {"queued": [], "held": []}
    assert "dropped by the user: too big" in cli("logs").out


def test_on_a_running_app_a_refused_paste_is_listed_and_a_retry_goes_at_once(
        cli: Cli, home: Home, start_app: StartApp, fake: FakeAnthropic) -> None:
    fake.refuse("BEGIN-PASTE")
    app = start_app(home)
    app.wait_sleeping(1)
    cli("send", PASTE)
    app.wait_for(lambda: len(app.engine.queue.held()) == 1, what="the paste held")
    app.wait_sleeping(2)
    listing = cli("queue")
    [held] = json.loads(cli("queue", "--json").out)["held"]
    assert "nothing is queued" in listing.out and held["id"] in listing.out
    assert f"    its text: {held['file']}" in listing.out
    status = cli("status")
    assert "held: 1 (the model API refused them: `kairos queue`)" in status.out
    refused = len([r for r in fake.history if r.reply_status == 400])

    retried = cli("queue", "retry", held["id"])
    assert retried.out.strip() == f"{held['id']} is back in the queue; the running assistant " \
                                  "takes it now"
    # Refused again (the same words): set aside again, the rest still goes on.
    app.wait_for(lambda: len([r for r in fake.history if r.reply_status == 400]) > refused,
                 what="the retry")
    app.wait_for(lambda: len(app.engine.queue.held()) == 1 and len(app.engine.queue) == 0,
                 what="held again")
    assert cli("queue", "drop", held["id"]).code == 0
    assert app.call(lambda: app.engine.app.held()) == []
