"""The `kairos` command, run as a user runs it: real processes, a real home, the fake API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kairos_desktop.control.client import ControlClient
from kairos_desktop.errors import NotRunningError
from kairos_desktop.home import Home
from tests.conftest import write_settings
from tests.fakes.anthropic_server import FakeAnthropic, RecordedRequest, tool_use

KAIROS = [sys.executable, "-m", "kairos_desktop.cli"]


def _sleep_or_answer(request: RecordedRequest):
    text = request.last_user_text
    if "<message" in text and request.messages[-1]["content"][-1].get("type") == "text":
        said = text.split('<message from="user"', 1)[1].split(">", 1)[1].split("</message>")[0]
        return tool_use("SendUserMessage", {"message": f"you said: {said.strip()}",
                                            "status": "normal"})
    return tool_use("Sleep", {"seconds": 3000})


@pytest.fixture
def env(fake: FakeAnthropic, home: Home) -> dict[str, str]:
    fake.on_empty = _sleep_or_answer
    return {**os.environ, "ANTHROPIC_API_KEY": "test", "ANTHROPIC_BASE_URL": fake.base_url,
            "KAIROS_HOME": str(home.root), "PYTHONUNBUFFERED": "1"}


def kairos(env: dict[str, str], *args: str, stdin: str | None = None,
           timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KAIROS, *args], env=env, capture_output=True, text=True,
                          input=stdin, timeout=timeout)


def wait_running(home: Home, timeout: float = 20) -> ControlClient:
    deadline = time.monotonic() + timeout
    while True:
        try:
            client = ControlClient.for_home(home)
            if client.status()["state"] == "sleeping":
                return client
        except NotRunningError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("kairos run did not come up and go to sleep in time")
        time.sleep(0.05)


@pytest.fixture
def app(env: dict[str, str], home: Home) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([*KAIROS, "run", "--headless"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_running(home)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)


def test_run_starts_talks_and_stops_cleanly_on_sigterm(
        app: subprocess.Popen[str], env: dict[str, str], fake: FakeAnthropic) -> None:
    result = kairos(env, "send", "hello", "there")
    assert result.returncode == 0 and "sent to the running assistant" in result.stdout
    request = fake.wait_for_requests(2)
    assert "hello there" in request.last_user_text
    app.terminate()
    out, err = app.communicate(timeout=15)
    assert app.returncode == 0, err
    assert "[Kairos] you said: hello there" in out
    assert "Kairos stopped." in out


def test_a_second_run_on_the_same_home_says_so_and_exits_non_zero(
        app: subprocess.Popen[str], env: dict[str, str]) -> None:
    result = kairos(env, "run", "--headless", "--exit-after", "5")
    assert result.returncode == 1
    assert "already running" in result.stderr and f"pid {app.pid}" in result.stderr


def test_status_json_reports_state_session_model_and_usage(
        app: subprocess.Popen[str], env: dict[str, str]) -> None:
    data = json.loads(kairos(env, "status", "--json").stdout)
    assert data["running"] is True and data["state"] == "sleeping"
    assert data["sleepingUntil"] and data["sessionId"] and data["model"]
    assert data["usageToday"]["calls"] == 1


def test_send_with_nothing_running_is_queued_and_delivered_at_the_next_start(
        env: dict[str, str], home: Home, fake: FakeAnthropic) -> None:
    result = kairos(env, "send", "while you were out")
    assert result.returncode == 0 and "queued" in result.stdout
    assert json.loads(kairos(env, "status", "--json").stdout)["queued"] == 1
    run = kairos(env, "run", "--headless", "--exit-after", "3")
    assert run.returncode == 0, run.stderr
    assert "while you were out" in fake.history[0].last_user_text
    assert "[Kairos] you said: while you were out" in run.stdout
    assert json.loads(kairos(env, "status", "--json").stdout)["queued"] == 0


def test_continue_resumes_the_latest_session(
        env: dict[str, str], home: Home, fake: FakeAnthropic) -> None:
    kairos(env, "send", "my name is Ada")
    first = kairos(env, "run", "--headless", "--exit-after", "3")
    assert first.returncode == 0, first.stderr
    calls = len(fake.history)
    resumed = kairos(env, "run", "--headless", "--continue", "--exit-after", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert "my name is Ada" in json.dumps(fake.history[calls].messages)
    fresh = kairos(env, "run", "--headless", "--exit-after", "2")
    assert fresh.returncode == 0
    assert "my name is Ada" not in json.dumps(fake.history[-1].messages)


def test_settings_set_reads_json_values_and_rejects_a_bad_key(
        env: dict[str, str], home: Home) -> None:
    before = home.settings_file.read_text()
    bad = kairos(env, "settings", "set", "sleepDuration", "5")
    assert bad.returncode == 2 and "unknown setting 'sleepDuration'" in bad.stderr
    worse = kairos(env, "settings", "set", "minSleepDurationMs", "soon")
    assert worse.returncode == 2 and "minSleepDurationMs" in worse.stderr
    assert home.settings_file.read_text() == before
    good = kairos(env, "settings", "set", "allowedFolders", '["~/notes"]')
    assert good.returncode == 0
    shown = json.loads(kairos(env, "settings", "show", "--json").stdout)
    assert shown["allowedFolders"] == ["~/notes"]


def test_settings_set_on_a_running_instance_applies_at_once(
        app: subprocess.Popen[str], env: dict[str, str], home: Home) -> None:
    assert kairos(env, "settings", "set", "assistantName", "Ada").returncode == 0
    assert ControlClient.for_home(home).settings()["settings"]["assistantName"] == "Ada"
    assert json.loads(home.settings_file.read_text())["assistantName"] == "Ada"


def test_without_a_key_the_app_runs_and_says_what_it_needs(
        env: dict[str, str], home: Home, fake: FakeAnthropic) -> None:
    no_key = {k: v for k, v in env.items() if k != "ANTHROPIC_API_KEY"}
    kairos(no_key, "send", "hi")
    run = kairos(no_key, "run", "--headless", "--exit-after", "2")
    assert run.returncode == 0
    assert "no Anthropic API key" in run.stderr
    assert "kairos key set" in run.stdout  # the answer to the queued message
    assert fake.history == []


def test_key_set_stores_the_key_privately_and_the_next_run_uses_it(
        env: dict[str, str], home: Home, fake: FakeAnthropic) -> None:
    no_key = {k: v for k, v in env.items() if k != "ANTHROPIC_API_KEY"}
    result = kairos(no_key, "key", "set", stdin="sk-ant-test-1234567890abcdef\n")
    assert result.returncode == 0
    assert oct(home.api_key_file.stat().st_mode & 0o777) == "0o600"
    run = kairos(no_key, "run", "--headless", "--exit-after", "2")
    assert run.returncode == 0, run.stderr
    assert fake.history[0].headers["authorization"] == "Bearer sk-ant-test-1234567890abcdef"


def test_logs_and_inbox_show_what_happened(env: dict[str, str], home: Home,
                                           tmp_path: Path) -> None:
    kairos(env, "run", "--headless", "--exit-after", "2")
    logs = kairos(env, "logs")
    assert logs.returncode == 0 and "**start**" in logs.stdout and "**tick** quiet" in logs.stdout
    bad = kairos(env, "logs", "--date", "yesterday")
    assert bad.returncode == 2 and "--date must look like" in bad.stderr
    assert kairos(env, "inbox").stdout.strip() == "the inbox is empty"
    write_settings(home, {})


def test_with_max_sleep_minus_one_kairos_send_wakes_the_sleeping_app(
        env: dict[str, str], home: Home, fake: FakeAnthropic) -> None:
    write_settings(home, {"maxSleepDurationMs": -1})
    proc = subprocess.Popen([*KAIROS, "run", "--headless"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        client = wait_running(home)
        assert client.status()["sleepingUntil"] is None  # asleep until something arrives
        assert kairos(env, "send", "wake up").returncode == 0
        assert "wake up" in fake.wait_for_requests(2).last_user_text
    finally:
        proc.terminate()
        proc.wait(10)


def test_tasks_add_list_and_rm_without_a_running_app(env: dict[str, str]) -> None:
    for bad, reason in (("61 * * * *", "not a valid cron expression"),
                        ("0 0 31 2 *", "can never fire"),
                        ("0 9 * * * *", "has 6 field(s)")):
        result = kairos(env, "tasks", "add", "--cron", bad, "--prompt", "x")
        assert result.returncode == 2 and reason in result.stderr
        assert "nothing was stored" in result.stderr
    assert kairos(env, "tasks", "list").stdout.strip() == "no scheduled tasks"
    added = kairos(env, "tasks", "add", "--cron", "57 8 * * 1-5", "--prompt", "check PRs",
                   "--recurring")
    assert added.returncode == 0 and "next fires" in added.stdout
    [task] = json.loads(kairos(env, "tasks", "list", "--json").stdout)
    assert task["cron"] == "57 8 * * 1-5" and task["durable"] and task["recurring"]
    session = kairos(env, "tasks", "add", "--cron", "5 9 * * *", "--prompt", "x", "--session")
    assert session.returncode == 2 and "none is running" in session.stderr
    assert kairos(env, "tasks", "rm", task["id"]).returncode == 0
    assert json.loads(kairos(env, "tasks", "list", "--json").stdout) == []


def test_tasks_on_a_running_app_include_built_ins_and_session_tasks(
        app: subprocess.Popen[str], env: dict[str, str]) -> None:
    added = kairos(env, "tasks", "add", "--cron", "5 9 * * *", "--prompt", "stretch",
                   "--session")
    assert added.returncode == 0, added.stderr
    tasks = json.loads(kairos(env, "tasks", "list", "--json").stdout)
    assert {t["builtin"] for t in tasks} == {None, "morning-check-in", "daily-catch-up", "dream"}
    assert [t["durable"] for t in tasks if t["prompt"] == "stretch"] == [False]
    bad = kairos(env, "tasks", "add", "--cron", "61 * * * *", "--prompt", "x")
    assert bad.returncode == 2 and "not a valid cron expression" in bad.stderr


def test_logs_verify_reports_intact_logs_and_the_first_broken_line(
        env: dict[str, str], home: Home) -> None:
    assert kairos(env, "run", "--headless", "--exit-after", "2").returncode == 0
    ok = kairos(env, "logs", "verify")
    assert ok.returncode == 0 and ok.stdout.startswith("intact: 1 log(s)")
    [log_file] = list(home.logs_dir.rglob("*.md"))
    lines = log_file.read_text().splitlines()
    lines[3] = lines[3].replace("**", "*")
    log_file.write_text("\n".join(lines) + "\n")
    broken = kairos(env, "logs", "verify")
    assert broken.returncode == 1
    assert f"BROKEN {log_file}:4: this entry does not match its hash" in broken.stdout
    shown = kairos(env, "logs")
    assert "<!--" not in shown.stdout and "<!--" in kairos(env, "logs", "--raw").stdout


def test_dream_needs_the_running_app_and_reports_its_gates(
        env: dict[str, str], home: Home) -> None:
    offline = kairos(env, "dream")
    assert offline.returncode == 1 and "needs the running app" in offline.stderr
    assert kairos(env, "dream", "log").stdout.strip() == "no dreams yet"
    undo = kairos(env, "dream", "undo")
    assert undo.returncode == 1 and "no completed dream to undo" in undo.stderr


def test_dream_on_a_running_app_checks_the_gates_unless_forced(
        app: subprocess.Popen[str], env: dict[str, str]) -> None:
    gated = kairos(env, "dream")
    assert gated.returncode == 1 and "active session-day(s)" in gated.stdout
    forced = kairos(env, "dream", "--force")
    assert forced.returncode == 0 and "started (forced)" in forced.stdout
    status = json.loads(kairos(env, "status", "--json").stdout)
    assert status["dream"]["runId"]


def test_doctor_names_a_channel_server_that_is_not_on_the_allowlist(
        env: dict[str, str], home: Home) -> None:
    write_settings(home, {"channelsEnabled": True, "allowedChannelPlugins": ["slack"],
                          "channelServers": {"slack": {"command": "slack-mcp"},
                                             "stranger": {"command": "curl-bash"}}})
    report = json.loads(kairos(env, "doctor", "--json").stdout)
    assert report["channels"]["servers"]["slack"] == "will start"
    assert report["channels"]["servers"]["stranger"].startswith("refused: not in allowed")


def test_panel_prints_a_link_that_works_once_and_holds_no_token(
        app: subprocess.Popen[str], env: dict[str, str], home: Home) -> None:
    import urllib.error
    import urllib.request

    link = kairos(env, "panel", "--print").stdout.strip()
    info = json.loads(home.control_file.read_text())
    assert link.startswith(f"http://127.0.0.1:{info['port']}/?code=")
    assert info["token"] not in link

    def trade() -> dict[str, str]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{info['port']}/api/panel/session", method="POST",
            data=json.dumps({"code": link.split("code=", 1)[1]}).encode())
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    assert trade() == {"token": info["token"]}
    with pytest.raises(urllib.error.HTTPError) as second:
        trade()
    assert second.value.code == 401


def test_a_waiting_command_is_listed_and_denied_from_the_cli(
        fake: FakeAnthropic, env: dict[str, str], home: Home) -> None:
    write_settings(home, {"runCommandEnabled": True})
    fake.enqueue(tool_use("Sleep", {"seconds": 3000}),
                 tool_use("RunCommand", {"command": "touch should-not-exist"}))
    proc = subprocess.Popen([*KAIROS, "run", "--headless"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_running(home)
        kairos(env, "send", "make the file")
        deadline = time.monotonic() + 10
        while "touch should-not-exist" not in (listed := kairos(env, "approvals").stdout):
            assert time.monotonic() < deadline, listed
            time.sleep(0.1)
        approval_id = listed.split()[0]
        denied = kairos(env, "approvals", "deny", approval_id)
        assert denied.stdout.strip() == f"{approval_id}: denied"
        again = kairos(env, "approvals", "allow", approval_id)
        assert again.returncode == 2 and "already denied" in again.stderr
        fake.wait_for_requests(3)
        assert not (home.workspace_dir / "should-not-exist").exists()
        assert "denied by the user (cli)" in kairos(env, "logs").stdout
    finally:
        proc.terminate()
        proc.wait(timeout=15)
