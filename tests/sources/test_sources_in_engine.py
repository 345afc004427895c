"""Watched folders and channels inside the running engine."""

from __future__ import annotations

import sys
from pathlib import Path

from kairos_desktop.clock import FakeClock
from tests.conftest import EngineFactory, wait_sleeping, write_settings
from tests.fakes.anthropic_server import FakeAnthropic, tool_use
from tests.waiting import until

CHANNEL_SERVER = Path(__file__).with_name("channel_server.py")


async def test_a_folder_set_to_wake_wakes_the_loop_with_one_summary(
        make_engine: EngineFactory, fake: FakeAnthropic, clock: FakeClock, home,
        tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    write_settings(home, {"watchedFolders": [{"path": str(notes), "wake": True}],
                          "folderDebounceSeconds": 2})
    fake.on_empty = tool_use("Sleep", {"seconds": 3300})
    engine = make_engine()
    await engine.start(control_api=False)
    await wait_sleeping(engine, 1)
    for i in range(12):
        (notes / f"idea-{i}.md").write_text("x")
    # The raw events come from watchdog's thread: wait until the whole burst has arrived.
    await until(lambda: [p["changed"] for p in engine.folders.pending.values()] == [12],
                "the 12 changes to be recorded", 5)
    clock.advance(2)
    request = await fake.await_requests(2)
    assert '<external source="folder:' in request.last_user_text
    assert "12 files changed" in request.last_user_text and "12 new" in request.last_user_text
    assert request.last_user_text.count("<external") == 1


async def test_a_channel_event_reaches_the_model_and_its_reply_tool_reaches_the_server(
        make_engine: EngineFactory, fake: FakeAnthropic, home, tmp_path: Path) -> None:
    events = tmp_path / "events.txt"
    events.write_text("the deploy of v2 finished\n")
    replies = tmp_path / "replies.txt"
    write_settings(home, {"channelsEnabled": True, "allowedChannelPlugins": ["ops"],
                          "channelServers": {"ops": {
                              "command": sys.executable, "args": [str(CHANNEL_SERVER)],
                              "env": {"CHANNEL_EVENTS_FILE": str(events),
                                      "CHANNEL_REPLY_FILE": str(replies)}}}})
    fake.enqueue(tool_use("Sleep", {"seconds": 3300}),
                 tool_use("ops__reply", {"text": "thanks, noted"}),
                 tool_use("Sleep", {"seconds": 3300}))
    engine = make_engine()
    await engine.start(control_api=False)
    request = await fake.await_requests(2, timeout=20)
    assert '<channel source="ops"' in request.last_user_text
    assert "the deploy of v2 finished" in request.last_user_text
    assert "ops__reply" in request.tool_names
    await wait_sleeping(engine, 2, timeout=20)
    assert replies.read_text().strip() == "thanks, noted"
