"""The daily budget on its own: the cap refuses the next call, the user is told once at 80 %
and once at the cap, a raise lasts until midnight, bad raises change nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kairos_desktop.budget import BudgetExceededError, DailyBudget
from kairos_desktop.clock import FakeClock
from kairos_desktop.errors import InputError
from kairos_desktop.model_types import Usage
from kairos_desktop.runtime import Engine
from kairos_desktop.store import Store
from kairos_desktop.usage import UsageLedger
from tests.cli.harness import sleep_or_answer
from tests.conftest import EngineFactory, wait_for, wait_sleeping
from tests.fakes.anthropic_server import FakeAnthropic

# One million Sonnet 5.5 input tokens: $2.00; a tenth of that, $0.20.
TENTH = Usage(input_tokens=100_000)


def make(tmp_path: Path, clock: FakeClock, cap: float | None = 1.0
         ) -> tuple[DailyBudget, UsageLedger, list[tuple[str, str]]]:
    store = Store(tmp_path / "store.json", owner=True)
    ledger = UsageLedger(store, clock)
    told: list[tuple[str, str]] = []

    async def tell(title: str, text: str) -> None:
        told.append((title, text))

    budget = DailyBudget(ledger=ledger, store=store, clock=clock, cap=lambda: cap, tell=tell)
    ledger.guard = budget
    return budget, ledger, told


def spend(ledger: UsageLedger, times: int) -> None:
    for _ in range(times):
        ledger.check()
        ledger.record("claude-sonnet-5-5", TENTH, cache_ttl="5m")


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_at_the_cap_the_next_call_is_refused_until_midnight(
        tmp_path: Path, clock: FakeClock) -> None:
    budget, ledger, _ = make(tmp_path, clock)
    spend(ledger, 5)  # $1.00
    with pytest.raises(BudgetExceededError) as caught:
        ledger.check()
    assert caught.value.reopens_at.isoformat() == "2026-11-23T00:00:00+01:00"
    assert "$1.00 spent of $1.00" in str(caught.value)
    clock.set_time(caught.value.reopens_at)
    ledger.check()  # a new day, a new budget
    assert budget.state().level == "ok"


async def test_the_user_is_told_once_at_80_percent_and_once_at_the_cap(
        tmp_path: Path, clock: FakeClock) -> None:
    budget, ledger, told = make(tmp_path, clock)
    spend(ledger, 3)
    await settle()
    assert told == []
    spend(ledger, 2)  # $0.80, then $1.00
    await settle()
    assert [title for title, _ in told] == ["80% of the daily budget", "Daily budget reached"]
    assert "$0.80" in told[0][1] and "$1.00" in told[1][1]
    # A restart (a new budget on the same store) does not tell again.
    again = DailyBudget(ledger=ledger, store=Store(tmp_path / "store.json", owner=True),
                        clock=clock, cap=lambda: 1.0, tell=budget.tell)
    again.recorded()
    await settle()
    assert len(told) == 2


async def test_raising_todays_budget_lets_calls_go_on_and_ends_at_midnight(
        tmp_path: Path, clock: FakeClock) -> None:
    budget, ledger, told = make(tmp_path, clock)
    spend(ledger, 5)
    state = budget.raise_today(2.0)
    assert state.level == "ok" and state.cap_usd == 2.0 and state.raised
    ledger.check()
    spend(ledger, 5)  # $2.00: the raised cap
    await settle()
    assert told[-1][0] == "Daily budget reached"
    assert "$2.00" in told[-1][1]
    with pytest.raises(BudgetExceededError):
        ledger.check()
    clock.advance(86_400)
    state = budget.state()
    assert state.cap_usd == 1.0 and not state.raised


@pytest.mark.parametrize("bad", [0.5, 1.0, -3, "2", True, float("nan"), None])
async def test_a_raise_that_is_not_above_the_cap_and_the_spend_is_refused(
        tmp_path: Path, clock: FakeClock, bad: object) -> None:
    budget, ledger, _ = make(tmp_path, clock)
    spend(ledger, 2)
    with pytest.raises(InputError) as caught:
        budget.raise_today(bad)
    assert caught.value.key == "capUsd"
    assert budget.state().cap_usd == 1.0 and not budget.state().raised


async def test_without_a_budget_nothing_is_refused_or_raised(
        tmp_path: Path, clock: FakeClock) -> None:
    budget, ledger, told = make(tmp_path, clock, cap=None)
    spend(ledger, 20)
    await settle()
    assert told == [] and budget.state().level == "none"
    with pytest.raises(InputError, match="dailyBudgetUsd is null"):
        budget.raise_today(5)


def test_the_reply_to_a_user_says_what_was_spent_the_cap_and_how_to_raise_it(
        tmp_path: Path, clock: FakeClock) -> None:
    budget, ledger, _ = make(tmp_path, clock)
    spend(ledger, 5)
    ledger.record("claude-sonnet-5-5", TENTH, cache_ttl="5m")  # one call may pass the cap
    reply = budget.reply_text()
    assert "$1.20 spent of $1.00" in reply
    assert "kairos budget raise 2.00" in reply and "dailyBudgetUsd" in reply
    assert "Raise budget" in reply


# -- in the running app ----------------------------------------------------------------------

PRICE_PER_TOKEN = 2.0 / 1_000_000  # Sonnet 5.5 input, the default model


def spend_until(engine: Engine, usd: float) -> None:
    """Record model spend so that today's total is `usd` (as calls made earlier today)."""
    missing = usd - engine.usage.spent()
    engine.usage.record("claude-sonnet-5-5", Usage(input_tokens=round(missing / PRICE_PER_TOKEN)),
                        cache_ttl="5m")


def pushed(engine: Engine, title: str) -> list[str]:
    return [n.body for n in engine.notifier.sent if n.title == title]


async def test_the_budget_reached_mid_day_stops_calls_answers_reminds_and_a_raise_resumes(
        make_engine: EngineFactory, fake: FakeAnthropic, clock: FakeClock) -> None:
    fake.on_empty = sleep_or_answer
    engine = make_engine()
    await engine.start(control_api=False)
    await wait_sleeping(engine, 1)
    spend_until(engine, 0.85)
    await wait_for(engine, lambda: pushed(engine, "80% of the daily budget"),
                   what="the 80% warning")
    spend_until(engine, 0.99995)  # the next call, whatever it costs, passes the cap
    engine.app.send("what's the weather?")
    # The answer's call passes the cap; the turn's next call is never made.
    await wait_for(engine, lambda: engine.status.state == "budget", what="the budget state")
    assert len(fake.history) == 2
    assert [m["text"] for m in engine.outbox.recent() if m["status"] == "normal"] == [
        "you said: what's the weather?"]
    assert engine.app.status()["budget"]["state"] == "reached"
    assert "daily budget reached" in engine.app.status()["detail"]

    engine.app.send("and tomorrow?")
    await wait_for(engine, lambda: any("spent of $1.00" in m["text"]
                                       for m in engine.outbox.recent()), what="the reply")
    [reply] = [m["text"] for m in engine.outbox.recent() if "spent of $1.00" in m["text"]]
    assert "kairos budget raise" in reply and "dailyBudgetUsd" in reply
    engine.scheduler.create("20 9 * * *", "stretch your legs", recurring=False, durable=True)
    clock.advance(20 * 60)
    await wait_for(engine, lambda: any(m["text"] == "Reminder: stretch your legs"
                                       for m in engine.outbox.recent()), what="the reminder")
    assert len(fake.history) == 2  # no model call for either
    assert "budget" in engine.daily_log.read(clock.now().date())

    engine.app.raise_budget(2.0)
    await wait_for(engine, lambda: any(m["text"] == "you said: and tomorrow?"
                                       for m in engine.outbox.recent()), what="the answer")
    await wait_sleeping(engine, 2)  # the first tick and this one (the stopped turn was not)
    assert len(pushed(engine, "Daily budget reached")) == 1
    assert len(pushed(engine, "80% of the daily budget")) == 1
    turns = engine.app.usage_turns()
    assert any(t["ended"] == "budget" for t in turns)
