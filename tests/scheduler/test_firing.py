"""Firing: once per slot, durable before the model sees it, catch-up after sleep or downtime."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from kairos_desktop.clock import FakeClock
from kairos_desktop.errors import InvalidCronError, TaskLimitError
from kairos_desktop.settings import Settings
from tests.scheduler.conftest import MakeScheduler, queued

DAY = 86_400


def test_a_one_shot_task_fires_once_at_its_time_and_is_removed(
        make_scheduler: MakeScheduler, clock: FakeClock) -> None:
    scheduler = make_scheduler()
    task = scheduler.create("20 14 22 11 *", "call the bank", recurring=False, durable=True)
    assert task.next_due_at == "2026-11-22T14:20:00+01:00"
    clock.set_time(clock.now().replace(hour=14, minute=19, second=59))
    assert scheduler.fire_due() == []
    clock.advance(1)
    assert scheduler.fire_due() == [task.id]
    assert queued(scheduler) == ["call the bank"]
    assert scheduler.get(task.id) is None
    clock.advance(365 * DAY)
    assert scheduler.fire_due() == []


def test_the_fire_and_the_queued_prompt_are_written_together(
        make_scheduler: MakeScheduler, clock: FakeClock, tmp_path: Path) -> None:
    scheduler = make_scheduler()
    task = scheduler.create("7 10 * * *", "stand-up notes", recurring=True, durable=True)
    clock.set_time(datetime.fromisoformat(task.next_due_at))
    scheduler.fire_due()
    on_disk = json.loads((tmp_path / "store.json").read_text())
    [stored] = on_disk["scheduled_tasks"].values()
    [item] = on_disk["inbound"].values()
    assert stored["lastFiredAt"] == task.next_due_at
    assert stored["nextDueAt"].startswith("2026-11-23T10:")
    assert item["meta"]["taskId"] == task.id and item["text"] == "stand-up notes"


def test_a_restart_after_a_fire_does_not_fire_again(
        make_scheduler: MakeScheduler, clock: FakeClock) -> None:
    first = make_scheduler()
    first.create("7 10 * * *", "stand-up notes", recurring=True, durable=True)
    clock.advance(2 * 3600)
    assert len(first.fire_due()) == 1
    restarted = make_scheduler()  # same store, as after a kill
    assert restarted.fire_due() == []
    assert len(queued(restarted)) == 1
    clock.advance(DAY)
    assert len(restarted.fire_due()) == 1


def test_a_laptop_asleep_for_three_days_fires_each_task_exactly_once(
        make_scheduler: MakeScheduler, clock: FakeClock) -> None:
    scheduler = make_scheduler()
    scheduler.create("20 14 23 11 *", "one-shot A", recurring=False, durable=True)
    scheduler.create("40 16 24 11 *", "one-shot B", recurring=False, durable=False)
    daily = scheduler.create("7 10 * * *", "daily C", recurring=True, durable=True)
    clock.jump_wall(3 * DAY)  # suspended: wall time moved, monotonic did not
    fired = scheduler.fire_due()
    assert len(fired) == 3
    texts = queued(scheduler)
    assert any(t.startswith("one-shot A") and "was due at 2026-11-23T14:20:00+01:00" in t
               for t in texts)
    assert any(t.startswith("one-shot B") and "was due at 2026-11-24T16:40:00+01:00" in t
               for t in texts)
    assert any(t.startswith("daily C") and "missed 3 run(s)" in t for t in texts)
    assert scheduler.fire_due() == []
    assert scheduler.get(daily.id).next_due_at.startswith("2026-11-25T10:")  # today, 09:00 now


def test_a_daily_task_across_a_dst_change_fires_once_a_day_at_local_time(
        make_scheduler: MakeScheduler, clock: FakeClock) -> None:
    clock.set_time(clock.now().replace(year=2027, month=3, day=26, hour=12))
    scheduler = make_scheduler()
    task = scheduler.create("45 7 * * *", "walk", recurring=True, durable=True)
    fire_times = []
    for _ in range(4 * 24):  # four days, hour by hour, across 28 March 2027
        clock.advance(3600)
        if scheduler.fire_due():
            fire_times.append(scheduler.get(task.id).last_fired_at)
    assert [t[:10] for t in fire_times] == ["2027-03-27", "2027-03-28", "2027-03-29",
                                            "2027-03-30"]
    assert all(t[11:13] == "08" for t in fire_times)  # 07:45 plus up to 15 min jitter, hourly


def test_a_recurring_task_expires_after_seven_days_with_a_last_run(
        make_scheduler: MakeScheduler, clock: FakeClock) -> None:
    scheduler = make_scheduler()
    scheduler.create("7 10 * * *", "water the plants", recurring=True, durable=True)
    keeper = scheduler.create("9 10 * * *", "take pills", recurring=True, durable=True,
                              permanent=True)
    for _ in range(10):
        clock.advance(DAY)
        scheduler.fire_due()
    texts = [t for t in queued(scheduler) if t.startswith("water")]
    assert len(texts) == 7
    assert "[last run: recurring tasks expire after 7 days" in texts[-1]
    assert not any("[last run" in t for t in texts[:-1])
    assert scheduler.get(keeper.id) is not None


def test_session_only_tasks_do_not_survive_a_restart(
        make_scheduler: MakeScheduler) -> None:
    scheduler = make_scheduler()
    scheduler.create("7 10 * * *", "durable", recurring=True, durable=True)
    scheduler.create("8 10 * * *", "session", recurring=True, durable=False)
    assert [t.prompt for t in make_scheduler().tasks()] == ["durable"]


def test_invalid_expressions_store_nothing(make_scheduler: MakeScheduler, tmp_path) -> None:
    scheduler = make_scheduler()
    with pytest.raises(InvalidCronError, match="can never fire"):
        scheduler.create("0 0 31 2 *", "never", recurring=True, durable=True)
    assert scheduler.tasks() == [] and make_scheduler().tasks() == []


def test_the_task_cap_gives_a_clear_error(make_scheduler: MakeScheduler) -> None:
    scheduler = make_scheduler(settings=Settings(maxScheduledTasks=2))
    scheduler.create("1 10 * * *", "a", recurring=True, durable=False)
    scheduler.create("2 10 * * *", "b", recurring=True, durable=False)
    with pytest.raises(TaskLimitError, match="maxScheduledTasks is 2"):
        scheduler.create("3 10 * * *", "c", recurring=True, durable=False)


def test_built_ins_are_written_once_and_a_deleted_one_stays_deleted(
        make_scheduler: MakeScheduler) -> None:
    scheduler = make_scheduler(seed_builtins=True)
    names = sorted(t.builtin for t in scheduler.tasks())
    assert names == ["daily-catch-up", "dream", "morning-check-in"]
    assert all(t.permanent and t.durable for t in scheduler.tasks())
    scheduler.delete("morning-check-in")
    store = scheduler._store
    store.update("scheduled_tasks", {"cron": "11 7 * * *"}, id="daily-catch-up")
    again = make_scheduler(seed_builtins=True)
    assert sorted(t.builtin for t in again.tasks()) == ["daily-catch-up", "dream"]
    assert again.get("daily-catch-up").cron == "11 7 * * *"


def test_with_durable_cron_disabled_only_session_tasks_fire(
        make_scheduler: MakeScheduler, clock: FakeClock) -> None:
    scheduler = make_scheduler(durable_fire_disabled=True)
    scheduler.create("7 10 * * *", "durable", recurring=True, durable=True)
    scheduler.create("8 10 * * *", "session", recurring=True, durable=False)
    clock.advance(2 * 3600)
    scheduler.fire_due()
    assert [t.split("\n")[0] for t in queued(scheduler)] == ["session"]


def test_with_cron_disabled_nothing_fires(
        make_scheduler: MakeScheduler, clock: FakeClock) -> None:
    scheduler = make_scheduler(fire_disabled=True)
    scheduler.create("7 10 * * *", "durable", recurring=True, durable=True)
    clock.advance(2 * 3600)
    assert scheduler.fire_due() == [] and queued(scheduler) == []
