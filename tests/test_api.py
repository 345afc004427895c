"""Kairos, the notebook API: inside a running event loop, and from plain code in a thread."""

from __future__ import annotations

from pathlib import Path

from kairos_desktop import Kairos
from kairos_desktop.delivery.notifier import ConsoleNotifier
from tests.conftest import write_settings
from tests.fakes.anthropic_server import FakeAnthropic, tool_use


async def test_kairos_runs_inside_an_already_running_loop(
        fake: FakeAnthropic, home, console) -> None:
    fake.enqueue(tool_use("Sleep", {"seconds": 3000}),
                 tool_use("SendUserMessage", {"message": "Hi from the notebook",
                                              "status": "normal"}),
                 tool_use("Sleep", {"seconds": 3000}))
    async with Kairos(home.root, api_key="k", base_url=fake.base_url,
                      notifier=ConsoleNotifier(console)) as k:
        await fake.await_requests(1)
        await k.send("hello from jupyter")
        request = await fake.await_requests(2)
        assert "hello from jupyter" in request.last_user_text
        await fake.await_requests(3)
    assert [m["text"] for m in k.messages()] == ["Hi from the notebook"]
    assert k.status["running"] is False


def test_kairos_runs_in_a_thread_from_plain_code(
        fake: FakeAnthropic, tmp_path: Path, console) -> None:
    from kairos_desktop.home import Home

    home = Home(tmp_path / "h").ensure()
    write_settings(home, {"inboxDir": str(tmp_path / "inbox")})
    fake.on_empty = tool_use("Sleep", {"seconds": 3000})
    k = Kairos(home.root, api_key="k", base_url=fake.base_url, notifier=ConsoleNotifier(console))
    k.start_in_thread()
    try:
        fake.wait_for_requests(1)
        k.send_sync("from a script")
        assert "from a script" in fake.wait_for_requests(2).last_user_text
        assert k.status["running"] is True
    finally:
        k.stop_in_thread()
    assert k.status["running"] is False
