"""The settings a person looks for, in the page: the API key card first (the sidebar's "No API
key" takes you to it), the folders the assistant may read and the watched ones, and the time
zone, all visible without opening "More settings"."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator

import pytest

from kairos_desktop.home import Home
from tests.fakes.anthropic_server import FakeAnthropic
from tests.ui.conftest import KAIROS, Panel, RunningApp, expect, wait_until


def test_the_api_key_card_comes_first(panel: Panel) -> None:
    page = panel.open("settings")
    expect(page.get_by_test_id("setting-assistantName")).to_be_visible()
    first = page.locator("#view-settings .card").first
    expect(first).to_have_attribute("data-testid", "apikey-form")


def test_folders_and_the_time_zone_are_fields_in_view(panel: Panel) -> None:
    page = panel.open("settings")
    for key in ("allowedFolders", "watchedFolders", "timeZone"):
        expect(page.locator(f'[data-setting="{key}"]')).to_be_visible()
    expect(page.get_by_test_id("settings-more").locator('[data-setting="timeZone"]')).to_have_count(0)


def test_a_watched_folder_is_added_saved_and_removed_in_the_page(panel: Panel) -> None:
    notes = panel.app.home.root.parent / "notes"
    notes.mkdir()
    page = panel.open("settings")
    page.get_by_test_id("setting-watchedFolders-add").click()
    path = page.get_by_test_id("setting-watchedFolders-path")
    expect(path).to_be_focused()
    path.fill(str(notes))
    page.get_by_test_id("setting-watchedFolders-wake").check()
    expect(page.get_by_test_id("settings-dirty")).to_be_visible()
    page.get_by_test_id("settings-save").click()
    expect(page.get_by_test_id("settings-saved")).to_be_visible()
    saved = json.loads(panel.app.home.settings_file.read_text())
    assert saved["watchedFolders"] == [{"path": str(notes), "wake": True, "ignore": []}]
    wait_until(lambda: panel.app.client.status().get("folders", {}).get("watching"), 10,
               "the folder source to watch it")
    page.reload()
    expect(page.get_by_test_id("setting-watchedFolders-path")).to_have_value(str(notes))
    page.get_by_test_id("setting-watchedFolders-remove").click()
    page.get_by_test_id("settings-save").click()
    expect(page.get_by_test_id("setting-watchedFolders-path")).to_have_count(0)
    wait_until(lambda: json.loads(panel.app.home.settings_file.read_text())["watchedFolders"]
               == [], 10, "the folder removed from settings.json")


@pytest.fixture
def keyless(fake: FakeAnthropic, home: Home) -> Iterator[RunningApp]:
    """The app with no API key at all."""
    env = {**os.environ, "ANTHROPIC_BASE_URL": fake.base_url, "KAIROS_HOME": str(home.root)}
    env.pop("ANTHROPIC_API_KEY", None)
    process = subprocess.Popen([*KAIROS, "run", "--headless"], env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    running = RunningApp(home, env, process)
    try:
        wait_until(lambda: home.read_control() and running.client.status()["state"]
                   == "no_api_key", 20, "the app up without a key")
        info = home.read_control()
        assert info is not None
        running.url = f"http://127.0.0.1:{info['port']}/?token={info['token']}"
        yield running
    finally:
        process.terminate()
        process.wait(15)


def test_no_api_key_in_the_sidebar_takes_you_to_the_key(browser: object,
                                                         keyless: RunningApp) -> None:
    context = browser.new_context()  # type: ignore[attr-defined]
    try:
        panel = Panel(keyless, context)
        page = panel.open("chat")
        pill = page.get_by_test_id("status-pill")
        expect(page.get_by_test_id("status-state")).to_have_text("No API key")
        pill.click()
        expect(page.get_by_test_id("apikey-input")).to_be_focused()
        assert page.evaluate("location.hash") == "#settings"
        page.evaluate("location.hash = 'chat'")
        pill.focus()
        pill.press("Enter")  # by keyboard too
        expect(page.get_by_test_id("apikey-input")).to_be_focused()
    finally:
        for page in context.pages:
            page.goto("about:blank")
        context.close()


def test_the_github_token_is_kept_like_the_api_key_and_never_shown_back(panel: Panel) -> None:
    token = "github_pat_" + "x" * 60 + "Kq7Z"
    page = panel.open("settings")
    expect(page.get_by_test_id("github-status")).to_contain_text("No token")
    box = page.get_by_test_id("github-input")
    box.fill("ghp_short")
    page.get_by_test_id("github-save").click()
    expect(page.get_by_test_id("error-githubToken")).to_contain_text("too short")
    box.fill(token)
    page.get_by_test_id("github-save").click()
    expect(page.get_by_test_id("github-hint")).to_have_text("github_pat_…Kq7Z")
    expect(box).to_have_value("")
    home = panel.app.home
    stored = home.root / "secrets" / "github_token"
    assert stored.read_text().strip() == token and stored.stat().st_mode & 0o077 == 0
    assert token not in home.settings_file.read_text()
    page.reload()
    expect(page.get_by_test_id("github-hint")).to_have_text("github_pat_…Kq7Z")
    assert token not in page.content()
    page.get_by_test_id("github-remove").click()
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("github-status")).to_contain_text("No token")
    assert not stored.exists()
