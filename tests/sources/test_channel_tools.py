"""The tools of MCP servers, against real server processes (channel_server.py, tool_server.py):
no file outside the allowed folders leaves through a tool, a call that must ask waits for the
same approval as RunCommand (answered here from the CLI or from a chat through Claude Code's
permission relay), and images and resources reach the model as something it can read.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kairos_desktop.approvals import Approvals
from kairos_desktop.clock import FakeClock
from kairos_desktop.delivery.notifier import Notification
from kairos_desktop.events import EventBus
from kairos_desktop.journal import DailyLog
from kairos_desktop.queue import InboundItem
from kairos_desktop.settings import ChannelServer, Settings
from kairos_desktop.sources.channels import ChannelManager
from kairos_desktop.sources.channels.results import MAX_IMAGE_BYTES
from tests.sources.tool_server import INSTRUCTIONS, SMALL_PNG
from tests.waiting import until

HERE = Path(__file__).parent
CHANNEL = HERE / "channel_server.py"
TOOLS = HERE / "tool_server.py"


def channel(env: dict[str, str] | None = None, **options: Any) -> ChannelServer:
    return ChannelServer(command=sys.executable, args=[str(CHANNEL)], env=env or {}, **options)


def tools(env: dict[str, str] | None = None, **options: Any) -> ChannelServer:
    return ChannelServer(command=sys.executable, args=[str(TOOLS)], env=env or {}, **options)


@dataclass
class World:
    manager: ChannelManager
    approvals: Approvals
    clock: FakeClock
    daily_log: DailyLog
    allowed: Path
    outside: Path
    items: list[InboundItem] = field(default_factory=list)

    def log_text(self) -> str:
        return self.daily_log.read(self.clock.now().date())

    def state(self, name: str) -> str:
        return str(self.manager.status().get(name, {}).get("state", "absent"))

    async def running(self, *names: str) -> None:
        await until(lambda: all(self.state(n) == "running" for n in names),
                    f"{', '.join(names)} running")


Factory = Callable[..., Awaitable[World]]


@pytest.fixture
async def make_world(clock: FakeClock, tmp_path: Path) -> AsyncIterator[Factory]:
    managers: list[ChannelManager] = []

    async def build(servers: dict[str, ChannelServer]) -> World:
        allowed = tmp_path / "allowed"
        allowed.mkdir(exist_ok=True)
        outside = tmp_path / "private"
        outside.mkdir(exist_ok=True)
        settings = Settings(channels_enabled=True, channel_servers=servers,
                            allowed_channel_plugins=list(servers),
                            allowed_folders=[str(allowed)])
        daily_log = DailyLog(tmp_path / "logs", clock)

        async def notify(_: Notification) -> bool:
            return False  # no notification server here: the CLI or the relay answers

        approvals = Approvals(clock=clock, daily_log=daily_log, bus=EventBus(), notify=notify,
                              settings=lambda: settings)
        world = World(ChannelManager(put=lambda i: world.items.append(i), clock=clock,
                                     daily_log=daily_log, approvals=approvals,
                                     workspace=tmp_path / "workspace"),
                      approvals, clock, daily_log, allowed, outside)
        world.manager.apply_settings(settings)
        managers.append(world.manager)
        await world.manager.start()
        return world

    yield build
    for manager in managers:
        await manager.stop()


# -- nothing leaves unasked -------------------------------------------------------------------


async def test_a_file_outside_the_allowed_folders_is_refused_and_never_reaches_the_server(
        make_world: Factory, tmp_path: Path) -> None:
    replies = tmp_path / "replies.txt"
    w = await make_world({"chat": channel({"CHANNEL_FILES": "1",
                                           "CHANNEL_REPLY_FILE": str(replies)})})
    await w.running("chat")
    secret = w.outside / "id_rsa"
    secret.write_text("PRIVATE KEY")
    for files in ([str(secret)], [f"file://{secret}"], ["~/.ssh/id_rsa"],
                  [str(w.allowed / ".." / "private" / "id_rsa")]):
        result = await w.manager.call_tool("chat__reply", {"text": "here", "files": files})
        assert result.is_error, files
        assert "files[0]" in result.content and "allowedFolders" in result.content
        assert "Nothing was sent to chat" in result.content
    # Nested anywhere in the arguments, and a symlink inside an allowed folder, too.
    link = w.allowed / "innocent.txt"
    link.symlink_to(secret)
    result = await w.manager.call_tool("chat__reply", {"text": "x", "files": [str(link)]})
    assert result.is_error and str(secret) in result.content
    assert not replies.exists()  # the server never saw any of them
    assert w.approvals.pending() == []  # refused outright, not asked
    assert "chat__reply refused without asking: argument files[0] names" in w.log_text()


async def test_a_channel_reply_without_a_file_runs_and_one_with_a_file_asks_first(
        make_world: Factory, tmp_path: Path) -> None:
    replies = tmp_path / "replies.txt"
    w = await make_world({"chat": channel({"CHANNEL_FILES": "1",
                                           "CHANNEL_REPLY_FILE": str(replies)})})
    await w.running("chat")
    result = await w.manager.call_tool("chat__reply", {"text": "/start the build"})
    assert (result.content, result.is_error) == ("sent: /start the build", False)
    assert "chat__reply allowed without asking: a channel's own tool" in w.log_text()

    report = w.allowed / "report.pdf"
    report.write_bytes(b"%PDF")
    call = asyncio.ensure_future(
        w.manager.call_tool("chat__reply", {"text": "the report", "files": [str(report)]}))
    [pending] = await until(w.approvals.pending, "the approval request")
    assert pending["command"].startswith("chat__reply {")
    assert pending["cwd"] == "MCP server chat" and str(report) in pending["why"]
    assert replies.read_text() == "/start the build\n"  # not sent while it waits
    w.approvals.decide(pending["id"], True, by="cli")
    result = await call
    assert not result.is_error
    assert replies.read_text().endswith(f"the report\nfile: {report}\n")
    assert "allowed by the user (cli)" in w.log_text()


async def test_a_denied_call_is_not_run_and_the_model_is_told(
        make_world: Factory, tmp_path: Path) -> None:
    uploads = tmp_path / "uploads.txt"
    w = await make_world({"tools": tools({"TOOL_UPLOADS_FILE": str(uploads)})})
    await w.running("tools")
    call = asyncio.ensure_future(w.manager.call_tool("tools__upload",
                                                     {"path": str(w.allowed / "a.txt")}))
    [pending] = await until(w.approvals.pending, "the approval request")
    assert "a.txt (a file it may send out)" in pending["why"]
    w.approvals.decide(pending["id"], False, by="panel")
    result = await call
    assert result.is_error and "denied by the user (panel)" in result.content
    assert not uploads.exists()


async def test_an_ask_call_is_approved_from_the_chat_through_the_permission_relay(
        make_world: Factory, tmp_path: Path) -> None:
    asked = tmp_path / "asked.jsonl"
    uploads = tmp_path / "uploads.txt"
    w = await make_world({
        "phone": channel({"CHANNEL_PERMISSION": "allow", "CHANNEL_PERMISSION_FILE": str(asked)}),
        "tools": tools({"TOOL_UPLOADS_FILE": str(uploads)})})
    await w.running("phone", "tools")
    assert w.manager.status()["phone"]["permissionRelay"] is True
    assert w.manager.status()["tools"]["permissionRelay"] is False

    target = w.allowed / "notes.md"
    result = await w.manager.call_tool("tools__upload", {"path": str(target)})
    assert (result.content, result.is_error) == (f"uploaded {target}", False)
    assert uploads.read_text() == f"{target}\n"
    [request] = [json.loads(line) for line in asked.read_text().splitlines()]
    assert re.fullmatch(r"[a-km-z]{5}", request["request_id"])
    assert request["tool_name"] == "tools__upload"
    assert json.loads(request["input_preview"]) == {"path": str(target)}
    assert "tools__upload" in request["description"]
    log = w.log_text()
    assert f"relayed as {request['request_id']} to phone" in log
    assert "allowed by the user (channel phone)" in log


async def test_a_verdict_for_a_request_the_channel_was_never_sent_is_ignored(
        make_world: Factory, clock: FakeClock, tmp_path: Path) -> None:
    asked = tmp_path / "asked.jsonl"
    w = await make_world({
        "phone": channel({"CHANNEL_PERMISSION": "allow", "CHANNEL_VERDICT_ID": "zzzzz",
                          "CHANNEL_PERMISSION_FILE": str(asked)}),
        "tools": tools()})
    await w.running("phone", "tools")
    call = asyncio.ensure_future(w.manager.call_tool("tools__whoami", {}))
    await until(lambda: "answered an unknown permission request 'zzzzz'" in w.log_text(),
                "the wrong verdict to be dropped")
    assert len(w.approvals.pending()) == 1 and not call.done()
    await until(lambda: 120.0 in clock.deadlines, "the approval's deadline")
    clock.advance(120)  # silence never means yes
    result = await call
    assert result.is_error and "no answer within 120 s" in result.content


async def test_a_server_set_to_allow_runs_calls_inside_the_allowed_folders_without_asking(
        make_world: Factory, tmp_path: Path) -> None:
    uploads = tmp_path / "uploads.txt"
    w = await make_world({"tools": tools({"TOOL_UPLOADS_FILE": str(uploads)}, tools="allow")})
    await w.running("tools")
    inside = w.allowed / "ok.txt"
    assert not (await w.manager.call_tool("tools__upload", {"path": str(inside)})).is_error
    refused = await w.manager.call_tool("tools__upload", {"path": str(w.outside / "x")})
    assert refused.is_error and "outside the folders" in refused.content
    assert uploads.read_text() == f"{inside}\n"


# -- what results become ----------------------------------------------------------------------


async def test_images_and_resources_reach_the_model_as_what_it_can_read(
        make_world: Factory) -> None:
    w = await make_world({"tools": tools(tools="allow")})
    await w.running("tools")
    shot = await w.manager.call_tool("tools__screenshot", {})
    assert shot.content == "the screen:\n[image 1: image/png, 120 bytes, attached]"
    assert shot.images == [{"type": "image", "source": {
        "type": "base64", "media_type": "image/png", "data": SMALL_PNG}}]

    huge = await w.manager.call_tool("tools__huge_image", {})
    assert huge.images == []
    assert re.fullmatch(r"\[image: image/png, 1\.2 MB, not shown: larger than 977 KB\]",
                        huge.content), huge.content
    assert MAX_IMAGE_BYTES == 1_000_000

    notes = await w.manager.call_tool("tools__notes", {})
    assert notes.content.splitlines() == [
        "[resource notes://today]", "# Today", "- water the plants",
        "[resource notes://archive.zip: application/zip, 2 KB, not shown]",
        "[audio: audio/wav, 3 KB, not shown]"]


async def test_the_servers_instructions_are_kept_for_the_prompt(make_world: Factory) -> None:
    w = await make_world({"tools": tools(), "chat": channel()})
    await w.running("tools", "chat")
    assert w.manager.instructions() == [("tools", INSTRUCTIONS)]  # chat gave none
    assert w.manager.status()["tools"]["instructions"] is True
