"""The app in the desktop's menus: its icons in the user's icon theme and a launcher file.

Why the icon theme: a launcher (`Icon=kairos`), the autostart entry and the tray item name their
icon, and a desktop finds a name only in an icon theme. The freedesktop place for a user's own
icons is `$XDG_DATA_HOME/icons/hicolor/<size>x<size>/apps/` (hicolor is the theme every other
theme falls back to), so the app's mark goes there as `kairos.png`, and each tray state as
`kairos-<state>.png`, at every size drawn (16 to 256 px): a panel picks the one made for its
size. The launcher goes to `$XDG_DATA_HOME/applications/kairos.desktop`, where menus, docks and
search look.

`install()` (`kairos install-desktop`, and `kairos autostart on`) writes both; `remove()`
(`kairos install-desktop --remove`) takes them away again. Like autostart.py, a launcher file
without our marker (`X-Kairos-Launcher=1`) is never replaced or deleted. Files whose bytes would
not change are not rewritten. Linux only (macOS and Windows take their icon from the app bundle).

Headless core: stdlib only, no GUI import.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from .atomic import atomic_write_bytes, atomic_write_text
from .autostart import AutostartError, default_command, desktop_exec_quote
from .home import HOME_ENV
from .paths import shipped_dir

STATES = ("sleeping", "working", "dreaming", "paused", "attention", "offline", "error")
STATE_SIZES = (16, 22, 24, 32, 48, 64, 128, 256)
APP_SIZES = (16, 22, 24, 32, 48, 64, 128, 256)
ICON_NAME = "kairos"
LAUNCHER_MARKER_KEY = "X-Kairos-Launcher"


class LauncherError(AutostartError):
    """The launcher or the icons cannot be written or removed; the message names the file."""


@dataclass
class InstallReport:
    """What install() or remove() did, for the CLI to say."""

    launcher: Path
    icons_dir: Path
    launcher_changed: bool = False
    icons_written: list[Path] = field(default_factory=list)
    icons_removed: list[Path] = field(default_factory=list)


def assets_dir() -> Path | None:
    """The shipped assets (icons per state and size): $KAIROS_ASSETS, a bundle's, the checkout's."""
    return shipped_dir("assets", env="KAIROS_ASSETS", marker="icons")


def data_home(home_dir: Path | None = None) -> Path:
    """$XDG_DATA_HOME when set to an absolute path, else ~/.local/share. An explicit `home_dir`
    (tests) wins over both."""
    if home_dir is not None:
        return Path(home_dir) / ".local" / "share"
    xdg = os.environ.get("XDG_DATA_HOME", "")
    return Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "share"


def icon_theme_dir(home_dir: Path | None = None) -> Path:
    """The user's icon folder (holding hicolor/): a StatusNotifierItem's IconThemePath."""
    return data_home(home_dir) / "icons"


def launcher_path(home_dir: Path | None = None) -> Path:
    return data_home(home_dir) / "applications" / f"{ICON_NAME}.desktop"


def _icon_files(home_dir: Path | None) -> dict[Path, Path | None]:
    """Every icon file we install -> its source in the assets (None when the assets lack it)."""
    assets = assets_dir()
    hicolor = icon_theme_dir(home_dir) / "hicolor"
    files: dict[Path, Path | None] = {}

    def source(name: str) -> Path | None:
        path = assets / "icons" / name if assets is not None else None
        return path if path is not None and path.exists() else None

    for size in APP_SIZES:
        files[hicolor / f"{size}x{size}" / "apps" / f"{ICON_NAME}.png"] = source(
            f"kairos-{size}.png")
    for state in STATES:
        for size in STATE_SIZES:
            files[hicolor / f"{size}x{size}" / "apps" / f"{ICON_NAME}-{state}.png"] = source(
                f"kairos-{state}-{size}.png")
    return files


def icons_installed(home_dir: Path | None = None) -> bool:
    """Whether the tray's state icons can be found by name (every state at every tray size)."""
    hicolor = icon_theme_dir(home_dir) / "hicolor"
    return all((hicolor / f"{size}x{size}" / "apps" / f"{ICON_NAME}-{state}.png").is_file()
               for state in STATES for size in (16, 22, 24))


def install_icons(home_dir: Path | None = None) -> list[Path]:
    """Copy the icons into the user's hicolor theme; the files written (unchanged ones are
    left as they are)."""
    written: list[Path] = []
    for target, source in _icon_files(home_dir).items():
        if source is None:
            continue
        data = source.read_bytes()
        with contextlib.suppress(OSError):
            if target.read_bytes() == data:
                continue
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(target, data, mode=0o644, sync_dir=False)
        except OSError as exc:
            raise LauncherError(f"cannot write the icon {target}: {exc.strerror or exc}; "
                                "check that the folder is writable") from exc
        written.append(target)
    return written


def remove_icons(home_dir: Path | None = None) -> list[Path]:
    removed: list[Path] = []
    for target in _icon_files(home_dir):
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
            removed.append(target)
    return removed


def launcher_content(command: list[str] | None = None, env_home: str | None = None) -> str:
    argv = [*(command if command is not None else default_command()), "run"]
    if env_home:
        argv = ["env", f"{HOME_ENV}={env_home}", *argv]
    lines = [
        "# Written by `kairos install-desktop`; `kairos install-desktop --remove` removes it.",
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.0",
        "Name=Kairos",
        "GenericName=AI Assistant",
        "Comment=An always-on personal AI assistant that lives in the system tray",
        f"Exec={' '.join(desktop_exec_quote(arg) for arg in argv)}",
        f"Icon={ICON_NAME}",
        "Terminal=false",
        "Categories=Utility;",
        "Keywords=assistant;AI;Claude;reminders;notes;",
        "StartupNotify=false",
        f"StartupWMClass={ICON_NAME}",  # the panel window's class: grouped under this launcher
        f"{LAUNCHER_MARKER_KEY}=1",
    ]
    return "\n".join(lines) + "\n"


def _ours(data: bytes) -> bool:
    lines = [line.strip() for line in data.decode("utf-8", errors="replace").splitlines()]
    return f"{LAUNCHER_MARKER_KEY}=1" in lines


def install(*, command: list[str] | None = None, env_home: str | None = None,
            home_dir: Path | None = None) -> InstallReport:
    """The icons and the launcher; a launcher file we did not write stays and raises."""
    path = launcher_path(home_dir)
    report = InstallReport(launcher=path, icons_dir=icon_theme_dir(home_dir) / "hicolor")
    report.icons_written = install_icons(home_dir)
    content = launcher_content(command, env_home)
    current = path.read_bytes() if path.is_file() else None
    if current is not None and not _ours(current):
        raise LauncherError(f"{path} was not written by Kairos (it has no Kairos marker), so "
                            "Kairos will not overwrite it; remove or rename it yourself, then "
                            "run `kairos install-desktop` again")
    if current != content.encode("utf-8"):
        try:
            atomic_write_text(path, content, mode=0o644)
        except OSError as exc:
            raise LauncherError(f"cannot write the launcher {path}: {exc.strerror or exc}; "
                                "check that the folder is writable") from exc
        report.launcher_changed = True
    return report


def remove(*, home_dir: Path | None = None) -> InstallReport:
    """Take the launcher (when ours) and the icons away."""
    path = launcher_path(home_dir)
    report = InstallReport(launcher=path, icons_dir=icon_theme_dir(home_dir) / "hicolor")
    if path.is_file():
        if not _ours(path.read_bytes()):
            raise LauncherError(f"{path} was not written by Kairos (it has no Kairos marker), "
                                "so Kairos will not delete it")
        path.unlink()
        report.launcher_changed = True
    report.icons_removed = remove_icons(home_dir)
    return report


def installed(home_dir: Path | None = None) -> bool:
    path = launcher_path(home_dir)
    return path.is_file() and _ours(path.read_bytes())
