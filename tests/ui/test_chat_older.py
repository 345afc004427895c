"""The chat loads older pages as you scroll up: a long conversation opens on its newest items,
and scrolling to the top brings the page above them, in order, the view kept where it was."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from kairos_desktop.clock import FakeClock, local_zone
from kairos_desktop.delivery.outbox import Outbox
from kairos_desktop.delivery.user_messages import UserMessages
from kairos_desktop.home import Home
from kairos_desktop.store import Store
from tests.ui.conftest import Panel, expect

PAIRS = 170  # 340 items: the first page (200), then two more pages as you scroll up


@pytest.fixture
def home(home: Home) -> Home:
    """The test's home with a long conversation in it, written before the app starts."""
    store = Store(home.ensure().store_file, owner=True)
    clock = FakeClock(datetime.now(local_zone()) - timedelta(days=90))
    outbox, said = Outbox(store, clock), UserMessages(store)
    for n in range(PAIRS):
        now = clock.now()
        said.add(f"q{n}", f"question {n}", created_at=now.isoformat(timespec="seconds"),
                 at=now.isoformat(timespec="microseconds"))
        clock.advance(1)
        outbox.add(f"answer {n}", "normal")
        clock.advance(12 * 3600)
    store.close()
    return home


def test_scrolling_up_loads_the_older_pages_in_order(panel: Panel) -> None:
    page = panel.open("chat")
    items = page.get_by_test_id("chat-item")
    expect(items).to_have_count(200)
    expect(items.first).to_contain_text("question 70")
    expect(items.last).to_contain_text(f"answer {PAIRS - 1}")
    scroller = page.get_by_test_id("chat-scroll")
    for count in (300, 2 * PAIRS):
        scroller.evaluate("el => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); }")
        expect(items).to_have_count(count)
    texts = items.evaluate_all(
        "els => els.map(e => e.querySelector('[data-testid=chat-text]').textContent.trim())")
    assert texts == [t for n in range(PAIRS) for t in (f"question {n}", f"answer {n}")]
    assert page.evaluate("document.getElementById('chat-scroll').scrollTop") > 0  # kept
    assert panel.errors == []
