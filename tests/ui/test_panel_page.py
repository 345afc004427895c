"""The panel page in headless Chromium against a real running app: settings saved and refused,
chat sent to the model with the reply shown live, tasks, and commands that wait for approval."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.anthropic_server import FakeAnthropic, tool_use
from tests.ui.conftest import (
    SLEEP,
    Panel,
    expect,
    run_command_replies,
    tool_results,
    user_said,
    wait_until,
)

VIEWS = ["chat", "inbox", "tasks", "activity", "memory", "settings"]


def _patches(page: Any) -> list[str]:
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "PATCH" else None)
    return sent


# -- the page itself --------------------------------------------------------------------------


def test_every_view_renders_under_the_csp_without_errors_and_ready_is_sent_once(
        panel: Panel) -> None:
    ready: list[str] = []
    page = panel.context.new_page()
    page.on("request", lambda r: ready.append(r.url) if r.url.endswith("/panel/ready") else None)
    page.on("console", lambda m: panel.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: panel.errors.append(f"uncaught: {e}"))
    page.goto(f"{panel.app.url}#chat")
    expect(page.get_by_test_id("status-pill")).to_have_attribute("data-state", "sleeping")
    for number, view in enumerate(VIEWS, start=1):
        page.keyboard.press(f"Alt+{number}")
        expect(page.get_by_test_id(f"nav-{view}")).to_have_attribute("aria-current", "page")
        expect(page.locator(f"#view-{view}")).to_be_visible()
    assert page.evaluate("location.hash") == "#settings"
    assert len(ready) == 1
    assert panel.errors == []


def test_the_hash_opens_a_view_so_the_tray_can_open_settings(panel: Panel) -> None:
    page = panel.open("settings")
    expect(page.get_by_test_id("nav-settings")).to_have_attribute("aria-current", "page")
    expect(page.get_by_test_id("setting-assistantName")).to_have_value("Kairos")
    page.evaluate("location.hash = 'tasks'")
    expect(page.locator("#view-tasks")).to_be_visible()
    expect(page.locator("#view-settings")).to_be_hidden()


def test_without_the_token_the_page_says_how_to_open_it(panel: Panel) -> None:
    root = f"http://127.0.0.1:{panel.app.port}/"
    base = f"{root}ui/index.html"
    for url in (root, base, f"{base}?token=not-the-token"):
        page = panel.context.new_page()
        page.goto(url)
        expect(page.get_by_test_id("fatal")).to_be_visible()
        expect(page.get_by_test_id("fatal")).to_contain_text("needs its key")
        expect(page.get_by_test_id("fatal")).to_contain_text("kairos panel")
        page.close()


def _one_time_code(panel: Panel) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{panel.app.port}/api/panel/code", data=b"{}", method="POST",
        headers={"X-Kairos-Token": panel.app.token, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.load(response)["code"])


def test_the_token_leaves_the_address_bar_and_a_reload_still_works(panel: Panel) -> None:
    page = panel.open("settings")
    assert "token" not in page.url
    assert page.url.endswith("/#settings")
    page.reload()
    expect(page.get_by_test_id("status-pill")).to_have_attribute("data-state", "sleeping")
    expect(page.get_by_test_id("setting-assistantName")).to_have_value("Kairos")
    expect(page.get_by_test_id("assistant-name")).to_have_text("Kairos")
    expect(page.get_by_test_id("fatal")).to_be_hidden()
    assert "token" not in page.url
    assert panel.errors == []


def test_a_one_time_code_opens_the_panel_once_and_leaves_no_trace_in_the_url(
        panel: Panel, browser: Any) -> None:
    url = f"http://127.0.0.1:{panel.app.port}/?code={_one_time_code(panel)}#tasks"
    page = panel.context.new_page()
    with page.expect_request(lambda r: r.url.endswith("/api/panel/ready")):
        page.goto(url)
    expect(page.get_by_test_id("nav-tasks")).to_have_attribute("aria-current", "page")
    expect(page.get_by_test_id("assistant-name")).to_have_text("Kairos")
    assert "code" not in page.url and "token" not in page.url
    page.reload()  # the token was kept for this tab, the code is not needed again
    expect(page.get_by_test_id("status-pill")).to_have_attribute("data-state", "sleeping")
    expect(page.get_by_test_id("fatal")).to_be_hidden()
    again = browser.new_context()
    try:
        second = again.new_page()
        second.goto(url)
        expect(second.get_by_test_id("fatal")).to_be_visible()
        expect(second.get_by_test_id("fatal")).to_contain_text("needs its key")
        assert "code" not in second.url
    finally:
        again.close()


def test_when_the_app_goes_away_the_page_says_it_is_reconnecting(panel: Panel) -> None:
    page = panel.open("inbox")
    expect(page.get_by_test_id("reconnecting")).to_be_hidden()
    panel.app.process.kill()  # gone at once, as after a crash
    panel.app.process.wait(15)
    expect(page.get_by_test_id("reconnecting")).to_be_visible()
    expect(page.get_by_test_id("status-pill")).to_have_attribute("data-state", "disconnected")


# -- settings ---------------------------------------------------------------------------------


def test_renaming_the_assistant_writes_settings_json_and_kairos_status_shows_it(
        panel: Panel) -> None:
    page = panel.open("settings")
    name = page.get_by_test_id("setting-assistantName")
    expect(name).to_have_value("Kairos")
    name.fill("Ada")
    expect(page.get_by_test_id("settings-dirty")).to_be_visible()
    page.get_by_test_id("settings-save").click()
    expect(page.get_by_test_id("settings-saved")).to_have_text("Saved")
    expect(page.get_by_test_id("assistant-name")).to_have_text("Ada")
    saved = json.loads(panel.app.home.settings_file.read_text())
    assert saved["assistantName"] == "Ada"
    status = panel.app.kairos("status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["assistantName"] == "Ada"


def test_a_minimum_sleep_above_the_maximum_shows_the_field_error_and_saves_nothing(
        panel: Panel) -> None:
    before = panel.app.home.settings_file.read_bytes()
    page = panel.open("settings")
    patches = _patches(page)
    page.get_by_test_id("setting-minSleepDurationMs").fill("600")  # 10 minutes, in seconds
    page.get_by_test_id("setting-maxSleepDurationMs").fill("5")  # minutes
    page.get_by_test_id("settings-save").click()
    error = page.get_by_test_id("error-maxSleepDurationMs")
    expect(error).to_be_visible()
    expect(error).to_contain_text("at least the minimum")
    expect(page.get_by_test_id("setting-maxSleepDurationMs")).to_have_attribute(
        "aria-invalid", "true")
    expect(page.get_by_test_id("settings-saved")).to_be_hidden()
    assert patches == []
    assert panel.app.home.settings_file.read_bytes() == before


def test_a_bad_model_id_and_an_empty_name_are_refused_in_the_page(panel: Panel) -> None:
    before = panel.app.home.settings_file.read_bytes()
    page = panel.open("settings")
    patches = _patches(page)
    page.get_by_test_id("setting-model").fill("gpt-4o")
    page.get_by_test_id("setting-assistantName").fill("  ")
    page.get_by_test_id("settings-save").click()
    expect(page.get_by_test_id("error-model")).to_contain_text("model id")
    expect(page.get_by_test_id("error-assistantName")).to_be_visible()
    expect(page.get_by_test_id("setting-assistantName")).to_be_focused()
    assert patches == []
    assert panel.app.home.settings_file.read_bytes() == before


def test_an_inbox_folder_that_cannot_be_created_is_refused_by_the_server_under_its_field(
        panel: Panel, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    before = panel.app.home.settings_file.read_bytes()
    page = panel.open("settings")
    page.get_by_test_id("setting-inboxDir").fill(str(blocker / "inbox"))
    page.get_by_test_id("settings-save").click()
    expect(page.get_by_test_id("error-inboxDir")).to_be_visible()
    expect(page.get_by_test_id("setting-inboxDir")).to_have_attribute("aria-invalid", "true")
    assert panel.app.home.settings_file.read_bytes() == before


def test_unsaved_settings_survive_switching_views(panel: Panel) -> None:
    page = panel.open("settings")
    page.get_by_test_id("setting-assistantName").fill("Half-typed")
    page.get_by_test_id("nav-chat").click()
    expect(page.get_by_test_id("chat-input")).to_be_visible()
    page.get_by_test_id("nav-settings").click()
    expect(page.get_by_test_id("setting-assistantName")).to_have_value("Half-typed")
    expect(page.get_by_test_id("settings-dirty")).to_be_visible()



# -- the settings form follows the settings' JSON Schema ---------------------------------------


def _served_schema(panel: Panel) -> dict[str, Any]:
    """What GET /api/settings/schema gives the page."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{panel.app.port}/api/settings/schema",
        headers={"X-Kairos-Token": panel.app.token})
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(json.load(response))


def _open_more_settings(page: Any) -> None:
    page.get_by_test_id("settings-more").locator("summary").click()


def test_every_setting_in_the_schema_has_a_field_or_is_named_as_set_elsewhere(
        panel: Panel) -> None:
    properties = _served_schema(panel)["properties"]
    page = panel.open("settings")
    _open_more_settings(page)
    fields = page.locator("[data-setting]")
    expect(fields.first).to_be_visible()
    rendered = fields.evaluate_all("els => els.map(el => el.dataset.setting)")
    note = page.get_by_test_id("settings-elsewhere")
    elsewhere = (note.get_attribute("data-keys") or "").split()
    assert sorted(rendered + elsewhere) == sorted(properties)
    for key in rendered:
        expect(page.locator(f'[data-setting="{key}"]')).to_be_visible()
    # Only settings made of objects (no field can edit them) are left to settings.json.
    assert elsewhere and all(properties[k].get("type") == "object" or "$ref" in json.dumps(
        properties[k].get("items", {})) for k in elsewhere)
    expect(note).to_contain_text("settings.json")
    options = page.get_by_test_id("setting-defaultView").locator("option")
    assert options.evaluate_all("els => els.map(o => o.value)") \
        == properties["defaultView"]["enum"]


def test_a_number_past_its_schema_bound_is_refused_in_the_page_in_words(panel: Panel) -> None:
    properties = _served_schema(panel)["properties"]
    most = properties["maxToolIterations"]["maximum"]
    least_ms = properties["minSleepDurationMs"]["minimum"]
    before = panel.app.home.settings_file.read_bytes()
    page = panel.open("settings")
    patches = _patches(page)
    _open_more_settings(page)
    iterations = page.get_by_test_id("setting-maxToolIterations")
    expect(iterations).to_have_attribute("max", str(most))
    iterations.fill(str(most + 1))
    page.get_by_test_id("setting-minSleepDurationMs").fill(str(least_ms / 1000 / 2))  # seconds
    page.get_by_test_id("settings-save").click()
    expect(page.get_by_test_id("error-maxToolIterations")).to_have_text(f"At most {most:,} calls.")
    seconds = least_ms // 1000
    expect(page.get_by_test_id("error-minSleepDurationMs")).to_have_text(
        f"At least {seconds:,} second{'' if seconds == 1 else 's'}.")
    expect(page.get_by_test_id("setting-minSleepDurationMs")).to_be_focused()
    expect(iterations).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_test_id("settings-saved")).to_be_hidden()
    assert patches == []
    assert panel.app.home.settings_file.read_bytes() == before


def test_the_page_takes_its_bounds_from_the_schema_it_is_served(panel: Panel) -> None:
    """Served a schema with narrower bounds than the engine's, the page holds to those: the
    bounds are not written into the page."""
    def narrower(route: Any) -> None:
        response = route.fetch()
        schema = response.json()
        schema["properties"]["maxToolIterations"]["maximum"] = 50
        schema["properties"]["assistantName"]["maxLength"] = 8
        route.fulfill(response=response, json=schema)

    panel.context.route("**/api/settings/schema", narrower)
    page = panel.open("settings")
    patches = _patches(page)
    expect(page.get_by_test_id("setting-assistantName")).to_have_attribute("maxlength", "8")
    _open_more_settings(page)
    iterations = page.get_by_test_id("setting-maxToolIterations")
    iterations.fill("60")  # the engine itself would take up to 200
    page.get_by_test_id("settings-save").click()
    expect(page.get_by_test_id("error-maxToolIterations")).to_have_text("At most 50 calls.")
    assert patches == []
    iterations.fill("50")
    expect(page.get_by_test_id("error-maxToolIterations")).to_be_hidden()
    page.get_by_test_id("settings-save").click()
    expect(page.get_by_test_id("settings-saved")).to_have_text("Saved")
    assert json.loads(panel.app.home.settings_file.read_text())["maxToolIterations"] == 50


def test_a_time_zone_the_engine_does_not_know_is_refused_under_its_field(panel: Panel) -> None:
    before = panel.app.home.settings_file.read_bytes()
    page = panel.open("settings")
    _open_more_settings(page)
    zone = page.get_by_test_id("setting-timeZone")
    zone.fill("Mars/Olympus_Mons")
    page.get_by_test_id("settings-save").click()
    error = page.get_by_test_id("error-timeZone")
    expect(error).to_contain_text("time zone")
    expect(zone).to_have_attribute("aria-invalid", "true")
    expect(zone).to_be_focused()
    assert panel.app.home.settings_file.read_bytes() == before


def test_sleeping_until_something_arrives_is_saved_and_unticking_offers_the_default(
        panel: Panel) -> None:
    default_ms = _served_schema(panel)["properties"]["maxSleepDurationMs"]["default"]
    page = panel.open("settings")
    until = page.get_by_test_id("setting-maxSleepUntilArrival")
    minutes = page.get_by_test_id("setting-maxSleepDurationMs")
    until.check()
    expect(minutes).to_be_disabled()
    page.get_by_test_id("settings-save").click()
    expect(page.get_by_test_id("settings-saved")).to_have_text("Saved")
    assert json.loads(panel.app.home.settings_file.read_text())["maxSleepDurationMs"] == -1
    expect(minutes).to_have_value("")
    until.uncheck()
    expect(minutes).to_be_enabled()
    expect(minutes).to_have_value(f"{default_ms / 60000:g}")

# -- chat -------------------------------------------------------------------------------------


def test_a_sent_message_reaches_the_model_and_the_reply_appears_live(
        panel: Panel, fake: FakeAnthropic) -> None:
    page = panel.open("chat")
    page.evaluate("window.__sameDocument = true")
    box = page.get_by_test_id("chat-input")
    box.fill("what is on today?")
    box.press("Enter")
    mine = page.locator('[data-testid="chat-item"][data-role="user"]')
    expect(mine).to_have_count(1)
    expect(mine).to_have_text(re.compile("what is on today"))
    wait_until(lambda: any(user_said(r) == "what is on today?" for r in fake.history), 10,
               "the fake model to receive the message")
    reply = page.get_by_test_id("chat-item").filter(has_text="you said: what is on today?")
    expect(reply).to_have_count(1)
    expect(reply).to_have_attribute("data-role", "assistant")
    expect(mine).to_have_count(1)  # the inbound event did not add it a second time
    expect(box).to_have_value("")
    assert page.evaluate("window.__sameDocument") is True  # live, not reloaded


def test_shift_enter_makes_a_new_line_instead_of_sending(panel: Panel,
                                                          fake: FakeAnthropic) -> None:
    page = panel.open("chat")
    box = page.get_by_test_id("chat-input")
    box.fill("first line")
    box.press("Shift+Enter")
    box.type("second line")
    expect(box).to_have_value("first line\nsecond line")
    expect(page.get_by_test_id("chat-item")).to_have_count(0)


def test_the_transcript_view_shows_the_tool_calls_of_a_reply(
        panel: Panel, fake: FakeAnthropic) -> None:
    page = panel.open("chat")
    page.get_by_test_id("chat-input").fill("ping")
    page.get_by_test_id("chat-send").click()
    expect(page.get_by_test_id("chat-item").filter(has_text="you said: ping")).to_be_visible()
    page.get_by_test_id("chat-mode-transcript").click()
    tool = page.get_by_test_id("transcript-tool").filter(has_text="SendUserMessage").first
    expect(tool).to_be_visible()
    tool.locator("summary").click()
    expect(tool.get_by_test_id("transcript-tool-input")).to_contain_text("you said: ping")


def test_a_delivered_file_is_a_proactive_attachment_and_an_unread_inbox_item(
        panel: Panel, fake: FakeAnthropic) -> None:
    report = panel.app.home.workspace_dir / "report.md"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("# Weekly report\n")
    fake.on_empty = lambda request: SLEEP if user_said(request) is None else tool_use(
        "SendUserMessage", {"message": "Here is the report.", "status": "proactive",
                            "attachments": [str(report)]})
    page = panel.open("chat")
    page.get_by_test_id("chat-input").fill("the report, please")
    page.get_by_test_id("chat-input").press("Enter")
    reply = page.get_by_test_id("chat-item").filter(has_text="Here is the report.")
    expect(reply).to_have_attribute("data-status", "proactive")
    expect(reply.get_by_test_id("chat-badge-proactive")).to_be_visible()
    attachment = reply.get_by_test_id("chat-attachment")
    expect(attachment).to_have_text("report.md")
    expect(attachment).to_have_attribute("data-inbox-id", re.compile("."))
    expect(page.get_by_test_id("inbox-unread-count")).to_have_text("1")
    page.get_by_test_id("nav-inbox").click()
    item = page.get_by_test_id("inbox-item")
    expect(item).to_have_count(1)
    expect(item).to_have_attribute("data-read", "false")
    item.get_by_test_id("inbox-mark-read").click()
    expect(item).to_have_attribute("data-read", "true")
    expect(page.get_by_test_id("inbox-unread-count")).to_be_hidden()
    assert [i["read"] for i in panel.app.client.inbox()] == [True]


# -- tasks ------------------------------------------------------------------------------------


def test_a_task_is_added_with_its_cron_in_words_and_deleted(panel: Panel) -> None:
    page = panel.open("tasks")
    page.get_by_test_id("task-cron").fill("0 9 * *")
    expect(page.get_by_test_id("task-cron-error")).to_be_visible()
    page.get_by_test_id("task-cron").fill("30 8 * * 1-5")
    expect(page.get_by_test_id("task-cron-text")).to_contain_text("08:30")
    expect(page.get_by_test_id("task-cron-next").locator("li")).to_have_count(3)
    page.get_by_test_id("task-prompt").fill("Water the plants")
    page.get_by_test_id("task-add").click()
    row = page.get_by_test_id("task-row").filter(has_text="Water the plants")
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("task-next")).to_contain_text(re.compile(r"in \d+"))
    assert any(t["prompt"] == "Water the plants" for t in panel.app.client.tasks())
    row.get_by_test_id("task-delete").click()
    page.get_by_test_id("confirm-ok").click()
    expect(row).to_have_count(0)
    assert not any(t["prompt"] == "Water the plants" for t in panel.app.client.tasks())


def test_escape_closes_the_delete_dialog_and_keeps_the_task(panel: Panel) -> None:
    page = panel.open("tasks")
    rows = page.get_by_test_id("task-row")
    expect(rows.first).to_be_visible()
    count = rows.count()
    rows.first.get_by_test_id("task-delete").click()
    expect(page.get_by_test_id("confirm-dialog")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("confirm-dialog")).to_be_hidden()
    expect(rows).to_have_count(count)


# -- approvals (RunCommand) -------------------------------------------------------------------


@pytest.fixture
def run_command(settings: dict[str, Any], fake: FakeAnthropic) -> None:
    settings.update(runCommandEnabled=True, approvalTimeoutSeconds=60)
    fake.on_empty = run_command_replies("echo hi")


def _ask_to_run(page: Any) -> Any:
    page.get_by_test_id("chat-input").fill("say hi in the shell")
    page.get_by_test_id("chat-input").press("Enter")
    item = page.get_by_test_id("approval-item")
    expect(item).to_have_count(1)
    expect(item.get_by_test_id("approval-command")).to_have_text("echo hi")
    expect(item.get_by_test_id("approval-countdown")).to_contain_text("answer within")
    expect(item.get_by_test_id("approval-why")).to_have_text(
        "asked because no allowlist entry covers it")
    return item


@pytest.mark.usefixtures("run_command")
def test_allowing_a_command_runs_it_and_its_output_goes_to_the_model(
        panel: Panel, fake: FakeAnthropic) -> None:
    page = panel.open("chat")
    item = _ask_to_run(page)
    item.get_by_test_id("approval-allow").click()
    expect(page.get_by_test_id("approval-item")).to_have_count(0)
    expect(page.get_by_test_id("approvals")).to_be_hidden()
    results = wait_until(lambda: [t for t in tool_results(fake) if "hi" in t], 15,
                         "the command's output in a tool result")
    assert "not run" not in results[-1]


@pytest.mark.usefixtures("run_command")
def test_denying_a_command_sends_the_model_a_denied_result(
        panel: Panel, fake: FakeAnthropic) -> None:
    page = panel.open("settings")  # the banner shows on every view
    page.get_by_test_id("nav-chat").click()
    item = _ask_to_run(page)
    page.get_by_test_id("nav-settings").click()
    expect(item).to_be_visible()
    item.get_by_test_id("approval-deny").click()
    expect(page.get_by_test_id("approval-item")).to_have_count(0)
    results = wait_until(lambda: [t for t in tool_results(fake) if "not run" in t], 15,
                         "a denied tool result")
    assert "denied by the user" in results[-1]


@pytest.fixture
def run_command_with_short_timeout(run_command: None, settings: dict[str, Any]) -> None:
    settings["approvalTimeoutSeconds"] = 5  # the smallest the setting allows


@pytest.mark.usefixtures("run_command_with_short_timeout")
def test_no_answer_in_time_denies_the_command(panel: Panel, fake: FakeAnthropic) -> None:
    page = panel.open("chat")
    _ask_to_run(page)
    expect(page.get_by_test_id("approval-item")).to_have_count(0, timeout=15_000)
    expect(page.get_by_test_id("toasts")).to_contain_text("Denied: no answer in time")
    results = wait_until(lambda: [t for t in tool_results(fake) if "not run" in t], 15,
                         "a denied tool result")
    assert "no answer within 5 s" in results[-1]


# Chromium keeps an open event stream through emulated offline mode, so a test that needs the
# stream to drop closes it from inside the page: this keeps every EventSource the page makes.
KEEP_EVENT_SOURCES = """
window.__eventSources = [];
window.EventSource = class extends window.EventSource {
  constructor(...args) { super(...args); window.__eventSources.push(this); }
};
"""


@pytest.fixture
def run_command_waiting_long(run_command: None, settings: dict[str, Any]) -> None:
    settings["approvalTimeoutSeconds"] = 600


@pytest.mark.usefixtures("run_command_waiting_long")
def test_a_redrawn_approval_list_keeps_the_focus_on_deny_so_enter_denies(
        panel: Panel, fake: FakeAnthropic) -> None:
    panel.context.add_init_script(KEEP_EVENT_SOURCES)
    page = panel.open("chat")
    item = _ask_to_run(page)
    item.get_by_test_id("approval-deny").focus()
    item.evaluate("el => el.classList.add('drawn-before')")
    # The event stream drops (as when the browser gives up on it) and comes back: the page fetches
    # the approvals again and redraws the list, the request still pending.
    page.evaluate("const s = window.__eventSources.at(-1); "
                  "s.close(); s.dispatchEvent(new Event('error'))")
    expect(page.get_by_test_id("reconnecting")).to_be_visible()
    expect(page.get_by_test_id("reconnecting")).to_be_hidden(timeout=15_000)
    expect(page.locator(".approval.drawn-before")).to_have_count(0)
    expect(item).to_have_count(1)
    expect(item.get_by_test_id("approval-deny")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("approval-item")).to_have_count(0)
    results = wait_until(lambda: [t for t in tool_results(fake) if "not run" in t], 15,
                         "a denied tool result")
    assert "denied by the user" in results[-1]
