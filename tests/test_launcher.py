"""The app in the desktop's menus: the launcher and the icons in the user's hicolor theme,
installed and removed as real files under a temp home (never the real ~/.local/share)."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kairos_desktop import launcher
from kairos_desktop.launcher import LauncherError

KAIROS = [sys.executable, "-m", "kairos_desktop.cli"]


def _entry(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(path.read_text(encoding="utf-8"))
    return dict(parser["Desktop Entry"])


def test_install_puts_every_size_of_every_icon_in_the_users_hicolor_theme(
        tmp_path: Path) -> None:
    report = launcher.install(command=["/opt/kairos/bin/kairos"], home_dir=tmp_path)
    hicolor = tmp_path / ".local" / "share" / "icons" / "hicolor"
    assert report.icons_dir == hicolor
    for size in (16, 22, 24, 32, 48, 64, 128, 256):
        apps = hicolor / f"{size}x{size}" / "apps"
        assert (apps / "kairos.png").is_file()
        for state in launcher.STATES:
            assert (apps / f"kairos-{state}.png").is_file()
    assert launcher.icons_installed(tmp_path)
    # The 22 px file is the asset drawn for 22 px, not a copy of a bigger one.
    assert (hicolor / "22x22" / "apps" / "kairos-paused.png").read_bytes() == (
        launcher.assets_dir() / "icons" / "kairos-paused-22.png").read_bytes()


def test_the_launcher_starts_the_app_by_its_icon_name(tmp_path: Path) -> None:
    launcher.install(command=["/opt/kairos/bin/kairos"], env_home="/data/kairos home",
                     home_dir=tmp_path)
    path = tmp_path / ".local" / "share" / "applications" / "kairos.desktop"
    entry = _entry(path)
    assert entry["Icon"] == "kairos" and entry["Type"] == "Application"
    assert entry["Exec"] == 'env "KAIROS_HOME=/data/kairos home" /opt/kairos/bin/kairos run'
    assert entry["StartupWMClass"] == "kairos"
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(["desktop-file-validate", str(path)], capture_output=True,
                               text=True)
        assert check.returncode == 0, check.stdout + check.stderr


def test_installing_again_rewrites_nothing(tmp_path: Path) -> None:
    launcher.install(command=["/usr/bin/kairos"], home_dir=tmp_path)
    again = launcher.install(command=["/usr/bin/kairos"], home_dir=tmp_path)
    assert again.icons_written == [] and again.launcher_changed is False


def test_a_launcher_kairos_did_not_write_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / ".local" / "share" / "applications" / "kairos.desktop"
    path.parent.mkdir(parents=True)
    path.write_text("[Desktop Entry]\nType=Application\nName=My own\nExec=/bin/true\n")
    with pytest.raises(LauncherError, match="not written by Kairos"):
        launcher.install(command=["/usr/bin/kairos"], home_dir=tmp_path)
    with pytest.raises(LauncherError, match="not written by Kairos"):
        launcher.remove(home_dir=tmp_path)
    assert "My own" in path.read_text()


def test_remove_takes_the_launcher_and_the_icons_away(tmp_path: Path) -> None:
    launcher.install(command=["/usr/bin/kairos"], home_dir=tmp_path)
    report = launcher.remove(home_dir=tmp_path)
    assert report.launcher_changed and len(report.icons_removed) == 8 * (1 + 7)
    assert not launcher.installed(tmp_path) and not launcher.icons_installed(tmp_path)
    assert not any(p.is_file() for p in (tmp_path / ".local").rglob("*"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a Linux desktop's menus")
def test_the_cli_installs_and_removes_the_launcher(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "KAIROS_HOME": str(tmp_path / "home")}
    done = subprocess.run([*KAIROS, "install-desktop"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and "applications menu" in done.stdout
    assert (tmp_path / "data" / "applications" / "kairos.desktop").is_file()
    # autostart on installs the launcher too: the entry's Icon=kairos then resolves.
    auto = subprocess.run([*KAIROS, "autostart", "on"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert auto.returncode == 0 and "launcher and icons" in auto.stdout
    undo = subprocess.run([*KAIROS, "install-desktop", "--remove"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert undo.returncode == 0 and "launcher removed" in undo.stdout
    assert not (tmp_path / "data" / "applications" / "kairos.desktop").exists()
    assert not list((tmp_path / "data" / "icons").rglob("*.png"))
