"""`kairos run` as a user runs it: real processes, a real home, the fake API. Only what needs
a process of its own (signals, the home lock across processes, a restart); every other command
is tested in this process (tests/cli/)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

from kairos_desktop.control.client import ControlClient
from kairos_desktop.errors import NotRunningError
from kairos_desktop.home import Home
from tests.cli.harness import Cli, sleep_or_answer
from tests.fakes.anthropic_server import FakeAnthropic
from tests.waiting import wait_until

KAIROS = [sys.executable, "-m", "kairos_desktop.cli"]
Start = Callable[..., subprocess.Popen[str]]


@pytest.fixture
def env(fake: FakeAnthropic, home: Home) -> dict[str, str]:
    fake.on_empty = sleep_or_answer
    return {**os.environ, "ANTHROPIC_API_KEY": "test", "ANTHROPIC_BASE_URL": fake.base_url,
            "KAIROS_HOME": str(home.root), "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def cli(home: Home, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(home, capsys, monkeypatch)


def wait_sleeping(home: Home, turns: int = 1) -> ControlClient:
    """The app's control API once it finished `turns` turns and sleeps."""
    def ready() -> ControlClient | None:
        try:
            client = ControlClient.for_home(home)
            status = client.status()
        except NotRunningError:
            return None
        return client if status["state"] == "sleeping" and status["turns"] >= turns else None
    return wait_until(ready, timeout=30, what="kairos run to come up and go to sleep")


def run_until_asleep(env: dict[str, str], home: Home, turns: int = 1) -> None:
    """`kairos run --headless` until it has finished `turns` turns and sleeps, then stopped
    (SIGTERM) and checked to exit 0: a start's work, however slow the machine is today."""
    proc = subprocess.Popen([*KAIROS, "run", "--headless"], env=env, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_sleeping(home, turns)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err


@pytest.fixture
def start(env: dict[str, str]) -> Iterator[Start]:
    """`kairos run --headless [ARGS]` as a process; terminated at the end if still up."""
    procs: list[subprocess.Popen[str]] = []

    def run(*args: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen([*KAIROS, "run", "--headless", *args], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        procs.append(proc)
        return proc

    yield run
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            proc.communicate(timeout=15)


def stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.terminate()
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    return out, err


def test_run_talks_and_stops_cleanly_on_sigterm(
        start: Start, home: Home, cli: Cli, fake: FakeAnthropic) -> None:
    app = start()
    wait_sleeping(home)
    sent = cli("send", "hello", "there")
    assert sent.code == 0 and "sent to the running assistant" in sent.out
    assert "hello there" in fake.wait_for_requests(2).last_user_text
    wait_sleeping(home, 2)
    out, _ = stop(app)
    assert "[Kairos] you said: hello there" in out
    assert "Kairos stopped." in out
    assert not home.control_file.exists()


def test_a_second_run_on_the_same_home_says_so_and_exits_1(
        start: Start, home: Home) -> None:
    app = start()
    wait_sleeping(home)
    second = start()
    _, err = second.communicate(timeout=30)
    assert second.returncode == 1
    assert "already running" in err and f"pid {app.pid}" in err


def test_continue_resumes_the_latest_session(
        start: Start, home: Home, cli: Cli, fake: FakeAnthropic) -> None:
    cli("send", "my name is Ada")
    first = start()
    wait_sleeping(home)
    stop(first)
    calls = len(fake.history)
    resumed = start("--continue")
    wait_sleeping(home)
    stop(resumed)
    assert "my name is Ada" in json.dumps(fake.history[calls].messages)
    calls = len(fake.history)
    fresh = start()
    wait_sleeping(home)
    stop(fresh)
    assert "my name is Ada" not in json.dumps(fake.history[calls].messages)
