"""Fixtures for the panel page: a real `kairos run --headless` on a temporary home, talking to the
scripted fake Anthropic server, and the page it serves driven in headless Chromium by Playwright.

Nothing is mocked between the page and the engine: what the page shows came over the control API
and its event stream, and what the model "received" is what the fake server recorded.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kairos_desktop.control.client import ControlClient
from kairos_desktop.errors import NotRunningError
from kairos_desktop.home import Home
from tests.conftest import write_settings
from tests.fakes.anthropic_server import FakeAnthropic, RecordedRequest, Reply, tool_use
from tests.waiting import wait_until

try:
    from playwright.sync_api import expect

    # A turn through the real engine and the fake model can take seconds on a loaded 2-CPU CI
    # machine; a wait that passes is as fast as before.
    expect.set_options(timeout=15_000)
except ImportError:  # the `browser` fixture skips every test that would need it
    expect = None  # type: ignore[assignment]

KAIROS = [sys.executable, "-m", "kairos_desktop.cli"]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]
SLEEP = tool_use("Sleep", {"seconds": 3000})


def user_said(request: RecordedRequest) -> str | None:
    """The user's message in this turn, or None on a tick, a tool result or a cron fire."""
    content = request.messages[-1]["content"] if request.messages else ""
    if isinstance(content, list) and content and content[-1].get("type") == "tool_result":
        return None
    text = request.last_user_text
    if '<message from="user"' not in text:
        return None
    return text.split('<message from="user"', 1)[1].split(">", 1)[1].split("</message>")[0].strip()


def echo_replies(request: RecordedRequest) -> Reply:
    """Answer a user's message with a SendUserMessage; sleep on anything else."""
    said = user_said(request)
    if said is None:
        return SLEEP
    return tool_use("SendUserMessage", {"message": f"you said: {said}", "status": "normal"})


def run_command_replies(command: str) -> Callable[[RecordedRequest], Reply]:
    """Answer a user's message by asking to run `command`; sleep on anything else."""
    def reply(request: RecordedRequest) -> Reply:
        return SLEEP if user_said(request) is None else tool_use("RunCommand", {"command": command})
    return reply


def tool_results(fake: FakeAnthropic) -> list[str]:
    """The text of every tool_result the model has been sent so far, in order, deduplicated."""
    seen: list[str] = []
    for request in fake.history:
        for message in request.messages:
            content = message.get("content")
            if message.get("role") != "user" or not isinstance(content, list):
                continue
            for block in content:
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    inner = block.get("content")
                    text = inner if isinstance(inner, str) else "\n".join(
                        part.get("text", "") for part in inner or [] if isinstance(part, dict))
                    if text not in seen:
                        seen.append(text)
    return seen


@dataclass
class RunningApp:
    """A `kairos run --headless` process on `home`, and how to reach its panel."""

    home: Home
    env: dict[str, str]
    process: subprocess.Popen[str]
    url: str = ""
    token: str = ""
    port: int = 0

    def kairos(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*KAIROS, *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    @property
    def client(self) -> ControlClient:
        return ControlClient.for_home(self.home)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"chromium is not installed at {CHROMIUM}")
    if expect is None:
        pytest.skip("the playwright package is not installed")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def settings() -> dict[str, Any]:
    """Settings written before the app starts; a test changes this dict to start differently."""
    return {}


@pytest.fixture
def app(fake: FakeAnthropic, home: Home, settings: dict[str, Any]) -> Iterator[RunningApp]:
    if fake.on_empty is None:
        fake.on_empty = echo_replies
    write_settings(home, settings)
    env = {**os.environ, "ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": fake.base_url,
           "KAIROS_HOME": str(home.root), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([*KAIROS, "run", "--headless"], env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    running = RunningApp(home, env, process)
    try:
        _wait_sleeping(running)
        info = home.read_control()
        assert info is not None
        running.port, running.token = info["port"], info["token"]
        running.url = f"http://127.0.0.1:{info['port']}/?token={info['token']}"
        yield running
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def _wait_sleeping(running: RunningApp, timeout: float = 20) -> None:
    def asleep() -> bool:
        if running.process.poll() is not None:
            _, err = running.process.communicate()
            raise AssertionError(f"kairos run exited with {running.process.returncode}: {err}")
        try:
            return bool(running.client.status()["state"] == "sleeping")
        except NotRunningError:
            return False

    wait_until(asleep, timeout, "kairos run to come up and go to sleep")


@dataclass
class Panel:
    """Pages of the running app's panel in one browser context; records what went wrong."""

    app: RunningApp
    context: Any
    errors: list[str] = field(default_factory=list)

    def open(self, view: str = "chat") -> Any:
        """Open the panel on `view` and return the page once it said it is ready."""
        page = self.context.new_page()
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        with page.expect_request(lambda r: r.url.endswith("/api/panel/ready")):
            page.goto(f"{self.app.url}#{view}")
        return page


@pytest.fixture
def panel(browser: Any, app: RunningApp) -> Iterator[Panel]:
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    context.set_default_timeout(10_000)
    try:
        yield Panel(app, context)
    finally:
        for page in context.pages:  # the page closes its event stream when it is left
            page.goto("about:blank")
        context.close()
