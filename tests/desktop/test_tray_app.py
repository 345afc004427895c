"""The tray app for real: Xvfb, a D-Bus session, dunst and trayer; the fake model behind it."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kairos_desktop.control.client import ControlClient
from kairos_desktop.errors import NotRunningError
from kairos_desktop.home import Home
from tests.conftest import write_settings
from tests.desktop.conftest import dunstctl
from tests.fakes.anthropic_server import FakeAnthropic, tool_use, tool_uses
from tests.waiting import wait_until

KAIROS = [sys.executable, "-m", "kairos_desktop.cli"]
SHOTS = Path(os.environ.get("KAIROS_SCREENSHOTS", "")) if os.environ.get(
    "KAIROS_SCREENSHOTS") else None


@dataclass
class RunningApp:
    proc: subprocess.Popen[str]
    client: ControlClient
    home: Home
    env: dict[str, str]
    opened: Path

    def status(self) -> dict:
        return self.client.status()

    def opened_paths(self) -> list[str]:
        return self.opened.read_text().splitlines() if self.opened.exists() else []


def screenshot(env: dict[str, str], name: str) -> Path | None:
    if SHOTS is None:
        return None
    SHOTS.mkdir(parents=True, exist_ok=True)
    target = SHOTS / name
    subprocess.run(["import", "-window", "root", str(target)], env=env, check=True, timeout=20)
    return target


def docked(status: dict) -> bool:
    return bool(status.get("tray", {}).get("embedded"))


def start_app(env: dict[str, str], home: Home, tmp_path: Path, fake: FakeAnthropic,
              extra: dict[str, str] | None = None,
              until: Callable[[dict], bool] = docked) -> RunningApp:
    """`kairos run` in `env`; returns once its status satisfies `until` (the icon docked)."""
    recorder = tmp_path / "opener.sh"
    opened = tmp_path / "opened.log"
    recorder.write_text(f'#!/bin/sh\necho "$@" >> {opened}\n')
    recorder.chmod(0o755)
    app_env = {**env, "ANTHROPIC_API_KEY": "test", "ANTHROPIC_BASE_URL": fake.base_url,
               "KAIROS_HOME": str(home.root), "KAIROS_OPENER": str(recorder), **(extra or {})}
    proc = subprocess.Popen([*KAIROS, "run"], env=app_env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def up() -> ControlClient | None:
        if proc.poll() is not None:
            raise AssertionError(f"kairos run exited: {proc.communicate()}")
        try:
            client = ControlClient.for_home(home)
        except NotRunningError:
            return None
        return client if until(client.status()) else None

    client = wait_until(up, what="the app to be up (by default: its tray icon docked)")
    return RunningApp(proc, client, home, app_env, opened)


def stop_app(app: RunningApp) -> tuple[str, str]:
    if app.proc.poll() is None:
        with contextlib.suppress(NotRunningError):
            app.client.stop()
        try:
            return app.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            app.proc.kill()
    return app.proc.communicate()


@pytest.fixture
def app(clear_dunst: dict[str, str], home: Home, tmp_path: Path,
        fake: FakeAnthropic) -> Iterator[RunningApp]:
    fake.on_empty = tool_use("Sleep", {"seconds": 3000})
    running = start_app(clear_dunst, home, tmp_path, fake)
    yield running
    stop_app(running)


def test_the_icon_docks_and_reports_where_it_is(app: RunningApp) -> None:
    tray = app.status()["tray"]
    assert tray["backend"] == "gtk" and tray["embedded"] is True and tray["host"] == "xembed"
    assert tray["width"] > 0 and tray["height"] > 0
    # Drawn from the asset made for the tray's size, not the 64 px image scaled down.
    assert tray["iconSize"] in (16, 22, 24) and tray["iconSize"] <= tray["height"]
    screenshot(app.env, "tray.png")


def test_wake_now_from_the_right_click_menu_wakes_the_loop(
        app: RunningApp, fake: FakeAnthropic) -> None:
    fake.wait_for_requests(1)
    wait_until(lambda: app.status()["state"] == "sleeping", what="the first sleep")
    tray = app.status()["tray"]
    x, y = tray["x"] + tray["width"] // 2, tray["y"] + tray["height"] // 2
    subprocess.run(["xdotool", "mousemove", str(x), str(y), "click", "3"], env=app.env,
                   check=True)
    time.sleep(0.5)
    screenshot(app.env, "tray-menu.png")
    # Open, Inbox, Wake now: the third item.
    subprocess.run(["xdotool", "key", "Down", "Down", "Down", "Return"], env=app.env,
                   check=True)
    request = fake.wait_for_requests(2, timeout=10)
    assert "<tick" in request.last_user_text


def test_a_push_notification_reaches_the_notification_server(
        clear_dunst: dict[str, str], home: Home, tmp_path: Path, fake: FakeAnthropic) -> None:
    fake.enqueue(tool_use("PushNotification", {"title": "Standup", "body": "in 5 minutes"}))
    fake.on_empty = tool_use("Sleep", {"seconds": 3000})
    running = start_app(clear_dunst, home, tmp_path, fake)
    try:
        wait_until(lambda: dunstctl(clear_dunst, "count", "displayed") == "1",
                   what="dunst to display the notification")
        screenshot(clear_dunst, "notification.png")
    finally:
        stop_app(running)


def test_clicking_a_file_notification_opens_the_file(
        clear_dunst: dict[str, str], home: Home, tmp_path: Path, fake: FakeAnthropic) -> None:
    fake.enqueue(tool_uses(("WriteFile", {"path": "report.md", "content": "# Report\n"}),
                           ("SendUserFile", {"path": "report.md", "title": "Weekly report"})))
    fake.on_empty = tool_use("Sleep", {"seconds": 3000})
    running = start_app(clear_dunst, home, tmp_path, fake)
    try:
        wait_until(lambda: dunstctl(clear_dunst, "count", "displayed") == "1",
                   what="the file notification")
        dunstctl(clear_dunst, "action", "0")
        [opened] = wait_until(running.opened_paths, what="the opener to be called")
        assert opened == str(tmp_path / "inbox" / "report.md")
        [item] = running.client.inbox()
        assert item["read"] is True
    finally:
        stop_app(running)


def test_a_burst_of_messages_collapses_into_one_summary(
        clear_dunst: dict[str, str], home: Home, tmp_path: Path, fake: FakeAnthropic) -> None:
    write_settings(home, {"notifyBurstLimit": 2, "notifyBurstWindowMinutes": 0.05})
    fake.enqueue(tool_uses(*[("SendUserMessage", {"message": f"finding {i}",
                                                  "status": "proactive"}) for i in range(5)]))
    fake.on_empty = tool_use("Sleep", {"seconds": 3000})
    running = start_app(clear_dunst, home, tmp_path, fake)
    try:
        wait_until(lambda: dunstctl(clear_dunst, "count", "displayed") == "2",
                   what="the first two notifications")
        wait_until(lambda: dunstctl(clear_dunst, "count", "displayed") == "3", timeout=20,
                   what="one summary of the other three")
        assert len(running.client.messages()) == 5  # every message is kept, unread
    finally:
        stop_app(running)


def test_without_a_notification_server_the_tray_asks_for_attention_and_nothing_is_lost(
        no_notification_server: dict[str, str], home: Home, tmp_path: Path,
        fake: FakeAnthropic) -> None:
    fake.enqueue(tool_use("SendUserMessage", {"message": "Your build failed",
                                              "status": "proactive"}))
    fake.on_empty = tool_use("Sleep", {"seconds": 3000})
    running = start_app(no_notification_server, home, tmp_path, fake)
    try:
        wait_until(lambda: running.status()["desktop"]["attention"], what="needs attention")
        [message] = running.client.messages()
        assert message["text"] == "Your build failed" and message["read"] is False
    finally:
        stop_app(running)


def test_a_second_launch_asks_the_running_app_to_show_itself(
        app: RunningApp, tmp_path: Path) -> None:
    second = subprocess.run([*KAIROS, "run"], env=app.env, capture_output=True, text=True,
                            timeout=30)
    assert second.returncode == 0 and "already running" in second.stdout
    wait_until(lambda: app.status()["panel"]["open"], what="the panel window")


def test_quit_stops_cleanly_and_keeps_what_is_queued(app: RunningApp, fake: FakeAnthropic
                                                     ) -> None:
    fake.wait_for_requests(1)
    out, err = stop_app(app)
    assert app.proc.returncode == 0
    assert "stopped." in out
    assert "Task was destroyed" not in err and "Traceback" not in err, err
    assert json.loads(app.home.store_file.read_text()).get("inbound", {}) == {}


def test_doctor_reports_the_tray_backend_and_the_notification_server(
        clear_dunst: dict[str, str], home: Home) -> None:
    result = subprocess.run([*KAIROS, "--home", str(home.root), "doctor", "--json"],
                            env=clear_dunst, capture_output=True, text=True, timeout=60)
    report = json.loads(result.stdout)
    assert report["tray"]["backend"] == "gtk" and report["tray"]["ok"] is True
    assert report["tray"]["host"] == "xembed"
    assert report["notifications"]["server"] is True
    assert "BUTTONS" in report["notifications"]["capabilities"]
    assert report["apiKey"].startswith("missing")
