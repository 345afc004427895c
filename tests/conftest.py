"""Shared fixtures: a fake Anthropic server the real SDK talks to, a home in a temp folder, a
controllable clock, and an engine wired to all three."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from kairos_desktop.clock import FakeClock
from kairos_desktop.delivery.deliveries import Deliveries
from kairos_desktop.delivery.inbox import Inbox
from kairos_desktop.delivery.notifier import ConsoleNotifier
from kairos_desktop.delivery.outbox import Outbox
from kairos_desktop.events import Event, EventBus
from kairos_desktop.home import Home
from kairos_desktop.journal import DailyLog
from kairos_desktop.paths import FolderPolicy
from kairos_desktop.runtime import Engine
from kairos_desktop.settings import Settings
from kairos_desktop.store import Store
from tests.fakes.anthropic_server import FakeAnthropic

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "KAIROS_HOME",
                 "KAIROS_DISABLE_CRON", "KAIROS_DISABLE_DREAM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DOWNLOAD_DIR", str(tmp_path / "Downloads"))
    # Never the user's real keyring: tests that want one set a backend of their own.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


# The tests of the full turn script what the model answers a tick: they run without the light
# tick (heartbeatModel "off"); tests/agent/test_light.py turns it on (LIGHT_ON) to test it.
NO_LIGHT_TICK = {"heartbeatModel": "off"}


@pytest.fixture
def home(tmp_path: Path) -> Home:
    home = Home(tmp_path / "home").ensure()
    write_settings(home, {"inboxDir": str(tmp_path / "inbox"), **NO_LIGHT_TICK})
    return home


def write_settings(home: Home, values: dict[str, Any]) -> None:
    current: dict[str, Any] = {}
    if home.settings_file.exists():
        current = json.loads(home.settings_file.read_text())
    current.update(values)
    home.settings_file.write_text(json.dumps(current, indent=2))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 22, 9, 0, 0, tzinfo=PARIS))


@pytest.fixture
def console() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def deliveries(tmp_path: Path, clock: FakeClock) -> Iterator[Deliveries]:
    """Deliveries on real files in tmp_path (store.json, inbox/, the daily log in logs/, files
    readable from workspace/), notifications to a console, the default settings."""
    store = Store(tmp_path / "store.json")
    policy = FolderPolicy(tmp_path / "workspace", [])
    yield Deliveries(
        outbox=Outbox(store, clock), notifier=ConsoleNotifier(io.StringIO()),
        daily_log=DailyLog(tmp_path / "logs", clock),
        inbox=Inbox(store, tmp_path / "inbox", clock, max_bytes=1_000_000), bus=EventBus(),
        settings=Settings, policy=lambda: policy)
    store.close()


EngineFactory = Callable[..., Engine]


@pytest.fixture
async def make_engine(home: Home, clock: FakeClock, fake: FakeAnthropic,
                      console: io.StringIO) -> AsyncIterator[EngineFactory]:
    """Build engines on this test's home, clock and fake server; all are stopped at the end."""
    engines: list[Engine] = []

    def build(**kwargs: Any) -> Engine:
        options: dict[str, Any] = dict(clock=clock, notifier=ConsoleNotifier(console),
                                       api_key="test-key", base_url=fake.base_url,
                                       model_max_retries=0)
        options.update(kwargs)
        engine = Engine(kwargs.pop("home", home), **{k: v for k, v in options.items()
                                                     if k != "home"})
        engines.append(engine)
        return engine

    yield build
    for engine in engines:
        await engine.stop(grace=1.0)


async def wait_for(engine: Engine, predicate: Callable[[], bool], timeout: float = 5.0,
                   what: str = "condition") -> None:
    """Wait (event-driven, on the engine's bus) until `predicate()` holds."""
    if predicate():
        return
    changed = asyncio.Event()

    def on_event(_: Event) -> None:
        changed.set()

    unsubscribe = engine.bus.subscribe(on_event)
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                await changed.wait()
                changed.clear()
    except TimeoutError:
        raise AssertionError(
            f"timed out after {timeout} s waiting for {what}; engine status: "
            f"{engine.status.to_dict()}") from None
    finally:
        unsubscribe()


async def wait_sleeping(engine: Engine, turns: int, timeout: float = 5.0) -> None:
    """Wait until the engine finished `turns` turns and went back to sleep."""
    await wait_for(engine, lambda: engine.status.turns >= turns
                   and engine.status.state in ("sleeping", "no_api_key"),
                   timeout, f"{turns} finished turn(s)")


@pytest.fixture
def secret_service(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """A real Secret Service: gnome-keyring on a D-Bus session bus of this test's own, with a
    login keyring unlocked by a throwaway password."""
    import keyring.core
    from keyring.backends import fail

    for tool in ("dbus-daemon", "gnome-keyring-daemon"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (apt: dbus, gnome-keyring)")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    (tmp_path / "run").mkdir(mode=0o700)
    bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address"],
                           stdout=subprocess.PIPE, text=True)
    assert bus.stdout is not None
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus.stdout.readline().strip())
    keyring_daemon = subprocess.run(
        ["gnome-keyring-daemon", "--unlock", "--components=secrets", "--daemonize"],
        input="throwaway", capture_output=True, text=True, timeout=20, check=True)
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND")
    keyring.core.init_backend()  # the backend is chosen once per process
    yield
    keyring.core.set_keyring(fail.Keyring())  # as the autouse fixture wants for the others
    pid = next((line.split("=", 1)[1] for line in keyring_daemon.stdout.splitlines()
                if line.startswith("GNOME_KEYRING_PID=")), None)
    if pid:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGTERM)
    bus.terminate()
    bus.wait(timeout=5)
