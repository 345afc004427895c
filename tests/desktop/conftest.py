"""A real desktop session for tests: Xvfb, a D-Bus session bus, dunst (D-Bus activated, with a
test dunstrc) and trayer as the system tray. Built once per test session.

Missing programs skip these tests with the package to install, except under CI=true, where the
CI script installs them and a missing one is a failure."""

from __future__ import annotations

import os
import shutil
import subprocess
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
           "PYSTRAY_BACKEND": "gtk", "NO_AT_BRIDGE": "1", "GDK_BACKEND": "x11",
           # This bus would D-Bus-activate gnome-keyring, whose unlock prompt nobody answers.
           "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    env.pop("WAYLAND_DISPLAY", None)
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
