"""The panel in words: the transcript view shows the markup the app wraps around a turn's input
for the model (<tick/>, <message from="user">, <external>) as what it means, not as tags; the
memory view says what the next dream waits for."""

from __future__ import annotations

from tests.fakes.anthropic_server import FakeAnthropic
from tests.ui.conftest import Panel, expect


def test_the_transcript_shows_the_users_words_and_the_wake_up_without_markup(
        panel: Panel, fake: FakeAnthropic) -> None:
    page = panel.open("chat")
    page.get_by_test_id("chat-input").fill("ping")
    page.get_by_test_id("chat-input").press("Enter")
    expect(page.get_by_test_id("chat-item").filter(has_text="you said: ping")).to_be_visible()
    page.get_by_test_id("chat-mode-transcript").click()
    entries = page.locator('[data-testid="transcript-entry"][data-role="user"]')
    expect(entries.filter(has_text="ping").first).to_be_visible()
    texts = entries.all_inner_texts()
    assert texts and not any("<message" in t or "<tick" in t for t in texts)
    assert any("[wake-up at " in t for t in texts)  # the first tick, in words


def test_the_memory_view_says_what_the_next_dream_waits_for(panel: Panel) -> None:
    page = panel.open("memory")
    next_dream = page.get_by_test_id("dream-next")
    expect(next_dream).to_contain_text("not yet: ")
    expect(next_dream).to_contain_text("dreamMinSessions")
    expect(next_dream).not_to_contain_text("after the first consolidation")
