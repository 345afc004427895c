"""The panel's held notice in headless Chromium against a real running app: a paste the model
API refuses is set aside and shown above the composer with why and where its text went; Retry
sends it again (refused again, it comes back), Drop lets it go for good."""

from __future__ import annotations

import json

from tests.fakes.anthropic_server import FakeAnthropic
from tests.ui.conftest import Panel, expect, user_said, wait_until

PASTE = "BEGIN-PASTE " + "lorem ipsum " * 2_000


def refused(fake: FakeAnthropic) -> int:
    return len([r for r in fake.history if r.reply_status == 400])


def test_a_refused_paste_is_shown_held_and_can_be_retried_or_dropped(
        panel: Panel, fake: FakeAnthropic) -> None:
    fake.refuse("BEGIN-PASTE")
    page = panel.open("chat")
    expect(page.get_by_test_id("held")).to_be_hidden()
    page.get_by_test_id("chat-input").fill(PASTE)
    page.get_by_test_id("chat-send").click()
    held = page.get_by_test_id("held")
    expect(held).to_be_visible()
    item = held.get_by_test_id("held-item")
    expect(item).to_have_count(1)
    expect(item.get_by_test_id("held-what")).to_contain_text(
        "Your message (24,011 characters): BEGIN-PASTE lorem ipsum")  # sent stripped
    expect(item.get_by_test_id("held-why")).to_have_text(
        "Not sent: the model API refused the request (400: prompt is too long: 250000 tokens > "
        "200000 maximum)")
    expect(item.get_by_test_id("held-file")).to_contain_text("held-")
    # The chat says it in words too, and everything after it goes on.
    expect(page.get_by_test_id("chat-list")).to_contain_text("I could not take your message")
    page.get_by_test_id("chat-input").fill("and this one?")
    page.get_by_test_id("chat-send").click()
    expect(page.get_by_test_id("chat-list")).to_contain_text("you said: and this one?")

    before = refused(fake)
    item.get_by_test_id("held-retry").click()
    wait_until(lambda: refused(fake) > before, what="the retry to reach the API")
    expect(held.get_by_test_id("held-item")).to_have_count(1)  # refused again: back again

    held.get_by_test_id("held-drop").click()
    page.get_by_test_id("confirm-ok").click()
    expect(held).to_be_hidden()
    listing = panel.app.kairos("queue", "--json")
    assert json.loads(listing.stdout) == {"queued": [], "held": []}
    assert all(user_said(r) != "BEGIN-PASTE" for r in fake.history)
    assert panel.errors == []
