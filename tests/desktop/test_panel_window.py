"""The panel window for real: `kairos run` under Xvfb with trayer and dunst, the pywebview window
(GTK backend) in its child process, found and photographed with xdotool and ImageMagick.

A user's click on the window's close button is what a window manager does: it sends the window
a WM_DELETE_WINDOW message. There is no window manager here, so `close_like_a_window_manager`
sends that message itself (`xdotool windowclose` destroys the X window under GTK's feet instead,
and the process dies of an X error with exit code 1).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kairos_desktop.desktop.panel import PanelWindow
from kairos_desktop.home import Home
from tests.conftest import write_settings
from tests.desktop.conftest import _start_bus, dunstctl, private_bus_config
from tests.desktop.test_tray_app import SHOTS, RunningApp, stop_app
from tests.desktop.test_tray_app import start_app as start_tray_app
from tests.fakes.anthropic_server import FakeAnthropic, tool_use
from tests.waiting import wait_until

NAME = "Juniper"  # the assistant's name: the window's title
PANEL_PROCESSES = ("WebKitWebProcess", "WebKitNetworkProcess")


def start_app(env: dict[str, str], home: Home, tmp_path: Path, fake: FakeAnthropic
              ) -> RunningApp:
    # The session's environment was taken before the autouse fixture chose the "fail" keyring;
    # without it the app would ask the session bus for a Secret Service, whose prompt waits
    # for a password forever.
    return start_tray_app(env, home, tmp_path, fake,
                          extra={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})


# -- helpers ---------------------------------------------------------------------------------


def panel_window(app: RunningApp, title: str = NAME) -> int | None:
    """The panel's X window (the visible one titled after the assistant), if any."""
    found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", f"^{title}$"],
                           env=app.env, capture_output=True, text=True, timeout=10).stdout.split()
    return int(found[0]) if found else None


def panel_status(app: RunningApp) -> dict:
    return app.status()["panel"]


def descendants(pid: int) -> dict[int, str]:
    """Every process below `pid`: {pid: program name} (from the command line: the kernel's
    name is cut at 15 characters)."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name_end = stat.rindex(")")
        parents[int(entry.name)] = int(stat[name_end + 2:].split()[1])
        try:
            argv0 = (entry / "cmdline").read_bytes().split(b"\0")[0].decode()
        except OSError:
            argv0 = ""
        names[int(entry.name)] = Path(argv0).name or stat[stat.index("(") + 1:name_end]
    found: dict[int, str] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                found[child] = names[child]
                frontier.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def photograph(app: RunningApp, window: int, target: Path) -> int:
    """Screenshot of `window` into `target`; its number of distinct colours."""
    subprocess.run(["import", "-window", str(window), str(target)], env=app.env, check=True,
                   timeout=20)
    return int(subprocess.run(["identify", "-format", "%k", str(target)], capture_output=True,
                              text=True, check=True, timeout=20).stdout)


def wait_for_page(app: RunningApp, window: int, target: Path) -> int:
    """The page has rendered once the window shows more than a blank background."""
    return wait_until(lambda: (n := photograph(app, window, target)) > 50 and n, timeout=20,
                      what="the page to render in the window")


def focused_window(app: RunningApp) -> int | None:
    focus = subprocess.run(["xdotool", "getwindowfocus"], env=app.env, capture_output=True,
                           text=True, timeout=10)
    return int(focus.stdout) if focus.returncode == 0 else None


def tray_click(app: RunningApp, button: int, *keys: str) -> None:
    tray = app.status()["tray"]
    x, y = tray["x"] + tray["width"] // 2, tray["y"] + tray["height"] // 2
    subprocess.run(["xdotool", "mousemove", str(x), str(y), "click", str(button)], env=app.env,
                   check=True, timeout=10)
    if keys:
        time.sleep(0.5)  # the menu opens
        subprocess.run(["xdotool", "key", *keys], env=app.env, check=True, timeout=10)


# Menu: Open, Inbox, Wake now, Pause, Dream now, Settings..., (separator), Quit.
SETTINGS_KEYS = ("Down",) * 6 + ("Return",)
QUIT_KEYS = ("Down",) * 7 + ("Return",)


def close_like_a_window_manager(display: str, window: int) -> None:
    """Send `window` the WM_DELETE_WINDOW message a window manager sends for its close button."""
    x11 = ctypes.cdll.LoadLibrary(ctypes.util.find_library("X11") or "libX11.so.6")
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]

    class ClientMessage(ctypes.Structure):
        _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong),
                    ("send_event", ctypes.c_int), ("display", ctypes.c_void_p),
                    ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong),
                    ("format", ctypes.c_int), ("data", ctypes.c_long * 5)]

    class XEvent(ctypes.Union):
        _fields_ = [("xclient", ClientMessage), ("pad", ctypes.c_long * 24)]

    x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long,
                               ctypes.POINTER(XEvent)]
    x11.XFlush.argtypes = [ctypes.c_void_p]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    connection = x11.XOpenDisplay(display.encode())
    assert connection, f"cannot open display {display}"
    event = XEvent()
    event.xclient.type = 33  # ClientMessage
    event.xclient.window = window
    event.xclient.message_type = x11.XInternAtom(connection, b"WM_PROTOCOLS", 0)
    event.xclient.format = 32
    event.xclient.data[0] = x11.XInternAtom(connection, b"WM_DELETE_WINDOW", 0)
    try:
        assert x11.XSendEvent(connection, window, 0, 0, ctypes.byref(event))
        x11.XFlush(connection)
    finally:
        x11.XCloseDisplay(connection)


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def panel_app(clear_dunst: dict[str, str], home: Home, tmp_path: Path,
              fake: FakeAnthropic) -> Iterator[RunningApp]:
    write_settings(home, {"assistantName": NAME})
    fake.on_empty = tool_use("Sleep", {"seconds": 3000})
    running = start_app(clear_dunst, home, tmp_path, fake)
    yield running
    stop_app(running)


@pytest.fixture
def picking_dunst(desktop_session: dict[str, str], tmp_path: Path) -> Iterator[dict[str, str]]:
    """A session bus of its own whose dunst answers `dunstctl context` with the entry named in
    the file `pick` (dunst feeds its dmenu lines like "#Allow (summary) [3,<key>]")."""
    config = tmp_path / "dunst-config"
    (config / "dunst").mkdir(parents=True)
    pick = tmp_path / "pick"
    menu = tmp_path / "dmenu.sh"
    menu.write_text(f'#!/bin/sh\ngrep -m1 -F "#$(cat {pick}) ("\n')
    menu.chmod(0o755)
    (config / "dunst" / "dunstrc").write_text(
        f"[global]\n    timeout = 0\n    notification_limit = 0\n    dmenu = {menu}\n")
    services = tmp_path / "services"
    services.mkdir()
    (services / "org.freedesktop.Notifications.service").write_text(
        "[D-BUS Service]\nName=org.freedesktop.Notifications\n"
        f"Exec={shutil.which('dunst')} -config {config / 'dunst' / 'dunstrc'}\n")
    env = {**desktop_session, "XDG_CONFIG_HOME": str(config), "KAIROS_TEST_PICK": str(pick)}
    bus, address = _start_bus(env, private_bus_config(tmp_path, services))
    try:
        yield {**env, "DBUS_SESSION_BUS_ADDRESS": address}
    finally:
        bus.terminate()
        bus.wait(5)


# -- the window ------------------------------------------------------------------------------


def test_open_from_the_tray_shows_the_page_in_a_window(panel_app: RunningApp,
                                                       tmp_path: Path) -> None:
    tray_click(panel_app, 1)  # left click: the default item, "Open Juniper"
    window = wait_until(lambda: panel_window(panel_app), what="the panel window")
    colours = wait_for_page(panel_app, window, tmp_path / "panel.png")
    assert colours > 50
    geometry = subprocess.run(["xdotool", "getwindowgeometry", str(window)], env=panel_app.env,
                              capture_output=True, text=True, check=True).stdout
    assert "1000x720" in geometry
    status = panel_status(panel_app)
    assert status["open"] and status["loaded"] and status["openings"] == 1
    assert status["pid"] in descendants(panel_app.proc.pid)
    wait_until(lambda: panel_status(panel_app)["ready"], what="the page to say it is ready")
    if SHOTS is not None:
        time.sleep(0.5)  # fonts and the status line settle
        SHOTS.mkdir(parents=True, exist_ok=True)
        photograph(panel_app, window, SHOTS / "panel-window.png")


def test_opening_again_focuses_the_window_and_switches_the_view_in_the_same_process(
        panel_app: RunningApp, tmp_path: Path) -> None:
    tray_click(panel_app, 1)
    window = wait_until(lambda: panel_window(panel_app), what="the panel window")
    wait_for_page(panel_app, window, tmp_path / "chat.png")
    first = panel_status(panel_app)
    # Focus elsewhere (the tray's panel), then "Settings..." from the tray menu.
    [tray_window] = subprocess.run(["xdotool", "search", "--onlyvisible", "--class", "trayer"],
                                   env=panel_app.env, capture_output=True, text=True
                                   ).stdout.split()
    subprocess.run(["xdotool", "windowfocus", tray_window], env=panel_app.env, check=True)
    wait_until(lambda: focused_window(panel_app) == int(tray_window), what="the focus to move")
    tray_click(panel_app, 3, *SETTINGS_KEYS)
    wait_until(lambda: focused_window(panel_app) == window, what="the panel to take the focus")
    after = panel_status(panel_app)
    assert after["pid"] == first["pid"] and after["openings"] == 1
    assert [window] == [panel_window(panel_app)]
    names = list(descendants(panel_app.proc.pid).values())
    assert names.count("WebKitWebProcess") == 1

    def switched() -> bool:
        photograph(panel_app, window, tmp_path / "settings.png")
        return (tmp_path / "settings.png").read_bytes() != (tmp_path / "chat.png").read_bytes()
    wait_until(switched, timeout=10, what="the settings view")

    panel_app.client.update_settings({"assistantName": "Juniper Two"})
    assert wait_until(lambda: panel_window(panel_app, "Juniper Two"),
                      what="the title to follow the new name") == window


def test_closing_the_window_ends_its_process_and_the_next_open_starts_a_new_one(
        panel_app: RunningApp, tmp_path: Path) -> None:
    panel_app.client.show()  # what a second launch does
    window = wait_until(lambda: panel_window(panel_app), what="the panel window")
    wait_for_page(panel_app, window, tmp_path / "panel.png")
    first = panel_status(panel_app)
    helpers = descendants(first["pid"])
    assert set(helpers.values()) >= {*PANEL_PROCESSES}
    family = [first["pid"], *helpers]

    close_like_a_window_manager(panel_app.env["DISPLAY"], window)
    ended = wait_until(lambda: (s := panel_status(panel_app))["exitCode"] is not None and s,
                       what="the panel process to end")
    assert ended["open"] is False and ended["exitCode"] == 0
    wait_until(lambda: not any(alive(pid) for pid in family), what="WebKit's processes to end")
    assert panel_window(panel_app) is None

    panel_app.client.show()
    reopened = wait_until(lambda: (s := panel_status(panel_app))["loaded"] and s,
                          what="a new panel process")
    assert reopened["openings"] == 2 and reopened["pid"] != first["pid"]


def test_quit_with_the_panel_open_leaves_no_process_behind(panel_app: RunningApp,
                                                           tmp_path: Path) -> None:
    tray_click(panel_app, 1)
    window = wait_until(lambda: panel_window(panel_app), what="the panel window")
    wait_for_page(panel_app, window, tmp_path / "panel.png")
    family = descendants(panel_app.proc.pid)
    assert panel_status(panel_app)["pid"] in family
    tray_click(panel_app, 3, *QUIT_KEYS)
    out, err = panel_app.proc.communicate(timeout=30)
    assert panel_app.proc.returncode == 0, err
    assert f"{NAME} stopped." in out
    wait_until(lambda: not any(alive(pid) for pid in family), timeout=5,
               what=f"every child of the app to end: {family}")


def test_clicking_a_message_notification_opens_the_panel(
        clear_dunst: dict[str, str], home: Home, tmp_path: Path, fake: FakeAnthropic) -> None:
    write_settings(home, {"assistantName": NAME})
    fake.enqueue(tool_use("SendUserMessage", {"message": "The build is green",
                                              "status": "proactive"}))
    fake.on_empty = tool_use("Sleep", {"seconds": 3000})
    running = start_app(clear_dunst, home, tmp_path, fake)
    try:
        wait_until(lambda: dunstctl(clear_dunst, "count", "displayed") == "1",
                   what="the message notification")
        dunstctl(clear_dunst, "action", "0")
        window = wait_until(lambda: panel_window(running), what="the panel window")
        wait_for_page(running, window, tmp_path / "panel.png")
        [message] = running.client.messages()
        assert message["read"] is True
    finally:
        stop_app(running)


@pytest.fixture
def page_url(tmp_path: Path, desktop_session: dict[str, str], monkeypatch: pytest.MonkeyPatch
             ) -> Iterator[str]:
    """A static page on loopback, and this process on the test display (for a PanelWindow of
    its own, whose child inherits the environment)."""
    for name in ("DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "GDK_BACKEND", "NO_AT_BRIDGE"):
        monkeypatch.setenv(name, desktop_session[name])
    (tmp_path / "index.html").write_text("<!doctype html><title>t</title><h1>A page</h1>")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()


def test_close_ends_a_window_that_no_longer_answers(page_url: str) -> None:
    panel = PanelWindow()
    run = panel.open(page_url, title="Frozen")
    assert panel.wait_loaded(20) is not None
    assert run.pid is not None
    family = [run.pid, *descendants(run.pid)]
    os.kill(run.pid, signal.SIGSTOP)  # it cannot read the "close" command any more
    began = time.monotonic()
    try:
        assert panel.close(grace=0.5) == -signal.SIGKILL  # SIGTERM waits on a stopped process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(run.pid, signal.SIGKILL)
    assert time.monotonic() - began < 3
    assert not panel.is_open
    wait_until(lambda: not any(alive(pid) for pid in family), timeout=5,
               what="WebKit's processes to end with their parent")


# -- approvals in a notification -------------------------------------------------------------


@pytest.mark.parametrize("answer", ["Allow", "Deny"])
def test_an_approval_notification_offers_allow_and_deny_and_the_answer_decides(
        picking_dunst: dict[str, str], home: Home, tmp_path: Path, fake: FakeAnthropic,
        answer: str) -> None:
    write_settings(home, {"assistantName": NAME, "runCommandEnabled": True,
                          "approvalTimeoutSeconds": 60})
    fake.enqueue(tool_use("RunCommand", {"command": "echo panel-approval-test"}))
    fake.on_empty = tool_use("Sleep", {"seconds": 3000})
    running = start_app(picking_dunst, home, tmp_path, fake)
    try:
        wait_until(lambda: dunstctl(picking_dunst, "count", "displayed") == "1",
                   what="the approval notification")
        [pending] = running.client.request("GET", "/api/approvals")
        assert pending["command"] == "echo panel-approval-test"
        Path(picking_dunst["KAIROS_TEST_PICK"]).write_text(answer)
        dunstctl(picking_dunst, "context")
        reply = fake.wait_for_requests(2, timeout=15)
        assert ("panel-approval-test" in reply.last_user_text) is (answer == "Allow")
        text = "\n".join(path.read_text() for path in running.home.logs_dir.rglob("*.md"))
        decided = "allowed" if answer == "Allow" else "denied"
        assert f"{decided} by the user (notification)" in text
        assert running.client.request("GET", "/api/approvals") == []
    finally:
        stop_app(running)


def test_an_approval_answered_in_the_panel_takes_its_notification_down(
        clear_dunst: dict[str, str], home: Home, tmp_path: Path, fake: FakeAnthropic) -> None:
    write_settings(home, {"assistantName": NAME, "runCommandEnabled": True,
                          "approvalTimeoutSeconds": 60})
    fake.enqueue(tool_use("RunCommand", {"command": "echo panel-approval-test"}))
    fake.on_empty = tool_use("Sleep", {"seconds": 3000})
    running = start_app(clear_dunst, home, tmp_path, fake)
    try:
        wait_until(lambda: dunstctl(clear_dunst, "count", "displayed") == "1",
                   what="the approval notification")
        [pending] = running.client.request("GET", "/api/approvals")
        running.client.request("POST", f"/api/approvals/{pending['id']}", {"decision": "deny"})
        wait_until(lambda: dunstctl(clear_dunst, "count", "displayed") == "0",
                   what="the notification to be withdrawn")
        fake.wait_for_requests(2, timeout=15)
    finally:
        stop_app(running)
