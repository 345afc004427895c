"""The tray as a person meets it on each kind of desktop, for real: the app asks the session
which tray it offers. Ubuntu / GNOME with the AppIndicator extension, KDE: a
StatusNotifierWatcher on the bus (here sni_watcher.py, written against the spec), read as a
host reads it, through the item's properties and com.canonical.dbusmenu. No tray at all: the
app says so and shows its panel window instead."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kairos_desktop.home import Home
from tests.conftest import write_settings
from tests.desktop.sni_client import (
    click,
    item_properties,
    menu_layout,
    registered_items,
    watcher_record,
)
from tests.desktop.test_tray_app import KAIROS, RunningApp, start_app, stop_app
from tests.fakes.anthropic_server import FakeAnthropic, tool_use, tool_uses
from tests.waiting import wait_until


def registered(status: dict) -> bool:
    return bool(status.get("tray", {}).get("registered"))


def only_item(env: dict[str, str]) -> str:
    [item] = wait_until(lambda: registered_items(env), what="the item to register")
    return item


def registrations(env: dict[str, str]) -> list[dict]:
    return [e for e in watcher_record(env) if e["event"] == "register"]


@pytest.fixture
def sni_app(sni_session: dict[str, str], home: Home, tmp_path: Path,
            fake: FakeAnthropic) -> RunningApp:
    fake.on_empty = tool_use("Sleep", {"seconds": 3000})
    running = start_app(sni_session, home, tmp_path, fake, until=registered)
    yield running
    stop_app(running)


def test_on_a_statusnotifier_desktop_the_item_registers_with_a_tooltip_and_a_named_icon(
        sni_app: RunningApp, fake: FakeAnthropic) -> None:
    fake.wait_for_requests(1)
    wait_until(lambda: sni_app.status()["state"] == "sleeping", what="the first sleep")
    item = only_item(sni_app.env)
    tray = sni_app.status()["tray"]
    assert tray["backend"] == "appindicator" and tray["host"] == "sni"
    props = wait_until(lambda: (p := item_properties(sni_app.env, item))["ToolTip"][3]
                       .startswith("next wake") and p, what="the tooltip's next wake")
    assert props["Id"] == "kairos" and props["Title"] == "Kairos"
    assert props["ToolTip"][2] == "Kairos: sleeping"
    assert props["Status"] == "Active" and props["Menu"] == "/MenuBar"
    # Every tray size is drawn for its size (not one image scaled), ARGB32, w * h * 4 bytes.
    sizes = [(w, h, len(data)) for w, h, data in props["IconPixmap"]]
    assert [(w, h) for w, h, _ in sizes] == [(16, 16), (22, 22), (24, 24), (32, 32), (48, 48),
                                             (64, 64)]
    assert all(n == w * h * 4 for w, h, n in sizes)


def test_the_menu_is_read_over_dbusmenu_and_quit_stops_the_app(
        sni_app: RunningApp, fake: FakeAnthropic) -> None:
    fake.wait_for_requests(1)
    item = only_item(sni_app.env)
    _revision, root = menu_layout(sni_app.env, item)
    assert root.labels() == ["Open Kairos", "Inbox", "Wake now", "Pause", "Dream now",
                             "Settings...", "---", "Quit"]
    assert root.find("Pause").props["toggle-type"] == "checkmark"
    click(sni_app.env, item, root.find("Quit"))
    out, _err = sni_app.proc.communicate(timeout=20)
    assert sni_app.proc.returncode == 0 and "stopped." in out


def test_state_changes_update_the_item_in_place_without_registering_again(
        sni_app: RunningApp, fake: FakeAnthropic) -> None:
    fake.wait_for_requests(1)
    wait_until(lambda: sni_app.status()["state"] == "sleeping", what="the first sleep")
    item = only_item(sni_app.env)
    revision, root = menu_layout(sni_app.env, item)
    pause = root.find("Pause")
    click(sni_app.env, item, pause)
    wait_until(lambda: menu_layout(sni_app.env, item)[1].find("Pause").props["toggle-state"]
               == 1, what="the Pause check mark")
    props = item_properties(sni_app.env, item)
    assert props["ToolTip"][2] == "Kairos: paused"
    click(sni_app.env, item, pause)  # resume
    wait_until(lambda: item_properties(sni_app.env, item)["ToolTip"][2] == "Kairos: sleeping",
               what="the tooltip back to sleeping")
    click(sni_app.env, item, root.find("Wake now"))
    fake.wait_for_requests(2)
    wait_until(lambda: item_properties(sni_app.env, item)["ToolTip"][2] == "Kairos: sleeping",
               what="asleep again")
    # One registration for the app's whole life; the changes went as signals, the menu's
    # lines were updated in place (same ids, same layout revision).
    assert len(registrations(sni_app.env)) == 1
    signals = {e["member"] for e in watcher_record(sni_app.env) if e["event"] == "signal"}
    assert {"NewIcon", "NewToolTip", "ItemsPropertiesUpdated"} <= signals
    after_revision, after = menu_layout(sni_app.env, item)
    assert after.find("Pause").id == pause.id and after_revision == revision


def test_the_inbox_submenu_lists_delivered_files_and_the_name_follows_a_rename(
        sni_session: dict[str, str], home: Home, tmp_path: Path, fake: FakeAnthropic) -> None:
    fake.enqueue(tool_uses(("WriteFile", {"path": "report.md", "content": "# Report\n"}),
                           ("SendUserFile", {"path": "report.md", "title": "Weekly report"})))
    fake.on_empty = tool_use("Sleep", {"seconds": 3000})
    running = start_app(sni_session, home, tmp_path, fake, until=registered)
    try:
        item = only_item(sni_session)
        inbox = wait_until(lambda: (menu := menu_layout(sni_session, item)[1].find("Inbox"))
                           .labels()[0] != "No files yet" and menu, what="the file in the menu")
        assert inbox.labels() == ["• Weekly report", "---", "Open inbox folder"]
        click(sni_session, item, inbox.find("• Weekly report"))
        [opened] = wait_until(running.opened_paths, what="the file to be opened")
        assert opened == str(tmp_path / "inbox" / "report.md")
        wait_until(lambda: menu_layout(sni_session, item)[1].find("Inbox").labels()[0]
                   == "Weekly report", what="the file shown as read")
        running.client.update_settings({"assistantName": "Ava"})
        wait_until(lambda: menu_layout(sni_session, item)[1].labels()[0] == "Open Ava",
                   what="the menu to follow the rename")
        props = item_properties(sni_session, item)
        assert props["Title"] == "Ava" and props["ToolTip"][2].startswith("Ava: ")
    finally:
        stop_app(running)


def test_with_the_icons_installed_the_item_names_its_icon_from_the_users_theme(
        sni_session: dict[str, str], home: Home, tmp_path: Path, fake: FakeAnthropic) -> None:
    data = tmp_path / "data"
    env = {**sni_session, "XDG_DATA_HOME": str(data)}
    subprocess.run([*KAIROS, "install-desktop"], env=env, check=True, capture_output=True,
                   timeout=60)
    fake.on_empty = tool_use("Sleep", {"seconds": 3000})
    running = start_app(env, home, tmp_path, fake, until=registered)
    try:
        fake.wait_for_requests(1)
        wait_until(lambda: running.status()["state"] == "sleeping", what="the first sleep")
        props = item_properties(env, only_item(env))
        assert props["IconThemePath"] == str(data / "icons")
        assert props["IconName"] == "kairos-sleeping"
        for size in (16, 22, 24):
            assert (data / "icons" / "hicolor" / f"{size}x{size}" / "apps"
                    / f"{props['IconName']}.png").is_file()
    finally:
        stop_app(running)


def test_a_watcher_that_starts_late_gets_the_item(
        no_tray_session: dict[str, str], home: Home, tmp_path: Path,
        fake: FakeAnthropic) -> None:
    """Login races: the app started before the shell's tray; the icon appears once it does."""
    fake.on_empty = tool_use("Sleep", {"seconds": 3000})
    running = start_app(no_tray_session, home, tmp_path, fake,
                        until=lambda s: s.get("tray", {}).get("backend") == "none")
    record = tmp_path / "late-watcher.jsonl"
    watcher = subprocess.Popen([sys.executable, "-m", "tests.desktop.sni_watcher", str(record)],
                               env=no_tray_session, stdout=subprocess.PIPE, text=True,
                               cwd=Path(__file__).resolve().parents[2])
    try:
        wait_until(lambda: registered(running.status()), what="registration with the late tray")
        assert running.status()["tray"]["backend"] == "appindicator"
    finally:
        stop_app(running)
        watcher.terminate()
        watcher.wait(5)


def test_with_no_tray_at_all_it_says_so_and_shows_the_panel_window(
        no_tray_session: dict[str, str], home: Home, tmp_path: Path,
        fake: FakeAnthropic) -> None:
    fake.on_empty = tool_use("Sleep", {"seconds": 3000})
    write_settings(home, {"assistantName": "Juniper"})
    running = start_app(no_tray_session, home, tmp_path, fake,
                        until=lambda s: s.get("tray", {}).get("backend") == "none")
    try:
        tray = running.status()["tray"]
        assert tray["embedded"] is False and tray["host"] == "none"
        assert "no system tray" in tray["hostDetail"]
        wait_until(lambda: running.status()["panel"]["open"], what="the panel window")
        status = subprocess.run([*KAIROS, "status"], env=running.env, capture_output=True,
                                text=True, timeout=30)
        assert "no system tray" in status.stdout
    finally:
        out, err = stop_app(running)
    assert "no system tray in this session" in err
    assert "Juniper is running without a tray icon" in out
    log = "".join(p.read_text() for p in (home.root / "memory" / "logs").rglob("*.md"))
    assert "no system tray" in log


def test_doctor_names_the_tray_each_session_offers(
        clear_dunst: dict[str, str], sni_session: dict[str, str], home: Home) -> None:
    def doctor(env: dict[str, str]) -> dict:
        started = time.monotonic()
        result = subprocess.run([*KAIROS, "--home", str(home.root), "doctor", "--json"],
                                env=env, capture_output=True, text=True, timeout=60)
        assert time.monotonic() - started < 30
        return json.loads(result.stdout)["tray"]

    xembed = doctor(clear_dunst)
    assert xembed["host"] == "xembed" and xembed["backend"] == "gtk" and xembed["ok"] is True
    sni = doctor(sni_session)
    assert sni["host"] == "sni" and sni["backend"] == "appindicator" and sni["ok"] is True
    bare = {k: v for k, v in sni_session.items() if k != "KAIROS_TEST_SNI_RECORD"}
    bare["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=/nonexistent"
    none = doctor(bare)
    assert none["host"] == "none" and none["ok"] is False
    assert "no system tray" in none["why"]
