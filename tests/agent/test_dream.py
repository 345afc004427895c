"""autoDream against the fake model: gates, a real consolidation, refusals, failures, undo."""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timedelta

import pytest

from kairos_desktop.agent.dream import DREAM_RETRY
from kairos_desktop.clock import FakeClock
from kairos_desktop.memory.dream_lock import DreamLock
from kairos_desktop.runtime import Engine
from tests.conftest import EngineFactory, wait_for, wait_sleeping, write_settings
from tests.fakes.anthropic_server import FakeAnthropic, RecordedRequest, error, tool_use


async def started(make_engine: EngineFactory, fake: FakeAnthropic) -> Engine:
    fake.enqueue(tool_use("Sleep", {"seconds": 3300}))
    engine = make_engine()
    await engine.start(control_api=False)
    await wait_sleeping(engine, 1)
    return engine


async def dream_finished(engine: Engine) -> None:
    await wait_for(engine, lambda: not engine.dream.state.running
                   and engine.dream.state.phase != "idle", what="the dream to end")


async def dream_waiting(engine: Engine, seconds: int) -> None:
    """Until the dream waits `seconds` for the model (its wait is on the clock by then)."""
    await wait_for(engine, lambda: f"retrying in {seconds} s" in engine.dream.state.detail,
                   what=f"the dream to wait {seconds} s for the model")


def seed_logs(engine: Engine, clock: FakeClock) -> None:
    for days_ago, text in ((2, "my sister Eva moves to Lyon next week"),
                           (1, "Eva's new address is 3 rue Neuve, Lyon")):
        engine.daily_log.append("user", text, at=clock.now() - timedelta(days=days_ago))


async def test_a_dream_merges_two_logs_into_a_topic_and_updates_the_index(
        make_engine: EngineFactory, fake: FakeAnthropic, clock: FakeClock) -> None:
    engine = await started(make_engine, fake)
    seed_logs(engine, clock)
    phases: list[dict] = []

    def watch(reply):
        def answer(request: RecordedRequest):
            phases.append(dict(engine.app.status()["dream"]))
            return reply
        return answer

    fake.enqueue(
        watch(tool_use("MemoryList", {})),
        watch(tool_use("MemorySearch", {"query": "Eva"})),
        watch(tool_use("MemoryWrite", {"topic": "family", "content":
                                       "# Family\n- Sister Eva lives in Lyon (3 rue Neuve) "
                                       "since late November 2026.\n"})),
        watch(tool_use("MemoryIndex", {"content": "- [Family](topics/family.md): Eva, Lyon\n"})),
        watch(tool_use("DreamDone", {"summary": "Recorded Eva's move to Lyon."})))
    gate = engine.dream.maybe_start("requested", force=True)
    assert gate.ok
    await dream_finished(engine)
    assert engine.dream.state.phase == "done", engine.dream.state.detail
    assert "3 rue Neuve" in (engine.home.memory_dir / "topics" / "family.md").read_text()
    assert "topics/family.md" in (engine.home.memory_dir / "MEMORY.md").read_text()
    search = fake.history[3].messages[-1]["content"][0]["content"]
    assert "Lyon next week" in search and "3 rue Neuve" in search
    assert phases[0]["phase"] == "starting" and phases[0]["running"]
    assert phases[3]["phase"] == "updating" and phases[3]["filesTouched"] == ["topics/family.md"]
    assert phases[4]["turns"] == 4
    [run] = engine.dream.runs()
    assert run["status"] == "done" and run["filesTouched"] == ["topics/family.md", "MEMORY.md"]
    assert engine.transcript.turns == []  # a separate conversation, not the main transcript
    # The lock's mtime is now the consolidation time: the time gate closes.
    assert not engine.dream.gates().ok


async def test_writes_outside_topics_and_the_index_are_refused_and_logged(
        make_engine: EngineFactory, fake: FakeAnthropic, clock: FakeClock) -> None:
    engine = await started(make_engine, fake)
    seed_logs(engine, clock)
    log_file = engine.daily_log.path_for(clock.now().date() - timedelta(days=1))
    before = log_file.read_text()
    fake.enqueue(
        tool_use("MemoryWrite", {"topic": "../logs/2026/11/2026-11-21", "content": "rewritten"}),
        tool_use("WriteFile", {"path": "notes.md", "content": "x"}),
        tool_use("SendUserMessage", {"message": "hi", "status": "proactive"}),
        tool_use("DreamDone", {"summary": "nothing"}))
    engine.dream.maybe_start("requested", force=True)
    await dream_finished(engine)
    assert log_file.read_text() == before
    assert not (engine.home.workspace_dir / "notes.md").exists()
    assert engine.outbox.recent() == []
    today = engine.daily_log.read(clock.now().date())
    assert len(re.findall(r"\*\*dream tool \w+\*\* .* -> ERROR ", today)) == 3
    assert "is not a topic name" in today and "no tool named 'WriteFile'" in today


async def test_a_dream_the_model_keeps_failing_gives_up_rolls_the_lock_back_and_restores(
        make_engine: EngineFactory, fake: FakeAnthropic, clock: FakeClock) -> None:
    engine = await started(make_engine, fake)
    engine.memory.write_topic("work", "Project Atlas ships in March.\n")
    lock = engine.dream.lock
    os.utime(lock.path if lock.path.exists() else _touch(lock.path), (1_000_000, 1_000_000))
    rewrite = {"topic": "work", "content": "Project Atlas ships in April.\n"}
    assert DREAM_RETRY.max_attempts == 5
    fake.enqueue(tool_use("MemoryWrite", rewrite), *[error(500)] * 5)
    engine.dream.maybe_start("requested", force=True)
    for seconds in (15, 30, 60, 120):  # the outage is waited out four times, then it gives up
        await dream_waiting(engine, seconds)
        assert engine.dream.state.running
        clock.advance(seconds)
    await dream_finished(engine)
    assert engine.dream.state.phase == "failed"
    assert "the model API had an internal error (500" in engine.dream.state.detail
    assert [r.reply_status for r in fake.history[1:]] == [200, 500, 500, 500, 500, 500]
    assert lock.last_consolidated() == 1_000_000  # a later scan retries
    assert engine.memory.read_topic("work") == "Project Atlas ships in March.\n"
    assert engine.dream.runs()[0]["status"] == "failed"


async def test_a_dream_waits_out_a_429_and_finishes(
        make_engine: EngineFactory, fake: FakeAnthropic, clock: FakeClock) -> None:
    engine = await started(make_engine, fake)
    fake.enqueue(error(429), tool_use("MemoryWrite", {"topic": "work", "content": "Atlas\n"}),
                 tool_use("DreamDone", {"summary": "noted Atlas"}))
    engine.dream.maybe_start("requested", force=True)
    await dream_waiting(engine, 15)
    assert engine.dream.state.running and len(fake.history) == 2  # the heartbeat's, the 429
    clock.advance(15)
    await dream_finished(engine)
    assert engine.dream.state.phase == "done", engine.dream.state.detail
    assert engine.memory.read_topic("work") == "Atlas\n"
    assert fake.history[1].body == fake.history[2].body  # the same request, tried again
    today = engine.daily_log.read(clock.now().date())
    assert "**dream** model call failed (attempt 1 of 5)" in today
    assert '**dream tool MemoryWrite** {"topic": "work", "content": "Atlas\\n"} -> ' in today
    assert "**dream tool DreamDone**" in today
    assert "**tool MemoryWrite**" not in today  # told apart from the heartbeat's tool calls
    assert engine.usage.day()["calls"] == 3  # the heartbeat's tick and the dream's two calls


async def test_a_dream_with_a_rejected_key_fails_at_once(
        make_engine: EngineFactory, fake: FakeAnthropic) -> None:
    engine = await started(make_engine, fake)
    fake.enqueue(error(401))
    engine.dream.maybe_start("requested", force=True)
    await dream_finished(engine)
    assert engine.dream.state.phase == "failed" and "401" in engine.dream.state.detail
    assert len(fake.history) == 2


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    return path


async def test_a_dream_that_would_delete_too_much_stops_and_asks(
        make_engine: EngineFactory, fake: FakeAnthropic) -> None:
    engine = await started(make_engine, fake)
    for name in ("family", "work", "health", "travel"):
        engine.memory.write_topic(name, f"# {name}\n" + "fact\n" * 50)
    fake.enqueue(tool_use("MemoryDelete", {"topic": "work"}),
                 tool_use("MemoryDelete", {"topic": "health"}),
                 tool_use("DreamDone", {"summary": "tidied"}))
    engine.dream.maybe_start("requested", force=True)
    await dream_finished(engine)
    assert engine.dream.state.phase == "stopped"
    assert sorted(engine.memory.topics()) == ["family", "health", "travel", "work"]
    [message] = engine.outbox.recent()
    assert "would remove" in message["text"] and "--allow-large-delete" in message["text"]
    assert any("needs your OK" in n.title for n in engine.notifier.sent)


async def test_undo_restores_memory_from_before_the_last_dream(
        make_engine: EngineFactory, fake: FakeAnthropic) -> None:
    engine = await started(make_engine, fake)
    engine.memory.write_topic("work", "Atlas ships in March\n")
    engine.memory.write_topic("family", "# Family\n" + "Eva lives in Lyon.\n" * 20)
    fake.enqueue(tool_use("MemoryWrite", {"topic": "work", "content": "Atlas cancelled\n"}),
                 tool_use("DreamDone", {"summary": "updated Atlas"}))
    engine.dream.maybe_start("requested", force=True)
    await dream_finished(engine)
    assert engine.memory.read_topic("work") == "Atlas cancelled\n"
    run_id = engine.dream.undo()
    assert engine.memory.read_topic("work") == "Atlas ships in March\n"
    assert engine.dream.runs()[0]["status"] == "undone" and run_id


async def test_the_gates_open_only_after_24_hours_and_5_session_days(
        make_engine: EngineFactory, fake: FakeAnthropic, clock: FakeClock) -> None:
    engine = await started(make_engine, fake)
    dream = engine.dream
    _touch(dream.lock.path)
    now = clock.now().timestamp()
    os.utime(dream.lock.path, (now - 23 * 3600, now - 23 * 3600))
    assert "23.0 h ago" in dream.gates().reason
    os.utime(dream.lock.path, (now - 24 * 3600, now - 24 * 3600))
    for day in range(4):
        dream.activity.record("s", f"2026-11-2{2 + day}")
    assert "4 active session-day(s)" in dream.gates().reason
    dream.activity.record("t", "2026-11-22")
    assert dream.gates().ok


async def test_scans_are_throttled_to_one_per_ten_minutes(
        make_engine: EngineFactory, fake: FakeAnthropic, clock: FakeClock, home) -> None:
    write_settings(home, {"autoDreamEnabled": False})
    engine = await started(make_engine, fake)
    assert "autoDreamEnabled" in engine.dream.maybe_start("scan").reason
    assert engine.dream.maybe_start("scan").reason == "scanned less than 10 minutes ago"
    clock.advance(600)
    assert "autoDreamEnabled" in engine.dream.maybe_start("scan").reason


def test_two_processes_cannot_hold_the_dream_lock(tmp_path) -> None:
    first, second = DreamLock(tmp_path / ".lock"), DreamLock(tmp_path / ".lock")
    assert first.try_acquire(2_000_000.0)
    assert not second.try_acquire(2_000_000.0)
    first.release(success=True)
    assert second.try_acquire(3_000_000.0)
    second.release(success=False)
    assert second.last_consolidated() == 2_000_000.0


def test_a_crashed_run_is_rolled_back_at_the_next_start(tmp_path) -> None:
    path = tmp_path / ".lock"
    path.write_text(json.dumps({"pid": 1, "previous": 1_500_000.0}))
    os.utime(path, (2_000_000, 2_000_000))  # the crashed run had stamped it
    assert DreamLock(path).recover()
    assert DreamLock(path).last_consolidated() == 1_500_000.0


@pytest.mark.parametrize("env", ["KAIROS_DISABLE_DREAM"])
async def test_the_kill_switch_stops_dreams(make_engine: EngineFactory, fake: FakeAnthropic,
                                            monkeypatch: pytest.MonkeyPatch, env: str) -> None:
    engine = await started(make_engine, fake)
    monkeypatch.setenv(env, "1")
    assert engine.dream.maybe_start("requested", force=True).reason == f"{env} is set"


async def test_the_nightly_task_and_the_scan_together_start_exactly_one_dream(
        make_engine: EngineFactory, fake: FakeAnthropic, clock: FakeClock) -> None:
    engine = await started(make_engine, fake)
    for day in range(5):
        engine.dream.activity.record("s", f"2026-11-1{day}")
    # The heartbeat (the daily catch-up fires too) and the dream share the fake: answer by whose
    # conversation it is.
    fake.on_empty = lambda r: (tool_use("DreamDone", {"summary": "nothing new"})
                               if "memory consolidation" in r.system_text
                               else tool_use("Sleep", {"seconds": 3300}))
    dream_task = engine.scheduler.get("dream")
    assert dream_task is not None and dream_task.next_slot_at == "2026-11-23T03:17:00+01:00"
    clock.set_time(datetime.fromisoformat(dream_task.next_due_at))
    # At 03:17 the user is away: the 10-minute scan and the nightly task both look at the gates.
    await wait_for(engine, lambda: engine.dream.state.phase == "done", what="the nightly dream")
    assert "**dream** nightly trigger:" in engine.daily_log.read(clock.now().date())
    assert len(engine.dream.runs()) == 1
    assert engine.dream.runs()[0]["reason"] in ("nightly", "scan")
