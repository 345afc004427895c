"""The scheduler inside the running engine: fires wake the loop and reach the model."""

from __future__ import annotations

import json

from kairos_desktop.clock import FakeClock
from tests.conftest import EngineFactory, wait_for, wait_sleeping
from tests.fakes.anthropic_server import FakeAnthropic, RecordedRequest, tool_use


async def test_a_fire_wakes_the_sleeping_loop_and_the_model_sees_the_task(
        make_engine: EngineFactory, fake: FakeAnthropic, clock: FakeClock) -> None:
    fake.on_empty = tool_use("Sleep", {"seconds": 3300})
    engine = make_engine()
    await engine.start(control_api=False)
    await wait_sleeping(engine, 1)
    task = engine.scheduler.create("20 9 * * *", "summarise my inbox", recurring=False,
                                   durable=True)
    assert engine.app.status()["nextTask"]["id"] == task.id
    seen_on_disk: list[dict] = []

    def check_store_then_sleep(request: RecordedRequest):
        # Runs when the request reaches the model: the fire must already be on disk.
        seen_on_disk.append(json.loads(engine.home.store_file.read_text()))
        return tool_use("Sleep", {"seconds": 3300})

    fake.enqueue(check_store_then_sleep)
    clock.advance(20 * 60)  # 09:20, long before the loop's 55-minute sleep ends
    request = await fake.await_requests(2)
    assert f'<scheduled-task id="{task.id}" due="2026-11-22T09:20:00+01:00"' in \
        request.last_user_text
    assert "summarise my inbox" in request.last_user_text
    await wait_sleeping(engine, 2)
    tasks = seen_on_disk[0].get("scheduled_tasks", {}).values()
    assert task.id not in {t["id"] for t in tasks}  # the one-shot was consumed before the call


async def test_a_wall_clock_jump_is_caught_up_within_a_minute(
        make_engine: EngineFactory, fake: FakeAnthropic, clock: FakeClock) -> None:
    fake.on_empty = tool_use("Sleep", {"seconds": 3300})
    engine = make_engine()
    await engine.start(control_api=False)
    await wait_sleeping(engine, 1)
    engine.scheduler.create("20 14 22 11 *", "call the bank", recurring=False, durable=True)
    clock.jump_wall(2 * 86_400)  # the laptop slept two days; monotonic time stood still
    clock.advance(60)  # the scheduler's longest wait
    request = await fake.await_requests(2)
    assert 'catch_up="true"' in request.last_user_text
    assert "was due at 2026-11-22T14:20:00+01:00" in request.last_user_text
    await wait_for(engine, lambda: "the wall clock jumped" in engine.daily_log.read(
        clock.now().date()), what="the jump in the log")


async def test_the_model_creates_lists_and_deletes_tasks(
        make_engine: EngineFactory, fake: FakeAnthropic) -> None:
    fake.enqueue(
        tool_use("CronCreate", {"cron": "3 9 * * *", "prompt": "check PRs", "recurring": True,
                                "durable": False}),
        tool_use("CronCreate", {"cron": "61 9 * * *", "prompt": "bad", "recurring": True,
                                "durable": False}),
        tool_use("CronList", {}),
        lambda r: tool_use("CronDelete", {"id": json.loads(
            r.messages[2]["content"][0]["content"])["id"]}),
        tool_use("Sleep", {"seconds": 600}))
    engine = make_engine()
    await engine.start(control_api=False)
    await wait_sleeping(engine, 1)
    created = json.loads(fake.history[1].messages[-1]["content"][0]["content"])
    assert created["nextFireAt"].startswith("2026-11-22T09:")  # 09:03 today, plus jitter
    bad = fake.history[2].messages[-1]["content"][0]
    assert bad["is_error"] and "is not a valid cron expression" in bad["content"]
    listing = fake.history[3].messages[-1]["content"][0]["content"]
    assert "check PRs" in listing and "morning-check-in" in listing
    assert created["id"] not in {t.id for t in engine.scheduler.tasks()}


async def test_without_a_key_a_fired_task_is_delivered_as_a_reminder(
        make_engine: EngineFactory, fake: FakeAnthropic, clock: FakeClock) -> None:
    engine = make_engine(api_key=None)
    await engine.start(control_api=False)
    engine.scheduler.create("20 9 * * *", "stretch your legs", recurring=False, durable=True)
    clock.advance(20 * 60)
    await wait_for(engine, lambda: len(engine.outbox.recent()) == 1, what="the reminder")
    assert engine.outbox.recent()[0]["text"] == "Reminder: stretch your legs"
    assert engine.notifier.sent[0].body == "Reminder: stretch your legs"
    assert fake.history == []
