"""A real desktop session for tests: Xvfb, a D-Bus session bus, dunst (D-Bus activated, with a
test dunstrc) and trayer as the system tray. Built once per test session.

Beside it, sessions with another tray host: `sni_session` (a screen with no XEmbed tray and a
bus whose only tray is a StatusNotifierWatcher, sni_watcher.py: GNOME Shell's AppIndicator
extension, as the app meets it on Ubuntu) and `no_tray_session` (neither).

Missing programs skip these tests with the package to install, except under CI=true, where the
CI script installs them and a missing one is a failure."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

PROGRAMS = {"Xvfb": "xvfb", "dbus-daemon": "dbus", "dunst": "dunst", "dunstctl": "dunst",
            "trayer": "trayer", "xdotool": "xdotool", "import": "imagemagick"}


def _require_programs() -> None:
    missing = sorted({pkg for prog, pkg in PROGRAMS.items() if shutil.which(prog) is None})
    if not missing:
        return
    message = f"the desktop test session needs: apt-get install {' '.join(missing)}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _start_xvfb() -> tuple[subprocess.Popen[bytes], str]:
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1280x800x24",
                             "-nolisten", "tcp"], pass_fds=(write_fd,),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        number = pipe.readline().strip()
    if not number:
        proc.kill()
        pytest.fail("Xvfb did not report a display number")
    return proc, f":{number}"


def _start_bus(env: dict[str, str], config: Path | None = None
               ) -> tuple[subprocess.Popen[str], str]:
    """The bus passes its own environment to what it activates: dunst needs DISPLAY and
    XDG_CONFIG_HOME from it."""
    args = ["dbus-daemon", "--nofork", "--print-address=1"]
    args += [f"--config-file={config}"] if config else ["--session"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    assert proc.stdout is not None
    address = proc.stdout.readline().strip()
    if not address:
        proc.kill()
        pytest.fail("dbus-daemon did not print its address")
    return proc, address


def private_bus_config(folder: Path, services: Path) -> Path:
    """A session bus configuration whose D-Bus activation knows only the .service files in
    `services` (e.g. none, or a dunst with a config of the test's own)."""
    config = folder / "bus.conf"
    config.write_text(f"""<busconfig>
  <type>session</type>
  <listen>unix:tmpdir={folder}</listen>
  <servicedir>{services}</servicedir>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
""")
    return config


@pytest.fixture(scope="session")
def desktop_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Environment variables of a running desktop session (DISPLAY, DBUS_SESSION_BUS_ADDRESS,
    XDG_CONFIG_HOME with dunst's test config)."""
    _require_programs()
    root = tmp_path_factory.mktemp("desktop")
    (root / "config" / "dunst").mkdir(parents=True)
    (root / "config" / "dunst" / "dunstrc").write_text(
        "[global]\n    timeout = 0\n    notification_limit = 0\n    dmenu = /bin/true\n")
    xvfb, display = _start_xvfb()
    env = {**os.environ, "DISPLAY": display, "XDG_CONFIG_HOME": str(root / "config"),
           # The app finds its tray by asking the session (here: trayer's XEmbed selection).
           "XDG_DATA_HOME": str(root / "data"), "NO_AT_BRIDGE": "1", "GDK_BACKEND": "x11",
           # This bus would D-Bus-activate gnome-keyring, whose unlock prompt nobody answers.
           "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    for name in ("WAYLAND_DISPLAY", "PYSTRAY_BACKEND", "KAIROS_TRAY"):
        env.pop(name, None)
    bus, address = _start_bus(env)
    env["DBUS_SESSION_BUS_ADDRESS"] = address
    trayer = subprocess.Popen(["trayer", "--edge", "top", "--align", "right", "--widthtype",
                               "request", "--height", "24", "--SetDockType", "true"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)  # trayer claims the tray selection
    try:
        yield env
    finally:
        for proc in (trayer, bus, xvfb):
            proc.terminate()
        for proc in (trayer, bus, xvfb):
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def no_notification_server(tmp_path: Path, desktop_session: dict[str, str]
                           ) -> Iterator[dict[str, str]]:
    """The same screen, but a session bus that knows no notification service."""
    services = tmp_path / "services"
    services.mkdir()
    bus, address = _start_bus(desktop_session, private_bus_config(tmp_path, services))
    try:
        yield {**desktop_session, "DBUS_SESSION_BUS_ADDRESS": address}
    finally:
        bus.terminate()
        bus.wait(5)


def dunstctl(env: dict[str, str], *args: str) -> str:
    return subprocess.run(["dunstctl", *args], env=env, capture_output=True, text=True,
                          timeout=10).stdout.strip()


@pytest.fixture
def clear_dunst(desktop_session: dict[str, str]) -> dict[str, str]:
    """The shared session with no notification left from an earlier test."""
    dunstctl(desktop_session, "close-all")
    dunstctl(desktop_session, "history-clear")
    return desktop_session


@pytest.fixture(scope="session")
def bare_display(desktop_session: dict[str, str], tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[dict[str, str]]:
    """A second screen with no system tray on it (as GNOME Shell's: no XEmbed selection)."""
    xvfb, display = _start_xvfb()
    try:
        yield {**desktop_session, "DISPLAY": display}
    finally:
        xvfb.terminate()
        xvfb.wait(5)


@pytest.fixture
def no_tray_session(tmp_path: Path, bare_display: dict[str, str]) -> Iterator[dict[str, str]]:
    """No tray host at all: a screen without XEmbed tray, a bus without StatusNotifierWatcher
    (and without a notification server)."""
    services = tmp_path / "services"
    services.mkdir()
    bus, address = _start_bus(bare_display, private_bus_config(tmp_path, services))
    try:
        yield {**bare_display, "DBUS_SESSION_BUS_ADDRESS": address}
    finally:
        bus.terminate()
        bus.wait(5)


@pytest.fixture
def sni_session(no_tray_session: dict[str, str], tmp_path: Path
                ) -> Iterator[dict[str, str]]:
    """The GNOME stand-in: the only tray is a StatusNotifierWatcher (sni_watcher.py) on the
    bus. The environment's KAIROS_TEST_SNI_RECORD names the watcher's record of
    registrations and item signals."""
    record = tmp_path / "watcher.jsonl"
    watcher = subprocess.Popen([sys.executable, "-m", "tests.desktop.sni_watcher", str(record)],
                               env=no_tray_session, stdout=subprocess.PIPE, text=True,
                               cwd=Path(__file__).resolve().parents[2])
    assert watcher.stdout is not None
    if watcher.stdout.readline().strip() != "ready":
        watcher.kill()
        pytest.fail("the StatusNotifierWatcher stand-in did not start")
    try:
        yield {**no_tray_session, "KAIROS_TEST_SNI_RECORD": str(record)}
    finally:
        watcher.terminate()
        watcher.wait(5)


def bus_name_owner_pid(env: dict[str, str], name: str) -> int | None:
    """The pid of the process owning `name` on the env's session bus, or None."""
    import asyncio

    from dbus_fast import Message, MessageType
    from dbus_fast.aio import MessageBus

    async def ask() -> int | None:
        bus = await MessageBus(bus_address=env["DBUS_SESSION_BUS_ADDRESS"]).connect()
        try:
            reply = await bus.call(Message(
                destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus", member="GetConnectionUnixProcessID",
                signature="s", body=[name]))
        finally:
            bus.disconnect()
        if reply is None or reply.message_type == MessageType.ERROR:
            return None
        return int(reply.body[0])

    return asyncio.run(ask())


@pytest.fixture
def fresh_keyring(desktop_session: dict[str, str], tmp_path: Path
                  ) -> Iterator[dict[str, str]]:
    """A user account with gnome-keyring and no login keyring yet, on a bus of this test's own
    (D-Bus activated as on a desktop, with its prompter, gcr-prompter, on the test screen): any
    Secret Service call raises "Choose password for new keyring", which nobody answers."""
    for program in ("gnome-keyring-daemon", "/usr/libexec/gcr-prompter"):
        if shutil.which(program) is None:
            if os.environ.get("CI"):
                pytest.fail(f"{program} is missing: apt-get install gnome-keyring gcr")
            pytest.skip(f"{program} is missing (apt: gnome-keyring, gcr)")
    services = tmp_path / "services"
    services.mkdir()
    for name in ("org.freedesktop.secrets", "org.gnome.keyring.SystemPrompter",
                 "org.gnome.keyring.PrivatePrompter"):
        source = Path("/usr/share/dbus-1/services") / f"{name}.service"
        if source.exists():
            shutil.copy(source, services / source.name)
    user, runtime = tmp_path / "user", tmp_path / "run"
    user.mkdir()
    runtime.mkdir(mode=0o700)
    env = {**desktop_session, "HOME": str(user), "XDG_RUNTIME_DIR": str(runtime),
           "XDG_DATA_HOME": str(user / ".local" / "share")}
    env.pop("PYTHON_KEYRING_BACKEND", None)  # the real Secret Service, as on a desktop
    bus, address = _start_bus(env, private_bus_config(tmp_path, services))
    env["DBUS_SESSION_BUS_ADDRESS"] = address
    try:
        yield env
    finally:
        # What the bus activated for this test (the keyring daemon, its prompter) goes too.
        pids = [bus_name_owner_pid(env, name) for name in (
            "org.gnome.keyring.SystemPrompter", "org.gnome.keyring.PrivatePrompter",
            "org.freedesktop.secrets")]
        for pid in {p for p in pids if p}:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        bus.terminate()
        bus.wait(5)
