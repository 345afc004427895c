"""The brief chat as the whole conversation: a fast reply under its question (same-second
stamps, a browser clock that runs ahead), files and notifications the assistant sent shown
where the user reads, and a message sent while paused answered at once with why it waits."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from tests.fakes.anthropic_server import FakeAnthropic, RecordedRequest, Reply, tool_use
from tests.ui.conftest import SLEEP, Panel, expect, user_said


def roles(page: Any) -> list[str]:
    return page.locator('[data-testid="chat-item"]').evaluate_all(
        "els => els.map(e => e.dataset.role + ':' + e.querySelector('[data-testid=chat-text]')"
        ".textContent.trim())")


def test_a_fast_reply_shows_under_its_question_even_with_the_browser_clock_ahead(
        panel: Panel, fake: FakeAnthropic) -> None:
    page = panel.open("chat")
    # This browser's clock runs 5 s ahead of the app's: its own stamp of a message just sent
    # is later than the app's stamp of the reply.
    page.clock.install(time=datetime.now() + timedelta(seconds=5))
    box = page.get_by_test_id("chat-input")
    for word in ("one", "two", "three"):
        box.fill(word)
        box.press("Enter")
        answer = page.get_by_test_id("chat-item").filter(has_text=f"you said: {word}")
        expect(answer).to_have_count(1)
    assert roles(page) == ["user:one", "assistant:you said: one", "user:two",
                           "assistant:you said: two", "user:three", "assistant:you said: three"]
    page.reload()
    expect(page.get_by_test_id("chat-item")).to_have_count(6)
    assert roles(page)[:2] == ["user:one", "assistant:you said: one"]


def test_a_file_and_a_notification_sent_as_the_answer_show_in_the_chat(
        panel: Panel, fake: FakeAnthropic) -> None:
    report = panel.app.home.workspace_dir / "summary.md"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("# Summary\n")

    def reply(request: RecordedRequest) -> Reply:
        said = user_said(request)
        if said == "file please":
            return tool_use("SendUserFile", {"path": str(report), "title": "Your summary"})
        if said == "ping me":
            return tool_use("PushNotification", {"title": "Reminder", "body": "stand up"})
        return SLEEP

    fake.on_empty = reply
    page = panel.open("chat")
    box = page.get_by_test_id("chat-input")
    box.fill("file please")
    box.press("Enter")
    file_item = page.get_by_test_id("chat-item").filter(has_text="Sent you a file: Your summary")
    expect(file_item).to_have_count(1)
    expect(file_item.get_by_test_id("chat-attachment")).to_have_text("summary.md")
    expect(file_item.get_by_test_id("chat-attachment")).to_have_attribute(
        "data-inbox-id", re.compile("."))
    box.fill("ping me")
    box.press("Enter")
    push = page.get_by_test_id("chat-item").filter(has_text="Reminder: stand up")
    expect(push).to_have_count(1)
    expect(push.get_by_test_id("chat-badge-push")).to_be_visible()
    page.reload()  # the same, read back from the app
    expect(page.get_by_test_id("chat-item").filter(has_text="Sent you a file")).to_have_count(1)
    expect(page.get_by_test_id("chat-item").filter(has_text="Reminder: stand up")).to_have_count(1)
    assert [m["status"] for m in panel.app.client.messages()] == ["push"]


def test_a_message_sent_while_paused_is_answered_with_why_it_waits(
        panel: Panel, fake: FakeAnthropic) -> None:
    page = panel.open("chat")
    page.get_by_test_id("pause").click()
    expect(page.get_by_test_id("pause")).to_have_text("Resume")
    box = page.get_by_test_id("chat-input")
    box.fill("are you there?")
    box.press("Enter")
    note = page.get_by_test_id("chat-item").filter(has_text="will answer when you resume")
    expect(note).to_have_count(1)
    expect(note).to_have_attribute("data-status", "system")
    box.fill("still there?")
    box.press("Enter")
    expect(page.locator('[data-testid="chat-item"][data-role="user"]')).to_have_count(2)
    expect(note).to_have_count(1)  # said once per pause, not per message
    calls = len(fake.history)
    page.get_by_test_id("pause").click()  # resume: now it answers
    expect(page.get_by_test_id("chat-item").filter(has_text="you said: ")).not_to_have_count(0)
    assert len(fake.history) > calls
