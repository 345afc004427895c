"""The OS keyring as a new user meets it: gnome-keyring on the session bus with no login keyring
yet, where any Secret Service call raises a "Choose password for new keyring" dialog (the
real gcr-prompter, on the test screen) that nobody answers. A first start must prompt for
nothing; an app whose key is stored there must still Quit at once while the prompt waits."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from kairos_desktop.home import Home
from tests.desktop.conftest import bus_name_owner_pid
from tests.desktop.test_tray_app import KAIROS, start_app, stop_app
from tests.fakes.anthropic_server import FakeAnthropic, tool_use
from tests.waiting import wait_until

PROMPTER = "org.gnome.keyring.SystemPrompter"
SECRETS = "org.freedesktop.secrets"


def mark_key_in_keyring(home: Home) -> None:
    """As `kairos key set` leaves a home whose key went to the keyring."""
    marker = home.root / "secrets" / "keyring.json"
    marker.parent.mkdir(mode=0o700, exist_ok=True)
    marker.write_text(json.dumps({"apiKey": f"anthropic-api-key:{home.root}"}))


def test_a_first_start_asks_the_keyring_nothing(
        fresh_keyring: dict[str, str], home: Home, tmp_path: Path, fake: FakeAnthropic) -> None:
    fake.on_empty = tool_use("Sleep", {"seconds": 3000})
    for key in ("test", ""):  # ANTHROPIC_API_KEY set, then no key at all
        running = start_app(fresh_keyring, home, tmp_path, fake,
                            extra={"ANTHROPIC_API_KEY": key})
        try:
            wait_until(lambda app=running: app.status()["state"] in ("sleeping", "no_api_key"),
                       what="the app settled")
        finally:
            stop_app(running)
    doctor = subprocess.run([*KAIROS, "--home", str(home.root), "doctor", "--json"],
                            env=fresh_keyring, capture_output=True, text=True, timeout=60)
    report = json.loads(doctor.stdout)
    assert report["apiKey"].startswith("missing")
    assert report["keyring"].startswith("not used by this home")
    # Nothing ever talked to the Secret Service: it was not even started, let alone prompted.
    assert bus_name_owner_pid(fresh_keyring, SECRETS) is None
    assert bus_name_owner_pid(fresh_keyring, PROMPTER) is None


@pytest.mark.parametrize("how", ["quit", "sigterm"])
def test_quit_takes_under_three_seconds_while_a_keyring_prompt_waits(
        fresh_keyring: dict[str, str], home: Home, tmp_path: Path, fake: FakeAnthropic,
        how: str) -> None:
    mark_key_in_keyring(home)
    running = start_app(fresh_keyring, home, tmp_path, fake, extra={"ANTHROPIC_API_KEY": ""})
    try:
        wait_until(lambda: bus_name_owner_pid(fresh_keyring, PROMPTER), timeout=20,
                   what="gnome-keyring's prompt to be shown")
        started = time.monotonic()
        if how == "quit":
            running.client.stop()  # what the tray's Quit asks
        else:
            running.proc.send_signal(signal.SIGTERM)
        out, err = running.proc.communicate(timeout=30)
        elapsed = time.monotonic() - started
    finally:
        if running.proc.poll() is None:
            running.proc.kill()
    assert running.proc.returncode == 0, err
    assert elapsed < 3.0, f"the app took {elapsed:.1f} s to stop"
    assert "stopped." in out


def test_doctor_gives_up_on_a_keyring_that_prompts(
        fresh_keyring: dict[str, str], home: Home) -> None:
    mark_key_in_keyring(home)
    started = time.monotonic()
    doctor = subprocess.run([*KAIROS, "--home", str(home.root), "doctor", "--json"],
                            env=fresh_keyring, capture_output=True, text=True, timeout=60)
    assert time.monotonic() - started < 30
    report = json.loads(doctor.stdout)
    assert "did not answer" in report["apiKey"]
    assert report["keyring"] == "holds this home's API key"
