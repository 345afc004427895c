"""Quiet hours and bursts: fewer interruptions, nothing dropped."""

from __future__ import annotations

import asyncio
import io
from datetime import datetime

from kairos_desktop.clock import FakeClock
from kairos_desktop.delivery.notifier import ConsoleNotifier, Notification
from kairos_desktop.delivery.policy import NotificationPolicy
from kairos_desktop.settings import Settings
from tests.conftest import PARIS


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def test_a_burst_collapses_into_one_summary_at_the_end_of_the_window(
        clock: FakeClock) -> None:
    backend = ConsoleNotifier(io.StringIO())
    policy = NotificationPolicy(backend, clock=clock, settings=Settings)
    for i in range(6):
        assert await policy.notify(Notification("Kairos", f"update {i}", "message"))
        clock.advance(30)
    assert [n.body for n in backend.sent] == ["update 0", "update 1", "update 2"]
    assert policy.held == 3
    clock.advance(10 * 60)
    await settle()
    assert len(backend.sent) == 4
    summary = backend.sent[-1]
    assert summary.kind == "summary" and summary.title == "Kairos: 3 updates in the last minutes"
    assert "update 3" in summary.body and "update 5" in summary.body
    await policy.close()


async def test_urgent_notifications_are_never_held(clock: FakeClock) -> None:
    backend = ConsoleNotifier(io.StringIO())
    policy = NotificationPolicy(
        backend, clock=clock,
        settings=lambda: Settings(quietHours={"start": "08:00", "end": "10:00"}))
    await policy.notify(Notification("Standup", "now", "push", urgent=True))
    await policy.notify(Notification("Kairos", "a finding", "message"))
    assert [n.title for n in backend.sent] == ["Standup"]
    await policy.close()


async def test_quiet_hours_hold_and_summarise_when_they_end() -> None:
    clock = FakeClock(datetime(2026, 11, 22, 23, 0, tzinfo=PARIS))
    backend = ConsoleNotifier(io.StringIO())
    policy = NotificationPolicy(
        backend, clock=clock,
        settings=lambda: Settings(quietHours={"start": "22:00", "end": "07:00"}))
    await policy.notify(Notification("Kairos", "build finished", "message"))
    await policy.notify(Notification("Kairos: new file", "report.pdf", "file"))
    assert backend.sent == []
    clock.advance(7 * 3600 + 59 * 60)  # 06:59
    await settle()
    assert backend.sent == []
    clock.advance(60)  # 07:00
    await settle()
    [summary] = backend.sent
    assert summary.title == "Kairos: 2 updates while you were in quiet hours"
    assert "build finished" in summary.body and "report.pdf" in summary.body
    await policy.close()


def test_quiet_hours_must_be_hh_mm() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"quiet_hours\.start|quietHours"):
        Settings(quietHours={"start": "10pm", "end": "07:00"})
