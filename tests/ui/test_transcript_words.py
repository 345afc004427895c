"""The panel in words: the transcript view shows the markup the app wraps around a turn's input
for the model (<tick/>, <message from="user">, <external>) as what it means, not as tags; the
memory view says what the next dream waits for; a recurring task says when it ends."""

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


def test_a_recurring_task_says_when_it_ends_and_a_one_shot_does_not(panel: Panel) -> None:
    page = panel.open("tasks")
    page.get_by_test_id("task-cron").fill("30 8 * * 1-5")
    page.get_by_test_id("task-prompt").fill("Water the plants")
    page.get_by_test_id("task-add").click()  # "Recurring" is ticked by default
    row = page.get_by_test_id("task-row").filter(has_text="Water the plants")
    expect(row.get_by_test_id("task-ends")).to_contain_text("ends ")
    page.get_by_test_id("task-cron").fill("0 9 * * *")
    page.get_by_test_id("task-prompt").fill("Call the bank")
    page.get_by_test_id("task-recurring").uncheck()
    page.get_by_test_id("task-add").click()
    once = page.get_by_test_id("task-row").filter(has_text="Call the bank")
    expect(once).to_have_count(1)
    expect(once.get_by_test_id("task-ends")).to_have_count(0)
