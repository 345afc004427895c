"""The memory section of the system prompt: index and recent log, stable between ticks."""

from __future__ import annotations

from datetime import timedelta

from kairos_desktop.clock import FakeClock
from kairos_desktop.journal import DailyLog
from kairos_desktop.memory.files import MemoryFiles
from kairos_desktop.memory.prompt import memory_section
from tests.conftest import EngineFactory, wait_sleeping
from tests.fakes.anthropic_server import FakeAnthropic, tool_use


def test_the_section_holds_the_index_and_the_recent_log_without_noise(
        tmp_path, clock: FakeClock) -> None:
    files = MemoryFiles(tmp_path)
    files.write_index("- [Family](topics/family.md): Eva in Lyon\n")
    log = DailyLog(tmp_path / "logs", clock, key=b"k")
    log.append("user", "book the dentist", at=clock.now() - timedelta(days=1))
    log.append("tick", "quiet; sleeping 55 min")
    log.append("dream tool MemoryList", "{} -> family.md")
    log.append("message (normal)", "Booked for Tuesday 10:00")
    text = memory_section(files, log, clock.now().date(), budget_tokens=3000)
    assert "Eva in Lyon" in text
    assert "2026-11-21 " in text and "book the dentist" in text
    assert "Booked for Tuesday" in text
    assert "quiet" not in text and "<!--" not in text
    assert "MemoryList" not in text  # the dream's own tool calls are not the user's history
    assert text.index("book the dentist") < text.index("Booked for Tuesday")  # oldest first


def test_the_log_tail_keeps_the_newest_entries_within_the_budget(
        tmp_path, clock: FakeClock) -> None:
    log = DailyLog(tmp_path / "logs", clock, key=b"k")
    for i in range(400):
        log.append("user", f"note number {i:03d} " + "x" * 80)
    text = memory_section(MemoryFiles(tmp_path), log, clock.now().date(), budget_tokens=1000)
    assert len(text) <= 1000 * 4
    assert "note number 399" in text and "note number 000" not in text


async def test_the_system_prompt_stays_identical_across_quiet_ticks(
        make_engine: EngineFactory, fake: FakeAnthropic, clock: FakeClock) -> None:
    fake.on_empty = tool_use("Sleep", {"seconds": 3000})
    engine = make_engine()
    engine_home = engine.home
    MemoryFiles(engine_home.memory_dir).write_index("- [Work](topics/work.md): Atlas\n")
    await engine.start(control_api=False)
    for n in (1, 2, 3):
        await wait_sleeping(engine, n)
        clock.advance(3000)
    await fake.await_requests(4)
    systems = [r.system_text for r in fake.history]
    assert "Atlas" in systems[0]
    assert systems[0] == systems[1] == systems[2] == systems[3]
    engine.memory.write_index("- [Work](topics/work.md): Atlas, Borealis\n")
    await wait_sleeping(engine, 4)
    clock.advance(3000)
    assert "Borealis" in (await fake.await_requests(5)).system_text
