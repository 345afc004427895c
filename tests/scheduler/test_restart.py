"""A kill -9 right after a fire, then a restart: the task does not fire a second time."""

from __future__ import annotations

import os
import signal
import subprocess
from datetime import timedelta

from kairos_desktop.clock import FakeClock, SystemClock
from kairos_desktop.home import Home
from kairos_desktop.queue import InboundQueue
from kairos_desktop.scheduler.runtime import Scheduler
from kairos_desktop.settings import Settings
from kairos_desktop.store import Store
from tests.fakes.anthropic_server import FakeAnthropic, delay, tool_use
from tests.test_cli import KAIROS, run_until_asleep


def test_a_kill_after_a_fire_and_a_restart_never_fires_twice(
        fake: FakeAnthropic, home: Home) -> None:
    # A recurring task whose slot passed half an hour ago: the app fires it at start.
    now = SystemClock().now()
    slot = now - timedelta(minutes=30)
    store = Store(home.store_file, owner=True)
    scheduler = Scheduler(store=store, clock=FakeClock(now - timedelta(hours=1)),
                          settings=Settings, zone=now.tzinfo, queue=InboundQueue(store))
    task = scheduler.create(f"{slot.minute} {slot.hour} * * *", "water the plants",
                            recurring=True, durable=True)
    store.close()
    env = {**os.environ, "ANTHROPIC_API_KEY": "test", "ANTHROPIC_BASE_URL": fake.base_url,
           "KAIROS_HOME": str(home.root)}

    fake.enqueue(delay(30, tool_use("Sleep", {"seconds": 3000})))  # the first turn hangs
    first = subprocess.Popen([*KAIROS, "run", "--headless"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        fired = fake.wait_for_requests(1, timeout=20)
        assert "water the plants" in fired.last_user_text
        os.kill(first.pid, signal.SIGKILL)  # mid-turn, right after the fire
    finally:
        if first.poll() is None:
            first.kill()
        first.wait(10)

    fake.on_empty = tool_use("Sleep", {"seconds": 3000})
    run_until_asleep(env, home)
    replayed = fake.history[1].last_user_text
    # The unfinished turn's prompt is handed over again (the same queued item), once...
    assert replayed.count("water the plants") == 1
    assert replayed.count("<scheduled-task") == 1
    # ...but the task itself fired only once across both runs, and waits for tomorrow.
    logs = "".join(p.read_text() for p in home.logs_dir.rglob("*.md"))
    assert logs.count("**task fired**") == 1
    reopened = Store(home.store_file)
    [stored] = [t for t in reopened.all("scheduled_tasks") if t["id"] == task.id]
    assert stored["lastFiredAt"] is not None
    assert stored["nextSlotAt"] > now.isoformat()
    assert reopened.all("inbound") == []
