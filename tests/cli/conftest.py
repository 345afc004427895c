"""Fixtures for the `kairos` command in this process (see harness.py)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

import pytest

from kairos_desktop import Kairos
from kairos_desktop.delivery.notifier import ConsoleNotifier
from kairos_desktop.home import Home
from tests.cli.harness import Cli, RunCommand, RunningApp, StartApp, sleep_or_answer
from tests.fakes.anthropic_server import FakeAnthropic


@pytest.fixture
def cli(home: Home, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> Cli:
    """`kairos --home HOME ...` on this test's home, in this process."""
    return Cli(home, capsys, monkeypatch)


@pytest.fixture
def start_app(fake: FakeAnthropic) -> Iterator[StartApp]:
    """Start an engine on a home in a thread of its own; all are stopped at the end. The fake
    model repeats what the user says (sleeps otherwise) unless the test scripted it."""
    fake.on_empty = sleep_or_answer
    apps: list[RunningApp] = []

    def start(home: Home, *, api_key: str | None = "test-key") -> RunningApp:
        kairos = Kairos(home.root, notifier=ConsoleNotifier(io.StringIO()), api_key=api_key,
                        base_url=fake.base_url)
        app = RunningApp(kairos.start_in_thread())
        apps.append(app)
        return app

    yield start
    for app in apps:
        app.stop()


@pytest.fixture
def running(start_app: StartApp, home: Home) -> RunningApp:
    """An engine on this test's home, asleep after its first turn."""
    app = start_app(home)
    app.wait_sleeping(1)
    return app


@pytest.fixture
def run_command(cli: Cli, fake: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
                ) -> Iterator[Callable[..., RunCommand]]:
    """Start `kairos run --headless [ARGS]` in this process, with ANTHROPIC_API_KEY set, on the
    fake model (which repeats what the user says); stopped at the end if still up."""
    import gc

    fake.on_empty = sleep_or_answer
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
    # Outside a process of its own, run's gc.freeze() would pin this test session's objects.
    monkeypatch.setattr(gc, "freeze", lambda: None)
    runs: list[RunCommand] = []

    def start(*args: str) -> RunCommand:
        run = RunCommand(cli, *args).start()
        runs.append(run)
        return run

    yield start
    for run in runs:
        if run.result is None:
            run.stop()
