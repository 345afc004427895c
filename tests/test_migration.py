"""An older home's store.json (every message, file record, dream run, activity and usage row in
it) moves to the history files on the first start of this version: whole, in order, verified
before anything is dropped; a move that cannot be done leaves the store as it was and says why."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

from kairos_desktop.clock import FakeClock
from kairos_desktop.events import EventBus
from kairos_desktop.home import Home
from kairos_desktop.homeapp import HomeApp, HomeServices, SettingsState
from kairos_desktop.memory.activity import Activity
from kairos_desktop.queue import InboundItem
from kairos_desktop.scheduler.runtime import Scheduler
from kairos_desktop.settings import Settings
from kairos_desktop.store import Store
from tests.conftest import EngineFactory
from tests.fakes.anthropic_server import FakeAnthropic, tool_use

JSON = dict[str, Any]
MESSAGES = 15_000


def old_store(home: Home, clock: FakeClock, messages: int = MESSAGES) -> dict[str, list[JSON]]:
    """A store.json as the previous version wrote it: every table in it, over about a year.
    Returns the rows of each table that moves, in the store's order."""
    rng = random.Random(13)
    start = clock.now() - timedelta(days=365)
    rows: dict[str, list[JSON]] = {"messages": [], "user_messages": [], "inbox": [],
                                   "dreams": [], "activity": [], "usage": []}
    for n in range(messages):
        at = start + timedelta(seconds=n * 365 * 86_400 // messages)
        stamp = at.isoformat(timespec="seconds")
        if n % 2:
            rows["messages"].append({
                "id": f"m{n:05d}", "text": f"answer {n} é", "status": rng.choice(
                    ["normal", "proactive", "system"]), "attachments": [],
                "createdAt": stamp, "sessionId": f"s{n // 500}", "read": rng.random() < 0.7})
        else:
            rows["user_messages"].append({"id": f"u{n:05d}", "text": f"question {n}",
                                          "createdAt": stamp})
    for n in range(40):
        at = (start + timedelta(days=n * 9)).isoformat(timespec="seconds")
        rows["inbox"].append({"id": f"f{n}", "name": f"r{n}.pdf", "path": f"/x/r{n}.pdf",
                              "title": f"report {n}", "size": n, "sha256": "0" * 64,
                              "deliveredAt": at, "sessionId": None, "read": n % 3 == 0})
        rows["dreams"].append({"id": f"d{n}", "reason": "scan", "startedAt": at,
                               "status": "done", "filesTouched": ["MEMORY.md"], "turns": 2,
                               "snapshot": f"/x/{n}", "summary": "tidied",
                               "endedAt": at})
    for day in range(365):
        date = (start + timedelta(days=day)).date().isoformat()
        rows["activity"].append({"session": f"s{day // 7}", "date": date})
        rows["usage"].append({"date": date, "model": "claude-sonnet-5-5", "costUsd": 0.5,
                              "calls": 30, "input": 100, "output": 10, "cacheRead": 1000,
                              "cacheWrite": 50, "pricedAs": "claude-sonnet-5-5"})
    rows["usage"].append({"date": clock.now().date().isoformat(), "model": "claude-sonnet-5-5",
                          "costUsd": 0.25, "calls": 3, "input": 1, "output": 1, "cacheRead": 1,
                          "cacheWrite": 1, "pricedAs": "claude-sonnet-5-5"})
    store = Store(home.store_file, owner=True)

    def fill(db: Any) -> None:
        for table, docs in rows.items():
            db.table(table, cache_size=0).insert_multiple(docs)
        db.table("inbound", cache_size=0).insert(
            InboundItem(kind="user", text="still queued").to_doc())

    store.transact(fill)
    zone = clock.now().tzinfo
    assert zone is not None
    Scheduler(store=store, clock=clock, settings=Settings, zone=zone).create(
        "0 9 * * 1", "the weekly report", recurring=True, durable=True)
    store.close()
    return rows


def open_home(home: Home, clock: FakeClock) -> HomeApp:
    settings = SettingsState(Settings(), [])
    services = HomeServices.open(home, clock=clock, settings=lambda: settings.current,
                                 bus=EventBus(), inbox_dir=home.root / "inbox",
                                 seed_builtins=False)
    return HomeApp(home=home, clock=clock, bus=EventBus(), services=services, settings=settings)


def every_message(app: HomeApp) -> list[JSON]:
    out, after = [], None
    while True:
        page = app.message_history(after, 1000)
        out += page["messages"]
        after = page["next"]
        if after is None:
            return out


def test_a_store_with_15000_messages_comes_through_whole(home: Home, clock: FakeClock) -> None:
    rows = old_store(home.ensure(), clock)
    before = home.store_file.stat().st_size
    app = open_home(home, clock)
    svc = app.services

    assert every_message(app) == rows["messages"]  # ids, order, read flags, every field
    said = svc.user_messages.recent(MESSAGES)
    assert said == rows["user_messages"]
    assert svc.inbox.items() == list(reversed(rows["inbox"]))
    assert svc.snapshots.runs(100) == rows["dreams"]
    assert Activity(svc.store).rows() == rows["activity"]
    days = svc.usage.days()
    assert len(days) == 366 and days[0]["costUsd"] == 0.5 and days[-1]["calls"] == 3
    assert app.chat(4)[-1]["id"] == rows["messages"][-1]["id"]

    data = json.loads(home.store_file.read_text())
    assert not set(data) & {"messages", "user_messages", "inbox", "dreams", "activity"}
    assert [d["date"] for d in data["usage"].values()] == [clock.now().date().isoformat()]
    assert len(data["scheduled_tasks"]) == 1 and len(data["inbound"]) == 1
    assert home.store_file.stat().st_size < before / 100
    assert not home.root.joinpath("store.json.pre-migration").exists()  # verified: gone
    assert "moved 7,500 messages, 7,500 user messages" in svc.daily_log.read(clock.now().date())
    svc.close()

    again = open_home(home, clock)  # a second start moves nothing and doubles nothing
    assert every_message(again) == rows["messages"]
    oldest = next(m for m in rows["messages"] if not m["read"])
    again.mark_message_read(oldest["id"])  # a year back: a patch in its own month
    assert next(m for m in every_message(again) if m["id"] == oldest["id"])["read"] is True
    again.services.close()


def test_the_old_file_is_kept_until_the_new_files_verify(home: Home, clock: FakeClock) -> None:
    rows = old_store(home.ensure(), clock, messages=200)
    original = home.store_file.read_bytes()
    # A history file that already holds a different record under a moved record's id.
    clash = home.history_dir / "messages"
    clash.mkdir(parents=True)
    first = rows["messages"][0]
    (clash / f"{first['createdAt'][:7]}.jsonl").write_text(
        json.dumps({**first, "text": "not the same"}) + "\n")
    app = open_home(home, clock)
    assert home.store_file.read_bytes() == original  # untouched
    kept = home.root / "store.json.pre-migration"
    assert kept.read_bytes() == original
    [notice] = app.services.notices()
    assert f"holds 2 record(s) with id {first['id']!r}" in notice["text"]
    assert "Nothing was lost" in notice["text"] and str(home.store_file) in notice["text"]
    app.services.close()

    (clash / f"{first['createdAt'][:7]}.jsonl").unlink()  # repaired: the next start finishes
    again = open_home(home, clock)
    assert every_message(again) == rows["messages"] and again.services.notices() == []
    assert not kept.exists()
    again.services.close()


def test_a_history_folder_that_cannot_be_made_leaves_the_store_as_it_was(
        home: Home, clock: FakeClock) -> None:
    old_store(home.ensure(), clock, messages=50)
    original = home.store_file.read_bytes()
    home.history_dir.write_text("a file where the history folder goes\n")
    app = open_home(home, clock)
    assert home.store_file.read_bytes() == original
    [notice] = app.services.notices()
    assert notice["title"] == "stored history not moved"
    assert str(home.history_dir) in notice["text"]
    assert "tried again at every start" in notice["text"]
    assert "store migration failed" in app.services.daily_log.read(clock.now().date())
    app.services.close()


async def test_the_running_app_tells_the_user_why_the_move_failed(
        make_engine: EngineFactory, fake: FakeAnthropic, home: Home, clock: FakeClock) -> None:
    rows = old_store(home.ensure(), clock, messages=20)
    first = rows["messages"][0]
    clash = home.history_dir / "messages"
    clash.mkdir(parents=True)
    (clash / f"{first['createdAt'][:7]}.jsonl").write_text(
        json.dumps({**first, "read": not first["read"]}) + "\n")
    fake.on_empty = tool_use("Sleep", {"seconds": 3000})
    engine = make_engine()
    await engine.start(control_api=False)
    [said] = [m for m in engine.app.chat() if m["status"] == "system"]
    assert "moving the history" in said["text"] and f"record {first['id']!r}" in said["text"]
    assert any("stored history not moved" in n.title for n in engine.notifier.sent)
    assert "messages" in json.loads(home.store_file.read_text())  # still there
    await engine.stop()


def test_a_corrupt_history_line_is_told_once_with_its_path(home: Home, clock: FakeClock) -> None:
    app = open_home(home.ensure(), clock)
    for n in range(3):
        app.services.outbox.add(f"hello {n}", "normal")
    path = app.services.outbox._history.path_for(clock.now().strftime("%Y-%m"))
    app.services.close()
    lines = path.read_text().splitlines()
    lines[1] = lines[1][:20]
    path.write_text("\n".join(lines) + "\n")

    for _ in range(2):  # two opens, two reads: one notice
        again = open_home(home, clock)
        assert [m["text"] for m in again.messages()] == ["hello 0", "hello 2"]
        again.services.close()
    [notice] = open_home(home, clock).services.notices()
    assert f"Line 2 of {path}" in notice["text"] and "skipped" in notice["text"]


def test_paths_are_private(home: Home, clock: FakeClock) -> None:
    old_store(home.ensure(), clock, messages=10)
    open_home(home, clock).services.close()
    for path in Path(home.history_dir).rglob("*"):
        assert path.stat().st_mode & 0o077 == 0, path
