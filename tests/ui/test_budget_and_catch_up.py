"""The panel and the daily budget, the tasks' catch-up choice and today's turns, in Chromium
against a real `kairos run --headless` and the fake model."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.fakes.anthropic_server import FakeAnthropic
from tests.ui.conftest import Panel, expect, user_said
from tests.waiting import wait_until


@pytest.fixture
def settings() -> dict[str, Any]:
    # Any call passes so small a budget: the first tick's call reaches it.
    return {"dailyBudgetUsd": 0.0001}


def test_at_the_budget_the_banner_says_so_and_its_button_goes_on_at_once(
        panel: Panel, fake: FakeAnthropic) -> None:
    page = panel.open("chat")
    box = page.get_by_test_id("chat-input")
    box.fill("are you there?")
    box.press("Enter")
    banner = page.get_by_test_id("budget-banner")
    expect(banner).to_be_visible()
    expect(page.get_by_test_id("budget-text")).to_contain_text("Today's budget is reached")
    expect(page.get_by_test_id("status-state")).to_have_text("Daily budget reached")
    reply = page.get_by_test_id("chat-item").filter(has_text="Your message is kept")
    expect(reply).to_have_count(1)
    expect(reply).to_contain_text("kairos budget raise")
    assert not any(user_said(r) == "are you there?" for r in fake.history)
    page.get_by_test_id("budget-raise").click()
    expect(banner).to_be_hidden()
    wait_until(lambda: any(user_said(r) == "are you there?" for r in fake.history), 15,
               "the kept message to reach the model after the raise")
    expect(page.get_by_test_id("chat-item").filter(has_text="you said: are you there?")) \
        .to_have_count(1)
    assert panel.app.client.budget()["raisedToday"] is True


def test_a_task_added_to_skip_missed_runs_says_so(panel: Panel) -> None:
    page = panel.open("tasks")
    page.get_by_test_id("task-cron").fill("3 9 * * 1-5")
    page.get_by_test_id("task-prompt").fill("Check the standup notes")
    page.get_by_test_id("task-catch-up").select_option("skip")
    page.get_by_test_id("task-add").click()
    row = page.get_by_test_id("task-row").filter(has_text="Check the standup notes")
    expect(row.get_by_test_id("task-skips")).to_have_text("skips missed runs")
    [task] = [t for t in panel.app.client.tasks() if t["prompt"] == "Check the standup notes"]
    assert task["catchUp"] == "skip"


def test_activity_shows_todays_spend_against_the_budget_and_each_turn(panel: Panel) -> None:
    page = panel.open("activity")
    expect(page.get_by_test_id("usage-budget")).to_contain_text(
        re.compile(r"of the \$0\.00 daily budget|daily budget"))
    page.get_by_test_id("usage-turns-box").locator("summary").click()
    turn = page.get_by_test_id("usage-turn").first
    expect(turn).to_be_visible()
    expect(turn.get_by_test_id("usage-turn-what")).to_contain_text("1 call: Sleep")
