"""Catch-up per task: "once" runs a missed task once when the app is back, "skip" lets the gap
pass and records it on the task and in the daily log, so nothing vanishes silently."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from kairos_desktop.clock import FakeClock
from kairos_desktop.errors import InputError
from kairos_desktop.journal import DailyLog
from tests.conftest import EngineFactory, wait_sleeping
from tests.fakes.anthropic_server import FakeAnthropic, tool_use
from tests.scheduler.conftest import MakeScheduler, queued

DAY = 86_400


@pytest.fixture
def log(tmp_path: Path, clock: FakeClock) -> DailyLog:
    return DailyLog(tmp_path / "logs", clock)


def test_a_skipped_task_after_a_three_day_gap_runs_nothing_and_says_what_it_missed(
        make_scheduler: MakeScheduler, clock: FakeClock, log: DailyLog, tmp_path: Path) -> None:
    scheduler = make_scheduler(daily_log=log)
    standup = scheduler.create("7 10 * * *", "check the standup notes", recurring=True,
                               durable=True, catch_up="skip")
    rent = scheduler.create("13 10 * * *", "pay the rent", recurring=True, durable=True)
    clock.jump_wall(3 * DAY)  # the laptop slept from Sunday 09:00 to Wednesday 09:00
    assert scheduler.fire_due() == [rent.id]
    assert [t.split("\n")[0] for t in queued(scheduler)] == ["pay the rent"]
    task = scheduler.get(standup.id)
    assert task is not None and task.last_missed is not None
    assert task.last_missed.text == "missed 3 runs while the laptop slept or kairos was closed"
    assert task.last_missed.count == 3
    assert task.next_due_at.startswith("2026-11-25T10:")  # today's run still comes
    text = log.read(clock.now().date())
    assert "missed 3 runs while the laptop slept" in text
    assert "check the standup notes" in text and "catchUp is skip" in text
    stored = json.loads((tmp_path / "store.json").read_text())["scheduled_tasks"]
    [doc] = [d for d in stored.values() if d["id"] == standup.id]
    assert doc["catchUp"] == "skip" and doc["lastMissed"]["count"] == 3


def test_after_a_skip_the_next_slot_runs_on_time_and_the_gap_is_not_counted_again(
        make_scheduler: MakeScheduler, clock: FakeClock, log: DailyLog) -> None:
    scheduler = make_scheduler(daily_log=log)
    task = scheduler.create("7 10 * * *", "standup", recurring=True, durable=True,
                            catch_up="skip")
    clock.jump_wall(3 * DAY)
    scheduler.fire_due()
    clock.set_time(datetime.fromisoformat(scheduler.get(task.id).next_due_at))
    assert scheduler.fire_due() == [task.id]
    assert queued(scheduler) == ["standup"]  # on time: not a catch-up, nothing noted
    clock.jump_wall(2 * DAY)
    scheduler.fire_due()
    assert scheduler.get(task.id).last_missed.count == 2


def test_a_missed_one_shot_with_skip_is_removed_and_the_log_keeps_it(
        make_scheduler: MakeScheduler, clock: FakeClock, log: DailyLog) -> None:
    scheduler = make_scheduler(daily_log=log)
    task = scheduler.create("0 9 23 11 *", "join the 9:00 call", recurring=False, durable=True,
                            catch_up="skip")
    clock.jump_wall(2 * DAY)
    assert scheduler.fire_due() == []
    assert scheduler.get(task.id) is None and queued(scheduler) == []
    assert "missed 1 run while the laptop slept" in log.read(clock.now().date())


def test_a_missed_task_with_the_default_still_runs_once(
        make_scheduler: MakeScheduler, clock: FakeClock) -> None:
    scheduler = make_scheduler()
    task = scheduler.create("7 10 * * *", "pay the rent", recurring=True, durable=True)
    assert task.catch_up == "once"
    clock.jump_wall(3 * DAY)
    assert scheduler.fire_due() == [task.id]
    assert "missed 3 run(s)" in queued(scheduler)[0]


def test_a_restart_keeps_the_choice_and_the_record(
        make_scheduler: MakeScheduler, clock: FakeClock) -> None:
    scheduler = make_scheduler()
    task = scheduler.create("7 10 * * *", "standup", recurring=True, durable=True,
                            catch_up="skip")
    clock.jump_wall(DAY)
    scheduler.fire_due()
    again = make_scheduler().get(task.id)
    assert again is not None and again.catch_up == "skip"
    assert again.last_missed is not None and again.last_missed.count == 1


@pytest.mark.parametrize("bad", ["always", "", "Skip", None])
def test_a_catch_up_outside_the_two_is_refused_naming_it_and_stores_nothing(
        make_scheduler: MakeScheduler, tmp_path: Path, bad: object) -> None:
    scheduler = make_scheduler()
    with pytest.raises(InputError, match='catchUp must be "once"') as caught:
        scheduler.create("7 10 * * *", "standup", recurring=True, durable=True,
                         catch_up=bad)  # type: ignore[arg-type]
    assert caught.value.key == "catchUp"
    assert scheduler.tasks() == []
    store = tmp_path / "store.json"
    assert not store.exists() or not json.loads(store.read_text()).get("scheduled_tasks")


async def test_the_model_chooses_skip_in_cron_create_and_a_bad_choice_is_refused(
        make_engine: EngineFactory, fake: FakeAnthropic) -> None:
    fake.enqueue(
        tool_use("CronCreate", {"cron": "3 9 * * 1-5", "prompt": "check the standup",
                                "recurring": True, "durable": True, "catchUp": "skip"}),
        tool_use("CronCreate", {"cron": "7 9 1 * *", "prompt": "pay the rent",
                                "recurring": True, "durable": True, "catchUp": "always"}),
        tool_use("Sleep", {"seconds": 600}))
    engine = make_engine()
    await engine.start(control_api=False)
    await wait_sleeping(engine, 1)
    created = json.loads(fake.history[1].messages[-1]["content"][0]["content"])
    assert created["catchUp"] == "skip"
    assert engine.scheduler.get(created["id"]).catch_up == "skip"
    bad = fake.history[2].messages[-1]["content"][0]
    assert bad["is_error"] and "catchUp" in bad["content"]
    assert [t.prompt for t in engine.scheduler.tasks() if t.builtin is None] == [
        "check the standup"]
