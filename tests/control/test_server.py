"""The control API: loopback only, a token on every request, Host checked, no CORS."""

from __future__ import annotations

import asyncio
import http.client
import json
import stat

import pytest

from kairos_desktop.control.client import ControlClient
from kairos_desktop.errors import ControlAPIError
from tests.conftest import EngineFactory, wait_sleeping
from tests.fakes.anthropic_server import FakeAnthropic, tool_use


async def _raw(port: int, path: str, headers: dict[str, str]
               ) -> tuple[int, dict[str, str], bytes]:
    # The server runs on this test's event loop: the blocking client goes to a thread.
    return await asyncio.to_thread(_raw_blocking, port, path, headers)


def _raw_blocking(port: int, path: str, headers: dict[str, str]
                  ) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    return response.status, dict(response.getheaders()), response.read()


@pytest.fixture
async def running(make_engine: EngineFactory, fake: FakeAnthropic):
    fake.on_empty = tool_use("Sleep", {"seconds": 3000})
    engine = make_engine()
    await engine.start()
    await wait_sleeping(engine, 1)
    return engine


async def test_control_file_is_private_and_names_a_loopback_port(running) -> None:
    info = json.loads(running.home.control_file.read_text())
    assert info["host"] == "127.0.0.1" and info["port"] > 0 and len(info["token"]) >= 32
    assert stat.S_IMODE(running.home.control_file.stat().st_mode) == 0o600


async def test_requests_without_the_token_are_refused(running) -> None:
    port = running.control.port
    status, _, body = await _raw(port, "/api/status", {})
    assert status == 401 and b"control token" in body
    status, _, _ = await _raw(port, "/api/status", {"X-Kairos-Token": "guess"})
    assert status == 401


async def test_a_foreign_host_header_is_refused_even_with_the_token(running) -> None:
    token = running.control.token
    status, _, body = await _raw(running.control.port, "/api/status",
                           {"X-Kairos-Token": token, "Host": "evil.example:80"})
    assert status == 403 and b"not allowed" in body


async def test_cross_origin_requests_get_no_cors_headers(running) -> None:
    token = running.control.token
    status, headers, _ = await _raw(running.control.port, "/api/status",
                              {"X-Kairos-Token": token, "Origin": "https://evil.example"})
    assert status == 403
    assert not any(h.lower().startswith("access-control-") for h in headers)


async def test_the_client_sends_a_message_and_reads_status(running, fake: FakeAnthropic) -> None:
    client = await _in_thread(ControlClient.for_home, running.home)
    status = await _in_thread(client.status)
    assert status["state"] == "sleeping" and status["sessionId"] == running.status.session_id
    await _in_thread(client.send, "ping")
    request = await fake.await_requests(2)
    assert "ping" in request.last_user_text


async def test_a_bad_setting_over_the_api_names_the_key(running) -> None:
    client = await _in_thread(ControlClient.for_home, running.home)
    with pytest.raises(ControlAPIError, match="unknown setting 'nope'"):
        await _in_thread(client.update_settings, {"nope": 1})
    result = await _in_thread(client.update_settings, {"assistantName": "Ada"})
    assert result["assistantName"] == "Ada"
    assert running.settings.assistant_name == "Ada"


@pytest.mark.parametrize("name", [
    "index.html%00.js", "app.css%00", "%00", "..", ".", "..%2Fsettings.js", "%2e%2e%2fREADME.md",
    "%2E%2E%2F%2E%2E%2Fpyproject.toml", "..%5Cindex.html", "index.html%2F", "%2Fetc%2Fpasswd",
    "a" * 4000 + ".js", "%ff%fe.js", "index.html%0A", "%20index.html", "index.html.",
    "nope.js", "index.py",
])
async def test_an_odd_name_under_ui_is_no_such_file(running, name: str) -> None:
    status, headers, body = await _raw(running.control.port, f"/ui/{name}", {})
    assert status == 404, body
    assert json.loads(body)["error"].startswith("no such file: /ui/")
    assert headers["Content-Type"].startswith("application/json")


async def test_the_page_files_are_served(running) -> None:
    status, headers, body = await _raw(running.control.port, "/ui/app.css", {})
    assert status == 200 and headers["Content-Type"].startswith("text/css") and body
    status, _, body = await _raw(running.control.port, "/", {})
    assert status == 200 and b"<html" in body.lower()


async def test_a_task_with_a_string_for_a_flag_is_refused_naming_the_field(running) -> None:
    client = await _in_thread(ControlClient.for_home, running.home)
    before = await _in_thread(client.tasks)
    for field, value in (("recurring", "false"), ("durable", "true"), ("recurring", 0)):
        body = {"cron": "5 9 * * *", "prompt": "stretch", field: value}
        status, answer = await _in_thread(_post, running, "/api/tasks", body)
        assert status == 400 and answer["key"] == field, answer
        assert answer["error"] == f"{field} must be true or false, not {value!r}"
    assert await _in_thread(client.tasks) == before  # nothing was created


def _post(engine, path: str, body: object) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", engine.control.port, timeout=5)
    conn.request("POST", path, body=json.dumps(body),
                 headers={"X-Kairos-Token": engine.control.token,
                          "Content-Type": "application/json"})
    response = conn.getresponse()
    return response.status, json.loads(response.read())


async def _in_thread(fn, *args):
    return await asyncio.to_thread(fn, *args)
