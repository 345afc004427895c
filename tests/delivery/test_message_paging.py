"""The chat and the message list read page by page from the history files: pages that put
together give every item once and in order (across months, a question and its answer in the
same second), a bad cursor is refused naming it, and a page reads only the months it shows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from kairos_desktop.clock import FakeClock
from kairos_desktop.errors import InputError
from kairos_desktop.events import EventBus
from kairos_desktop.home import Home
from kairos_desktop.homeapp import HomeApp, HomeServices, SettingsState
from kairos_desktop.settings import Settings


@pytest.fixture
def app(home: Home, clock: FakeClock) -> Any:
    settings = SettingsState(Settings(), [])
    services = HomeServices.open(home.ensure(), clock=clock, settings=lambda: settings.current,
                                 bus=EventBus(), inbox_dir=home.root / "inbox",
                                 seed_builtins=False)
    app = HomeApp(home=home, clock=clock, bus=EventBus(), services=services, settings=settings)
    # Three months of conversation: a question, its answer in the same second, now and then a
    # message the assistant sent on its own; some without the finer stamp ("at"), as older
    # versions wrote them.
    for n in range(60):
        app.send(f"question {n}")
        app.services.outbox.add(f"answer {n}", "normal")
        if n % 7 == 0:
            app.services.outbox.add(f"by the way {n}", "proactive")
        clock.advance(36 * 3600)
    yield app
    services.close()


def keys(items: list[dict[str, Any]]) -> list[str]:
    return [i["id"] for i in items]


def test_chat_pages_put_together_are_the_whole_chat_in_order(app: Any) -> None:
    whole = app.chat(10_000)
    assert len(whole) == 60 * 2 + 9 and len({i["id"] for i in whole}) == len(whole)
    assert [i["text"] for i in whole[:3]] == ["question 0", "answer 0", "by the way 0"]
    pages: list[dict[str, Any]] = []
    page = app.chat(7)
    while page:
        pages = page + pages
        oldest = page[0]
        page = app.chat(7, before=oldest.get("at") or oldest["createdAt"])
    assert keys(pages) == keys(whole)


def test_message_history_pages_are_every_message_oldest_first(app: Any) -> None:
    every = app.services.outbox.recent(10_000)
    got, after, sizes = [], None, []
    while True:
        page = app.message_history(after, 13)
        got += page["messages"]
        sizes.append(len(page["messages"]))
        after = page["next"]
        if after is None:
            break
    assert keys(got) == keys(every) and len(got) == 69
    assert sizes[:-1] == [13] * (len(sizes) - 1)  # across month boundaries too
    with pytest.raises(InputError) as bad:
        app.message_history("yesterday", 13)
    assert bad.value.key == "after" and "previous page" in str(bad.value)
    with pytest.raises(InputError) as zero:
        app.message_history(None, 0)
    assert zero.value.key == "limit"
    with pytest.raises(InputError) as when:
        app.chat(5, before="noon")
    assert when.value.key == "before"


def test_the_newest_page_reads_only_the_newest_months(app: Any, clock: FakeClock) -> None:
    history = app.services.outbox._history
    months = history.months()
    assert len(months) >= 3
    history.path_for(months[0]).write_text("{not json\n")  # never read for the newest page
    fresh = HomeServices.open(app.home, clock=clock, settings=lambda: Settings(),
                              bus=EventBus(), inbox_dir=app.home.root / "inbox",
                              seed_builtins=False)
    assert [m["text"] for m in fresh.outbox.recent(2)] == ["answer 58", "answer 59"]
    assert fresh.outbox._history.problems == [] and fresh.notices() == []
    fresh.close()


def test_a_message_read_stays_read_on_every_page(app: Any, clock: FakeClock) -> None:
    oldest = app.services.outbox.recent(10_000)[0]
    app.mark_message_read(oldest["id"])
    clock.advance(timedelta(days=40).total_seconds())
    app.services.outbox.add("later", "normal")
    [first] = app.message_history(None, 1)["messages"]
    assert first["id"] == oldest["id"] and first["read"] is True
    assert next(i for i in app.chat(10_000) if i["id"] == oldest["id"])["read"] is True
    with pytest.raises(Exception, match="no message with id"):
        app.mark_message_read("nope")
