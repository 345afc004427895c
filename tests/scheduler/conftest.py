"""A scheduler on a real store and queue, driven by a fake clock (no model involved)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from kairos_desktop.clock import FakeClock
from kairos_desktop.queue import InboundQueue
from kairos_desktop.scheduler.runtime import Scheduler
from kairos_desktop.settings import Settings
from kairos_desktop.store import Store

MakeScheduler = Callable[..., Scheduler]


@pytest.fixture
def make_scheduler(tmp_path: Path, clock: FakeClock) -> MakeScheduler:
    def build(*, seed_builtins: bool = False, settings: Settings | None = None,
              **kwargs: object) -> Scheduler:
        store = Store(tmp_path / "store.json", owner=True)
        scheduler = Scheduler(store=store, clock=clock, settings=lambda: settings or Settings(),
                              zone=clock.now().tzinfo, queue=InboundQueue(store), **kwargs)
        scheduler.load(seed_builtins=seed_builtins)
        return scheduler
    return build


def queued(scheduler: Scheduler) -> list[str]:
    assert scheduler._queue is not None
    return [item.text for item in scheduler._queue.pending()]
