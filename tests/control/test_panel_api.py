"""The control API as the panel page uses it: the page itself, the views' data, the API key,
settings validation and approvals, all through real HTTP against a running engine."""

from __future__ import annotations

import asyncio
import http.client
import json
import stat
from pathlib import Path
from typing import Any

import pytest

from kairos_desktop.runtime import Engine
from tests.conftest import EngineFactory, wait_for, wait_sleeping
from tests.fakes.anthropic_server import FakeAnthropic, tool_use, tool_uses
from tests.waiting import until


def _call(engine: Engine, method: str, path: str, body: Any = None,
          headers: dict[str, str] | None = None, token: bool = True
          ) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", engine.control.port, timeout=5)
    sent = {"Content-Type": "application/json", **(headers or {})}
    if token:
        sent["X-Kairos-Token"] = engine.control.token
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=sent)
    response = conn.getresponse()
    return response.status, dict(response.getheaders()), response.read()


async def call(engine: Engine, method: str, path: str, body: Any = None, **kw: Any
               ) -> tuple[int, Any]:
    status, _, raw = await asyncio.to_thread(_call, engine, method, path, body, **kw)
    return status, json.loads(raw) if raw.startswith((b"{", b"[")) else raw


@pytest.fixture
async def running(make_engine: EngineFactory, fake: FakeAnthropic) -> Engine:
    fake.on_empty = tool_use("Sleep", {"seconds": 3000})
    engine = make_engine()
    await engine.start()
    await wait_sleeping(engine, 1)
    return engine


# -- the page --------------------------------------------------------------------------------

async def test_the_page_is_static_and_served_with_a_strict_csp(running) -> None:
    status, headers, body = await asyncio.to_thread(_call, running, "GET", "/", token=False)
    assert status == 200 and b"<html" in body.lower()
    assert running.control.token.encode() not in body
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["Referrer-Policy"] == "no-referrer"


async def test_a_panel_code_is_traded_for_the_token_once(running) -> None:
    status, issued = await call(running, "POST", "/api/panel/code")
    assert status == 200
    status, session = await call(running, "POST", "/api/panel/session",
                                 {"code": issued["code"]}, token=False)
    assert status == 200 and session == {"token": running.control.token}
    status, again = await call(running, "POST", "/api/panel/session", {"code": issued["code"]},
                               token=False)
    assert status == 401 and "used already or has expired" in again["error"]
    status, _ = await call(running, "POST", "/api/panel/code", token=False)
    assert status == 401  # only a holder of the token may make codes


async def test_static_files_need_no_token_but_cannot_leave_the_ui_folder(running) -> None:
    status, headers, _ = await asyncio.to_thread(_call, running, "GET", "/ui/app.css", token=False)
    assert status == 200 and headers["Content-Type"].startswith("text/css")
    for sneaky in ("/ui/..%2Fpyproject.toml", "/ui/%2E%2E%2FREADME.md", "/ui/.gitkeep"):
        status, _, _ = await asyncio.to_thread(_call, running, "GET", sneaky, token=False)
        assert status == 404, sneaky


async def test_the_token_may_ride_in_the_query_only_on_gets(running) -> None:
    token = running.control.token
    status, _ = await call(running, "GET", f"/api/status?token={token}", token=False)
    assert status == 200
    status, _ = await call(running, "POST", f"/api/wake?token={token}", token=False)
    assert status == 401


async def test_a_page_on_another_origin_cannot_post(running) -> None:
    status, body = await call(running, "POST", "/api/send", {"text": "hi"},
                              headers={"Origin": "http://evil.example"})
    assert status == 403 and "cross-origin" in body["error"]
    assert len(running.queue) == 0


# -- chat and transcript ---------------------------------------------------------------------

async def test_chat_interleaves_the_users_messages_and_the_replies_with_attachments(
        running, fake: FakeAnthropic) -> None:
    report = running.home.workspace_dir / "report.md"
    report.write_text("# Report\n")
    fake.enqueue(tool_uses(("SendUserMessage", {"message": "Here it is", "status": "normal",
                                                 "attachments": [str(report)]}),
                           ("Sleep", {"seconds": 3000})))
    status, sent = await call(running, "POST", "/api/send", {"text": "send me the report"})
    assert status == 200
    await wait_sleeping(running, 2)
    status, chat = await call(running, "GET", "/api/chat")
    assert [(m["role"], m["text"]) for m in chat] == [("user", "send me the report"),
                                                      ("assistant", "Here it is")]
    assert chat[0]["id"] == sent["id"]
    attachment = chat[1]["attachments"][0]
    assert attachment["name"] == "report.md"
    assert attachment["inboxId"] == running.inbox.items()[0]["id"]


async def test_the_transcript_view_shows_every_tool_call_and_its_result(
        running, fake: FakeAnthropic) -> None:
    fake.enqueue(tool_uses(("CronList", {}), ("Sleep", {"seconds": 3000})))
    await call(running, "POST", "/api/send", {"text": "what is scheduled?"})
    await wait_sleeping(running, 2)
    _status, view = await call(running, "GET", "/api/transcript")
    uses = [e for e in view["entries"] if e["type"] == "tool_use"]
    results = [e for e in view["entries"] if e["type"] == "tool_result"]
    assert [u["name"] for u in uses] == ["CronList", "Sleep"]
    assert any("morning-check-in" in r["text"] for r in results)


# -- settings --------------------------------------------------------------------------------

@pytest.mark.parametrize(("change", "key", "says"), [
    ({"minSleepDurationMs": 600_000, "maxSleepDurationMs": 60_000}, "maxSleepDurationMs",
     "at least minSleepDurationMs"),
    ({"minSleepDurationMs": -5}, "minSleepDurationMs", "must be at least 1000 (not -5)"),
    ({"model": "gpt-4o"}, "model", "not an Anthropic model id"),
    ({"inboxDir": "/etc/hostname/inbox"}, "inboxDir", "cannot write in /etc/hostname/inbox"),
])
async def test_a_bad_setting_names_its_field_and_nothing_is_saved(
        running, change: dict[str, Any], key: str, says: str) -> None:
    before = running.home.settings_file.read_text()
    status, body = await call(running, "PATCH", "/api/settings", change)
    assert status == 400 and body["key"] == key and says in body["error"]
    assert running.home.settings_file.read_text() == before


async def test_new_sleep_bounds_apply_to_the_next_sleep(running, fake: FakeAnthropic) -> None:
    status, _ = await call(running, "PATCH", "/api/settings", {"maxSleepDurationMs": 120_000})
    assert status == 200
    fake.enqueue(tool_use("Sleep", {"seconds": 3000}))
    await call(running, "POST", "/api/send", {"text": "nap"})
    await wait_sleeping(running, 2)
    assert running.heartbeat._deadline - running.clock.monotonic() <= 120


# -- the API key -----------------------------------------------------------------------------

async def test_a_key_saved_from_the_panel_is_used_at_once_and_never_shown_back(
        make_engine: EngineFactory, fake: FakeAnthropic) -> None:
    engine = make_engine(api_key=None)
    await engine.start()
    await wait_for(engine, lambda: engine.status.state == "no_api_key", what="no key")
    key = "sk-ant-api03-" + "x" * 40 + "WXYZ"
    status, body = await call(engine, "PUT", "/api/key", {"key": key})
    assert status == 200
    assert body["apiKey"] == {"set": True, "source": "file", "hint": "sk-ant-…WXYZ"}
    stored = engine.home.api_key_file
    assert stored.read_text().strip() == key and stat.S_IMODE(stored.stat().st_mode) == 0o600
    fake.enqueue(tool_use("Sleep", {"seconds": 3000}))
    await call(engine, "POST", "/api/send", {"text": "are you there?"})
    request = await fake.await_requests(1)
    assert request.headers["authorization"] == f"Bearer {key}"
    _, settings = await call(engine, "GET", "/api/settings")
    assert key not in json.dumps(settings) and settings["apiKey"]["hint"] == "sk-ant-…WXYZ"
    for log in engine.home.logs_dir.rglob("*.md"):
        assert key not in log.read_text()


async def test_a_key_that_cannot_be_right_is_refused_with_the_reason(
        make_engine: EngineFactory) -> None:
    engine = make_engine(api_key=None)
    await engine.start()
    status, body = await call(engine, "PUT", "/api/key", {"key": "sk-ant oops"})
    assert status == 400 and body["key"] == "apiKey" and "spaces" in body["error"]
    assert not engine.home.api_key_file.exists() and engine.status.state == "no_api_key"


# -- tasks, log, memory, dream ---------------------------------------------------------------

async def test_tasks_carry_their_cron_in_words_and_the_explainer_checks_input(running) -> None:
    _, tasks = await call(running, "GET", "/api/tasks")
    morning = next(t for t in tasks if t["builtin"] == "morning-check-in")
    assert morning["description"].startswith("At ")
    _status, described = await call(running, "GET", "/api/cron/describe?cron=0+9+*+*+1-5")
    assert described["valid"] and described["text"] == "At 09:00, Monday to Friday"
    assert len(described["next"]) == 3 and described["next"][0].startswith("2026-11-23T09:00")
    _, bad = await call(running, "GET", "/api/cron/describe?cron=61+*+*+*+*")
    assert not bad["valid"] and "61" in bad["error"]


async def test_the_log_view_is_searchable_and_hides_the_hash_markers(running) -> None:
    running.daily_log.append("note", "bought oat milk")
    _, day = await call(running, "GET", "/api/log")
    assert day["dates"] == ["2026-11-22"] and any(e["kind"] == "start" for e in day["entries"])
    assert not any("<!--" in e["text"] for e in day["entries"])
    _, found = await call(running, "GET", "/api/log?q=OAT")
    assert [e["text"] for e in found["entries"]] == ["bought oat milk"]
    status, body = await call(running, "GET", "/api/log?date=yesterday")
    assert status == 400 and "2026-11-22" in body["error"]


async def test_memory_and_the_dream_state_are_readable(running) -> None:
    running.memory.write_topic("coffee", "Oat flat white.\n")
    _, memory = await call(running, "GET", "/api/memory")
    assert memory["topics"][0]["name"] == "coffee" and "Oat" in memory["topics"][0]["text"]
    _, dream = await call(running, "GET", "/api/dream")
    assert dream["state"]["phase"] == "idle" and dream["canUndo"] is False
    assert dream["lastConsolidatedAt"] is None and dream["maxTurns"] == 40


# -- approvals -------------------------------------------------------------------------------

@pytest.mark.parametrize(("decision", "expect"), [("allow", "hello-from-shell"),
                                                  ("deny", "denied")])
async def test_run_command_waits_for_the_panels_decision(
        make_engine: EngineFactory, fake: FakeAnthropic, home, decision: str,
        expect: str) -> None:
    from tests.conftest import write_settings

    write_settings(home, {"runCommandEnabled": True})
    fake.on_empty = tool_use("Sleep", {"seconds": 3000})
    engine = make_engine()
    await engine.start()
    await wait_sleeping(engine, 1)
    fake.enqueue(tool_use("RunCommand", {"command": "echo hello-from-shell"}))
    await call(engine, "POST", "/api/send", {"text": "run it"})
    await wait_for(engine, lambda: bool(engine.approvals.pending()), what="an approval")
    _, pending = await call(engine, "GET", "/api/approvals")
    assert pending[0]["command"] == "echo hello-from-shell"
    assert pending[0]["why"] == "no allowlist entry covers it"
    status, _result = await call(engine, "POST", f"/api/approvals/{pending[0]['id']}",
                                {"decision": decision})
    assert status == 200
    await wait_sleeping(engine, 2)
    answered = fake.history[-1].messages[-1]["content"][0]
    assert expect in json.dumps(answered).lower()
    status, _again = await call(engine, "POST", f"/api/approvals/{pending[0]['id']}",
                               {"decision": "allow"})
    assert status == 409


async def test_presence_and_readiness_reach_the_engine(running) -> None:
    seen: list[str] = []
    running.bus.subscribe(lambda e: seen.append(e.kind))
    await call(running, "POST", "/api/presence", {"focused": True})
    assert running.heartbeat.present()
    await call(running, "POST", "/api/panel/ready")
    assert "panel" in seen


def test_ui_folder_is_found_from_a_checkout() -> None:
    from kairos_desktop.control.server import ui_dir

    folder = ui_dir()
    assert folder is not None and folder == Path(__file__).resolve().parents[2] / "ui"


async def test_a_focused_panel_keeps_the_user_present_until_its_page_goes_away(
        running, monkeypatch: pytest.MonkeyPatch) -> None:
    from kairos_desktop.control import server

    monkeypatch.setattr(server, "STREAM_PING_S", 0.05)

    def open_stream_then_leave() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", running.control.port, timeout=5)
        conn.request("GET", f"/api/events?token={running.control.token}")
        response = conn.getresponse()
        assert response.readline() == b": connected\n"
        conn.sock.close()  # the window closed without a word

    await call(running, "POST", "/api/presence", {"focused": True})
    running.clock.advance(3 * 3600)
    assert running.heartbeat.present()  # focused for hours: still here
    await asyncio.to_thread(open_stream_then_leave)
    await wait_for(running, lambda: not running.heartbeat.panel_focused, what="focus cleared")
    running.clock.advance(3 * 3600)
    assert not running.heartbeat.present()


async def test_an_open_page_does_not_hold_up_a_stop(running) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", running.control.port, timeout=5)

    def open_stream() -> None:
        conn.request("GET", f"/api/events?token={running.control.token}")
        assert conn.getresponse().readline() == b": connected\n"

    await asyncio.to_thread(open_stream)
    async with asyncio.timeout(3):  # aiohttp would otherwise wait 60 s for the stream
        await running.stop()
    conn.close()


async def test_a_key_from_the_environment_is_not_silently_shadowed(
        make_engine: EngineFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-the-environment-0000")
    engine = make_engine(api_key=None)
    await engine.start()
    _, settings = await call(engine, "GET", "/api/settings")
    assert settings["apiKey"] == {"set": True, "source": "env", "hint": "sk-ant-…0000"}
    status, body = await call(engine, "PUT", "/api/key", {"key": "sk-ant-" + "k" * 40})
    assert status == 400 and "ANTHROPIC_API_KEY" in body["error"]
    assert not engine.home.api_key_file.exists()


async def test_a_refused_change_creates_no_folder(running, tmp_path: Path) -> None:
    wanted = tmp_path / "new" / "inbox"
    status, body = await call(running, "PATCH", "/api/settings", {
        "inboxDir": str(wanted), "minSleepDurationMs": 600_000, "maxSleepDurationMs": 60_000})
    assert status == 400 and body["key"] == "maxSleepDurationMs"
    assert not (tmp_path / "new").exists()
    status, body = await call(running, "PATCH", "/api/settings", {"inboxDir": f"  {wanted}  "})
    assert status == 200 and body["settings"]["inboxDir"] == str(wanted) and wanted.is_dir()


async def test_a_delivered_script_is_never_opened_only_shown(
        running, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = tmp_path / "opened.txt"
    script = tmp_path / "record-open.sh"
    script.write_text(f'#!/bin/sh\necho "$@" >> {recorder}\n')
    script.chmod(0o755)
    monkeypatch.setenv("KAIROS_OPENER", str(script))
    for name in ("notes.md", "install.sh"):
        (running.home.workspace_dir / name).write_text("echo hi\n")
        await running.deliveries.file(str(running.home.workspace_dir / name))
    items = {i["name"]: i["id"] for i in running.inbox.items()}
    status, _ = await call(running, "POST", f"/api/inbox/{items['notes.md']}/open")
    assert status == 200
    status, body = await call(running, "POST", f"/api/inbox/{items['install.sh']}/open")
    assert status == 409 and "opening it would run it" in body["error"]
    # The opener runs detached: wait for its record, then check nothing else was opened.
    await until(lambda: recorder.exists() and recorder.read_text().strip(), "the opener")
    assert recorder.read_text().split() == [str(running.inbox.folder / "notes.md")]
