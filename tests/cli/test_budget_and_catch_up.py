"""`kairos tasks add --catch-up` and `kairos budget [raise USD]`: the same words running or not,
bad input refused with exit 2 and nothing changed."""

from __future__ import annotations

import json

from kairos_desktop.home import Home
from tests.cli.harness import Cli, RunningApp
from tests.conftest import write_settings


def test_a_task_can_skip_what_it_misses_and_a_third_choice_is_refused(cli: Cli) -> None:
    added = cli("tasks", "add", "--cron", "3 9 * * 1-5", "--prompt", "check the standup",
                "--recurring", "--catch-up", "skip")
    assert added.code == 0, added.err
    assert "a run missed while the computer sleeps is skipped" in added.out
    bad = cli("tasks", "add", "--cron", "7 9 1 * *", "--prompt", "pay the rent",
              "--recurring", "--catch-up", "always")
    assert bad.code == 2
    assert 'catchUp must be "once"' in bad.err and "nothing was stored" in bad.err
    [task] = json.loads(cli("tasks", "list", "--json").out)
    assert task["prompt"] == "check the standup" and task["catchUp"] == "skip"
    assert "skips missed runs)  check the standup" in cli("tasks", "list").out
    default = cli("tasks", "add", "--cron", "7 9 1 * *", "--prompt", "pay the rent",
                  "--recurring")
    assert default.code == 0 and "skipped" not in default.out
    assert {t["catchUp"] for t in json.loads(cli("tasks", "list", "--json").out)} == {
        "once", "skip"}


def test_the_budget_is_shown_and_raised_for_today_without_a_running_app(cli: Cli) -> None:
    assert cli("budget").out.strip() == "$0.00 spent today of $1.00 (dailyBudgetUsd)"
    for bad, words in (("0.5", "capUsd must be more than $1.00"),
                       ("lots", "USD must be an amount in US dollars like 2.50")):
        refused = cli("budget", "raise", bad)
        assert refused.code == 2 and words in refused.err and "nothing was changed" in refused.err
    assert json.loads(cli("budget", "--json").out)["capUsd"] == 1.0
    raised = cli("budget", "raise", "$2.50")
    assert raised.code == 0, raised.err
    assert raised.out.startswith("today's budget is now $2.50 (until midnight")
    shown = json.loads(cli("budget", "--json").out)
    assert shown["capUsd"] == 2.5 and shown["raisedToday"] and shown["settingUsd"] == 1.0
    assert "$2.50 (raised for today)" in cli("status").out


def test_with_no_budget_there_is_nothing_to_raise(cli: Cli) -> None:
    assert cli("settings", "set", "dailyBudgetUsd", "null").code == 0
    assert "no daily budget" in cli("budget").out
    refused = cli("budget", "raise", "5")
    assert refused.code == 2 and "dailyBudgetUsd is null" in refused.err
    negative = cli("settings", "set", "dailyBudgetUsd", "-2")
    assert negative.code == 2 and "dailyBudgetUsd must be an amount" in negative.err


def test_raising_on_a_running_app_goes_through_it(running: RunningApp, cli: Cli) -> None:
    raised = cli("budget", "raise", "3")
    assert raised.code == 0, raised.err
    assert "the assistant goes on" in raised.out
    assert running.engine.app.budget()["capUsd"] == 3.0


def test_doctor_warns_when_the_model_is_not_in_the_price_table(cli: Cli, home: Home) -> None:
    write_settings(home, {"model": "claude-sonnet-9-9"})
    report = json.loads(cli("doctor", "--json").out)
    assert report["prices"].startswith("WARNING: 'claude-sonnet-9-9' is not in the price table")
    assert "claude-sonnet-5-5's prices" in report["prices"]
    write_settings(home, {"model": "claude-opus-5-5"})
    assert json.loads(cli("doctor", "--json").out)["prices"].startswith(
        "claude-opus-5-5's list prices")
