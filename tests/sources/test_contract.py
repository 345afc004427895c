"""The contract every event source keeps (sources/base.py), checked the same way over each
source build_sources makes.

Real parts only: the channel source spawns tests/sources/channel_server.py (a real MCP server
process), the GitHub source polls a loopback fake GitHub over real HTTP, the folder source
watches a real folder through watchdog. What "no I/O" means is checked on the process itself:
its threads, its child processes and its open file descriptors (Linux's /proc).
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kairos_desktop.clock import FakeClock
from kairos_desktop.journal import DailyLog
from kairos_desktop.queue import InboundItem, InboundQueue
from kairos_desktop.settings import ChannelServer, Settings, WatchedFolder
from kairos_desktop.sources import (
    ChannelManager,
    FolderWatcher,
    PRSubscriptions,
    Source,
    SourceContext,
    build_sources,
    find_source,
)
from kairos_desktop.sources.folders import display_path
from kairos_desktop.store import Store
from kairos_desktop.tools.base import ToolProvider, ToolResult
from tests.sources.fake_github import FakeGitHub
from tests.waiting import until

SERVER = Path(__file__).with_name("channel_server.py")
NAMES = ["channels", "github", "folders"]
TOKEN = "ghp_contract"
PROC = Path("/proc/self/fd")

pytestmark = [
    pytest.mark.skipif(not PROC.is_dir(), reason="counts threads, processes and fds in /proc"),
    # watchdog's inotify backend may warn (harmlessly) about a watch added twice.
    pytest.mark.filterwarnings("ignore:Callback with id:RuntimeWarning"),
]


@dataclass(frozen=True)
class Footprint:
    """What of this process a source could have started or opened."""

    threads: frozenset[int]
    children: frozenset[int]
    fds: frozenset[tuple[str, str]]

    @classmethod
    def now(cls) -> Footprint:
        # The loop's default executor ("asyncio_N") is shared, and outlives any one user.
        threads = frozenset(t.ident or 0 for t in threading.enumerate()
                            if not t.name.startswith("asyncio_"))
        return cls(threads, frozenset(_children()), frozenset(_fds()))

    def added_since(self, before: Footprint) -> dict[str, Any]:
        added = {"threads": self.threads - before.threads,
                 "children": self.children - before.children, "fds": self.fds - before.fds}
        return {k: sorted(v) for k, v in added.items() if v}


def _children() -> set[int]:
    me, found = os.getpid(), set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue  # it ended meanwhile
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == me and fields[0] != "Z":
            found.add(int(entry))
    return found


def _fds() -> set[tuple[str, str]]:
    found = set()
    for fd in os.listdir(PROC):
        try:
            found.add((fd, os.readlink(PROC / fd)))
        except OSError:
            continue  # the listing's own descriptor, gone by now
    return found


@dataclass
class World:
    ctx: SourceContext
    github: FakeGitHub
    notes: Path
    more_notes: Path
    items: list[InboundItem] = field(default_factory=list)
    told: list[str] = field(default_factory=list)

    def settings(self, **changes: Any) -> Settings:
        values: dict[str, Any] = dict(
            channels_enabled=True, allowed_channel_plugins=["chat"],
            channel_servers={"chat": ChannelServer(command=sys.executable, args=[str(SERVER)])},
            github_api_url=self.github.base_url,
            watched_folders=[WatchedFolder(path=str(self.notes))])
        values.update(changes)
        return Settings(**values)

    def build(self, name: str) -> Source:
        [source] = [s for s in build_sources(self.ctx, self.settings()) if s.name == name]
        return source


@pytest.fixture
async def world(tmp_path: Path, clock: FakeClock) -> AsyncIterator[World]:
    github = FakeGitHub(clock)
    await github.start()
    github.add_pr("octo/app", 7)
    notes, more_notes = tmp_path / "notes", tmp_path / "more-notes"
    notes.mkdir()
    more_notes.mkdir()
    store = Store(tmp_path / "store.json", owner=True)
    queue = InboundQueue(store)
    items: list[InboundItem] = []
    told: list[str] = []

    def put(item: InboundItem) -> None:
        queue.put(item)
        items.append(item)

    async def notify_user(text: str) -> None:
        told.append(text)

    ctx = SourceContext(clock=clock, put=put, daily_log=DailyLog(tmp_path / "logs", clock),
                        store=store, notify_user=notify_user, exclude=(tmp_path / "home",),
                        github_token=lambda: TOKEN)
    yield World(ctx, github, notes, more_notes, items, told)
    await github.stop()
    store.close()


def json_of(status: dict[str, Any]) -> dict[str, Any]:
    """`status` as the control API sends it: plain JSON, nothing coerced."""
    decoded: dict[str, Any] = json.loads(json.dumps(status, allow_nan=False))
    return decoded


# What a running source shows in its status once it is doing its work, and what applying
# `CHANGES` while it runs shows. Keyed by the source's name.
Check = Callable[[dict[str, Any], World], bool]
RUNNING: dict[str, Check] = {
    "channels": lambda s, w: s.get("chat", {}).get("state") == "running",
    "github": lambda s, w: s["running"] and s["token"] == "present"
    and [(x["key"], x["state"]) for x in s["subscriptions"]] == [("octo/app#7", "open")],
    "folders": lambda s, w: s["running"] and s["watching"] == [display_path(w.notes)],
}
CHANGES: dict[str, Callable[[World], dict[str, Any]]] = {
    "channels": lambda w: {"channel_rate_limit_per_minute": 5},
    "github": lambda w: {"github_api_url": w.github.base_url + "/"},
    "folders": lambda w: {"watched_folders": [WatchedFolder(path=str(w.notes)),
                                              WatchedFolder(path=str(w.more_notes))]},
}
CHANGED: dict[str, Check] = {
    "channels": lambda s, w: s["chat"]["state"] == "running",
    "github": lambda s, w: s["apiUrl"] == w.github.base_url + "/",
    "folders": lambda s, w: sorted(s["watching"]) == sorted(
        [display_path(w.notes), display_path(w.more_notes)]),
}
STOPPED: dict[str, Check] = {
    "channels": lambda s, w: s["chat"]["state"] == "stopped",
    "github": lambda s, w: not s["running"],
    "folders": lambda s, w: not s["running"] and s["watching"] == [],
}
# Before start, for the source to have something to do (the others need only settings).
PREPARE: dict[str, Callable[[Source], object]] = {
    "github": lambda s: find_source([s], PRSubscriptions).subscribe("octo/app", 7),
}


async def test_build_sources_makes_each_source_once_in_start_order(world: World) -> None:
    sources = build_sources(world.ctx, world.settings())
    assert [s.name for s in sources] == NAMES
    assert [type(s) for s in sources] == [ChannelManager, PRSubscriptions, FolderWatcher]
    assert all(isinstance(s, Source) for s in sources)
    assert find_source(sources, FolderWatcher) is sources[2]
    with pytest.raises(LookupError):
        find_source(sources[:2], FolderWatcher)


@pytest.mark.parametrize("name", NAMES)
async def test_building_starts_no_thread_no_process_and_opens_nothing(
        world: World, name: str) -> None:
    before = Footprint.now()
    source = world.build(name)
    source.apply_settings(world.settings(**CHANGES[name](world)))
    json_of(source.status())
    assert source.tools() is not None
    assert Footprint.now().added_since(before) == {}


@pytest.mark.parametrize("name", NAMES)
async def test_stop_before_start_is_harmless_and_idempotent(world: World, name: str) -> None:
    source = world.build(name)
    before = Footprint.now()
    await source.stop()
    await source.stop()
    json_of(source.status())
    assert Footprint.now().added_since(before) == {}
    assert world.items == [] and world.told == []


@pytest.mark.parametrize("name", NAMES)
async def test_start_status_apply_settings_stop(world: World, name: str) -> None:
    before = Footprint.now()
    source = world.build(name)
    if name in PREPARE:
        PREPARE[name](source)
    await source.start()
    await source.start()  # a second start is a no-op
    try:
        await until(lambda: RUNNING[name](json_of(source.status()), world),
                    f"{name} running: {source.status()}")
        source.apply_settings(world.settings(**CHANGES[name](world)))
        await until(lambda: CHANGED[name](json_of(source.status()), world),
                    f"{name} showing the new settings: {source.status()}")
    finally:
        await source.stop()
    assert STOPPED[name](json_of(source.status()), world)
    await source.stop()
    # Everything it started is gone: its processes, its threads, its sockets and pipes.
    await until(lambda: not Footprint.now().added_since(before),
                f"what {name} started to end: {Footprint.now().added_since(before)}")
    assert world.items == []  # a baseline is silent: nothing happened while it ran
    assert world.told == []


@pytest.mark.parametrize("name", NAMES)
async def test_tools_are_tool_providers_that_follow_the_running_source(
        world: World, name: str) -> None:
    source = world.build(name)
    if name in PREPARE:
        PREPARE[name](source)
    providers = source.tools()
    assert all(isinstance(p, ToolProvider) for p in providers)
    assert [d for p in providers for d in p.definitions()] == []  # nothing runs yet
    await source.start()
    try:
        await until(lambda: RUNNING[name](json_of(source.status()), world), f"{name} running")
        definitions = [d for p in source.tools() for d in p.definitions()]
        assert all(set(d) == {"name", "description", "input_schema"} for d in definitions)
        assert [d["name"] for d in definitions] == (["chat__reply"] if name == "channels"
                                                    else [])
        for provider in providers:  # the providers given before start are live
            assert provider.definitions() == [d for p in source.tools()
                                              for d in p.definitions()]
        if name == "channels":
            [provider] = providers
            assert await provider.call("chat__reply", {"text": "hi"}) == ToolResult("sent: hi")
    finally:
        await source.stop()
    assert [d for p in source.tools() for d in p.definitions()] == []
