"""The `kairos` commands, in this process: against an engine running in the test (its control
API on loopback) or a home with none running. tests/test_cli.py has the few real processes."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

import pytest

from kairos_desktop.home import Home
from tests.cli.harness import Cli, RunningApp, StartApp
from tests.conftest import write_settings
from tests.fakes.anthropic_server import FakeAnthropic, tool_use
from tests.waiting import wait_until

# -- status and send -------------------------------------------------------------------------


def test_status_reports_state_session_model_and_usage(running: RunningApp, cli: Cli) -> None:
    data = json.loads(cli("status", "--json").out)
    assert data["running"] is True and data["state"] == "sleeping"
    assert data["sleepingUntil"] and data["sessionId"] and data["model"]
    assert data["usageToday"]["calls"] == 1
    text = cli("status").out
    assert f"Kairos is running: sleeping until {data['sleepingUntil']}" in text
    assert f"session: {data['sessionId']}" in text and "today: 1 model calls" in text


def test_status_without_a_running_app(cli: Cli, home: Home) -> None:
    result = cli("status")
    assert result.code == 0
    assert result.out.splitlines()[:2] == [
        f"not running (home {home.root}); start it with `kairos run`", "queued: 0"]
    assert "today: 0 model calls" in result.out


def test_send_with_nothing_running_is_queued_and_delivered_at_the_next_start(
        cli: Cli, run_command, fake: FakeAnthropic) -> None:
    sent = cli("send", "while you were out")
    assert sent.code == 0 and "queued" in sent.out
    assert json.loads(cli("status", "--json").out)["queued"] == 1
    run = run_command()
    client = run.client()
    wait_until(lambda: client.messages(), what="the answer")
    result = run.stop()
    assert result.code == 0, result.err
    assert "while you were out" in fake.history[0].last_user_text
    assert "[Kairos] you said: while you were out" in result.out
    assert "Kairos stopped." in result.out
    assert json.loads(cli("status", "--json").out)["queued"] == 0


def test_send_refuses_an_empty_message(cli: Cli) -> None:
    result = cli("send", " ")
    assert result.code == 2 and "nothing to send" in result.err


def test_with_max_sleep_minus_one_kairos_send_wakes_the_sleeping_app(
        start_app: StartApp, home: Home, cli: Cli, fake: FakeAnthropic) -> None:
    write_settings(home, {"maxSleepDurationMs": -1})
    app = start_app(home)
    app.wait_sleeping(1)
    assert json.loads(cli("status", "--json").out)["sleepingUntil"] is None  # until woken
    sent = cli("send", "wake up")
    assert sent.code == 0 and sent.out.strip() == "sent to the running assistant"
    assert "wake up" in fake.wait_for_requests(2).last_user_text


# -- settings and the key --------------------------------------------------------------------


def test_settings_set_reads_json_values_and_rejects_a_bad_key(cli: Cli, home: Home) -> None:
    before = home.settings_file.read_text()
    bad = cli("settings", "set", "sleepDuration", "5")
    assert bad.code == 2 and "unknown setting 'sleepDuration'" in bad.err
    worse = cli("settings", "set", "minSleepDurationMs", "soon")
    assert worse.code == 2 and "minSleepDurationMs" in worse.err
    assert home.settings_file.read_text() == before
    good = cli("settings", "set", "allowedFolders", '["~/notes"]')
    assert good.code == 0 and good.out.strip() == 'allowedFolders = ["~/notes"]'
    assert json.loads(cli("settings", "show", "--json").out)["allowedFolders"] == ["~/notes"]
    assert 'allowedFolders' in cli("settings", "show").out


def test_settings_set_on_a_running_instance_applies_at_once(
        running: RunningApp, cli: Cli, home: Home) -> None:
    assert cli("settings", "set", "assistantName", "Ada").code == 0
    assert running.engine.settings.assistant_name == "Ada"
    assert json.loads(home.settings_file.read_text())["assistantName"] == "Ada"
    bad = cli("settings", "set", "sleepDuration", "5")
    assert bad.code == 2 and "unknown setting 'sleepDuration'" in bad.err


def test_without_a_key_the_app_runs_and_says_what_it_needs(
        cli: Cli, run_command, fake: FakeAnthropic, monkeypatch: pytest.MonkeyPatch) -> None:
    cli("send", "hi")
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    run = run_command()
    client = run.client()
    wait_until(lambda: client.messages(), what="the app's answer")
    result = run.stop()
    assert result.code == 0
    assert "no Anthropic API key" in result.err
    assert "kairos key set" in result.out  # the answer to the queued message
    assert fake.history == []


def test_key_set_stores_the_key_privately_and_the_next_run_uses_it(
        cli: Cli, home: Home, start_app: StartApp, fake: FakeAnthropic) -> None:
    bad = cli("key", "set", stdin="not a key\n")
    assert bad.code == 2 and "nothing changed" in bad.err
    result = cli("key", "set", stdin="sk-ant-test-1234567890abcdef\n")
    assert result.code == 0
    assert result.out.strip() == ("key stored in the home's secrets/ folder (mode 0600); kairos "
                                  "uses it from its next start")
    assert oct(home.api_key_file.stat().st_mode & 0o777) == "0o600"
    start_app(home, api_key=None)
    request = fake.wait_for_requests(1)
    assert request.headers["authorization"] == "Bearer sk-ant-test-1234567890abcdef"


def test_key_set_and_clear_on_a_running_app(start_app: StartApp, cli: Cli, home: Home,
                                            fake: FakeAnthropic) -> None:
    app = start_app(home, api_key=None)
    app.wait_sleeping(0)
    assert json.loads(cli("status", "--json").out)["apiKey"] is False
    result = cli("key", "set", stdin="sk-ant-test-1234567890abcdef\n")
    assert result.code == 0, result.err
    assert result.out.strip() == ("key sk-ant-…cdef stored in the home's secrets/ folder "
                                  "(mode 0600); in use now")
    assert home.api_key_file.exists()
    fake.wait_for_requests(1)  # the app used it at once
    bad = cli("key", "set", stdin="\n")
    assert bad.code == 2 and "the API key is empty" in bad.err and "nothing changed" in bad.err
    cleared = cli("key", "clear")
    assert cleared.code == 0 and cleared.out.strip() == "stored key removed"
    assert not home.api_key_file.exists()


def test_key_clear_without_a_running_app(cli: Cli, home: Home) -> None:
    assert cli("key", "clear").out.strip() == "no stored key"
    cli("key", "set", stdin="sk-ant-test-1234567890abcdef\n")
    assert cli("key", "clear").out.strip() == "stored key removed"
    assert not home.api_key_file.exists()


# -- logs, inbox, messages -------------------------------------------------------------------


def test_logs_and_inbox_show_what_happened(running: RunningApp, cli: Cli) -> None:
    logs = cli("logs")
    assert logs.code == 0 and "**start**" in logs.out and "**tick**" in logs.out
    assert "<!--" not in logs.out and "<!--" in cli("logs", "--raw").out
    bad = cli("logs", "--date", "yesterday")
    assert bad.code == 2 and "--date must look like" in bad.err
    missing = cli("logs", "--date", "2001-01-01")
    assert missing.code == 1 and "no log for 2001-01-01" in missing.err
    assert cli("inbox").out.strip() == "the inbox is empty"
    assert cli("messages").out.strip() == "no messages yet"


def test_messages_lists_what_the_assistant_said(running: RunningApp, cli: Cli,
                                                fake: FakeAnthropic) -> None:
    cli("send", "hello")
    running.wait_for(lambda: bool(running.engine.outbox.recent()), what="the answer")
    [line] = cli("messages").out.splitlines()
    assert line.endswith("[normal] you said: hello")
    [message] = json.loads(cli("messages", "--json").out)
    assert message["text"] == "you said: hello"
    running.stop()
    assert cli("messages").out.splitlines() == [line]  # the same from the home's files


def test_logs_verify_reports_intact_logs_and_the_first_broken_line(
        cli: Cli, home: Home, start_app: StartApp) -> None:
    assert cli("logs", "verify").out.strip() == "no logs have been written in this home yet"
    app = start_app(home)
    app.wait_sleeping(1)
    ok = cli("logs", "verify")  # the running app checks its own files
    assert ok.code == 0 and ok.out.startswith("intact: 1 log(s)"), ok
    app.stop()
    ok = cli("logs", "verify")
    assert ok.code == 0 and ok.out.startswith("intact: 1 log(s)")
    [log_file] = list(home.logs_dir.rglob("*.md"))
    lines = log_file.read_text().splitlines()
    lines[3] = lines[3].replace("**", "*")
    log_file.write_text("\n".join(lines) + "\n")
    broken = cli("logs", "verify")
    assert broken.code == 1
    assert f"BROKEN {log_file}:4: this entry does not match its hash" in broken.out
    assert cli("logs", "verify", "--date", log_file.stem).code == 1
    assert cli("logs", "verify", "--date", "2001-01-01").out.startswith("intact: 0 log(s)")


# -- tasks -----------------------------------------------------------------------------------


def test_tasks_add_list_and_rm_without_a_running_app(cli: Cli) -> None:
    for bad, reason in (("61 * * * *", "not a valid cron expression"),
                        ("0 0 31 2 *", "can never fire"),
                        ("0 9 * * * *", "has 6 field(s)")):
        result = cli("tasks", "add", "--cron", bad, "--prompt", "x")
        assert result.code == 2 and reason in result.err
        assert "nothing was stored" in result.err
    assert cli("tasks", "list").out.strip() == "no scheduled tasks"
    added = cli("tasks", "add", "--cron", "57 8 * * 1-5", "--prompt", "check PRs",
                "--recurring")
    assert added.code == 0 and "next fires" in added.out
    [task] = json.loads(cli("tasks", "list", "--json").out)
    assert task["cron"] == "57 8 * * 1-5" and task["durable"] and task["recurring"]
    session = cli("tasks", "add", "--cron", "5 9 * * *", "--prompt", "x", "--session")
    assert session.code == 2 and "none is running" in session.err
    assert cli("tasks", "rm", task["id"]).code == 0
    assert json.loads(cli("tasks", "list", "--json").out) == []
    again = cli("tasks", "rm", task["id"])
    assert again.code == 2 and f"no task with id {task['id']!r}" in again.err


def test_tasks_on_a_running_app_include_built_ins_and_session_tasks(
        running: RunningApp, cli: Cli) -> None:
    added = cli("tasks", "add", "--cron", "5 9 * * *", "--prompt", "stretch", "--session")
    assert added.code == 0, added.err
    tasks = json.loads(cli("tasks", "list", "--json").out)
    assert {t["builtin"] for t in tasks} == {None, "morning-check-in", "daily-catch-up", "dream"}
    assert [t["durable"] for t in tasks if t["prompt"] == "stretch"] == [False]
    assert "(once, session)  stretch" in cli("tasks", "list").out
    bad = cli("tasks", "add", "--cron", "61 * * * *", "--prompt", "x")
    assert bad.code == 2 and "not a valid cron expression" in bad.err


# -- dreams ----------------------------------------------------------------------------------


def test_dream_needs_the_running_app_and_reports_its_gates(cli: Cli) -> None:
    offline = cli("dream")
    assert offline.code == 1 and "needs the running app" in offline.err
    assert cli("dream", "log").out.strip() == "no dreams yet"
    undo = cli("dream", "undo")
    assert undo.code == 1 and "no completed dream to undo" in undo.err


def test_dream_on_a_running_app_checks_the_gates_unless_forced(
        running: RunningApp, cli: Cli) -> None:
    gated = cli("dream")
    assert gated.code == 1 and "active session-day(s)" in gated.out
    forced = cli("dream", "--force")
    assert forced.code == 0 and "started (forced)" in forced.out
    status = json.loads(cli("status", "--json").out)
    assert status["dream"]["runId"]


# -- the panel and approvals -----------------------------------------------------------------


def test_panel_prints_a_link_that_works_once_and_holds_no_token(
        running: RunningApp, cli: Cli, home: Home) -> None:
    link = cli("panel", "--print").out.strip()
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


def test_what_needs_the_running_app_says_so(cli: Cli) -> None:
    panel = cli("panel", "--print")
    assert panel.code == 1 and "needs the running app" in panel.err
    approvals = cli("approvals")
    assert approvals.code == 0 and approvals.out.strip() == (
        "nothing is waiting: the app is not running (a restart denies what was waiting)")
    deny = cli("approvals", "deny", "x")
    assert deny.code == 1 and "the app is not running" in deny.err


def test_a_waiting_command_is_listed_and_denied_from_the_cli(
        fake: FakeAnthropic, start_app: StartApp, cli: Cli, home: Home) -> None:
    write_settings(home, {"runCommandEnabled": True})
    fake.enqueue(tool_use("Sleep", {"seconds": 3000}),
                 tool_use("RunCommand", {"command": "touch should-not-exist"}))
    app = start_app(home)
    app.wait_sleeping(1)
    assert cli("approvals").out.strip() == "nothing is waiting for your approval"
    cli("send", "make the file")
    app.wait_for(lambda: bool(app.engine.approvals.pending()), what="the approval request")
    listed = cli("approvals").out
    assert "touch should-not-exist" in listed
    approval_id = listed.split()[0]
    denied = cli("approvals", "deny", approval_id)
    assert denied.out.strip() == f"{approval_id}: denied"
    again = cli("approvals", "allow", approval_id)
    assert again.code == 2 and "already denied" in again.err
    unknown = cli("approvals", "allow", "no-such-request")
    assert unknown.code == 2
    fake.wait_for_requests(3)
    assert not (home.workspace_dir / "should-not-exist").exists()
    assert "denied by the user (cli)" in cli("logs").out


# -- the machine -----------------------------------------------------------------------------


def test_doctor_names_a_channel_server_that_is_not_on_the_allowlist(
        cli: Cli, home: Home) -> None:
    write_settings(home, {"channelsEnabled": True, "allowedChannelPlugins": ["slack"],
                          "channelServers": {"slack": {"command": "slack-mcp"},
                                             "stranger": {"command": "curl-bash"}}})
    report = json.loads(cli("doctor", "--json").out)
    assert report["channels"]["servers"]["slack"] == "will start"
    assert report["channels"]["servers"]["stranger"].startswith("refused: not in allowed")


def test_a_command_on_a_home_another_process_holds_says_so(cli: Cli, home: Home) -> None:
    with home.locked():  # `kairos run` starting up, say: the lock is taken, no API yet
        result = cli("tasks", "list")
    assert result.code == 1
    assert f"another kairos process is using the home {home.root}: pid {os.getpid()}, running" \
        in result.err
    assert result.err.rstrip().endswith("; try again")
