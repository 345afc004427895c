"""SendUserMessage and PushNotification: stored, logged, notified by status."""

from __future__ import annotations

import io
from datetime import date

from tests.conftest import EngineFactory, wait_sleeping, write_settings
from tests.fakes.anthropic_server import FakeAnthropic, tool_use, tool_uses


async def test_proactive_messages_notify_and_normal_ones_do_not(
        make_engine: EngineFactory, fake: FakeAnthropic, console: io.StringIO) -> None:
    fake.enqueue(tool_uses(("SendUserMessage", {"message": "Your build failed",
                                                "status": "proactive"}),
                           ("SendUserMessage", {"message": "ok", "status": "normal"})),
                 tool_use("Sleep", {"seconds": 600}))
    engine = make_engine()
    await engine.start(control_api=False)
    await wait_sleeping(engine, 1)
    assert [(m["text"], m["status"]) for m in engine.outbox.recent()] == [
        ("Your build failed", "proactive"), ("ok", "normal")]
    assert engine.notifier.sent[0].body == "Your build failed"
    assert len(engine.notifier.sent) == 1
    assert "[notification] Kairos: Your build failed" in console.getvalue()


async def test_push_notification_is_shown_and_logged(
        make_engine: EngineFactory, fake: FakeAnthropic) -> None:
    fake.enqueue(tool_use("PushNotification", {"title": "Standup", "body": "in 5 minutes"}),
                 tool_use("Sleep", {"seconds": 600}))
    engine = make_engine()
    await engine.start(control_api=False)
    await wait_sleeping(engine, 1)
    assert fake.history[1].messages[-1]["content"][0]["content"] == "Notification shown."
    assert "**notification** Standup: in 5 minutes" in engine.daily_log.read(date(2026, 11, 22))


async def test_with_notifications_off_the_model_is_told_to_use_a_message(
        make_engine: EngineFactory, fake: FakeAnthropic, home) -> None:
    write_settings(home, {"notificationsEnabled": False})
    fake.enqueue(tool_use("PushNotification", {"title": "Standup", "body": "now"}),
                 tool_use("Sleep", {"seconds": 600}))
    engine = make_engine()
    await engine.start(control_api=False)
    await wait_sleeping(engine, 1)
    result = fake.history[1].messages[-1]["content"][0]
    assert result["is_error"] is True and "Use SendUserMessage" in result["content"]
    assert engine.notifier.sent == []
