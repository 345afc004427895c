"""Start at login: the entry each desktop reads at login to start `kairos run`.

Why a file and not a service manager: every desktop already has a per-user, no-privilege place
whose files it runs at login, and a file there is easy to inspect, to remove by hand, and to
write atomically. One entry per platform:

- Linux: an XDG autostart file, `$XDG_CONFIG_HOME/autostart/kairos.desktop`, which GNOME, KDE,
  Xfce, Cinnamon, MATE and LXQt all honour.
- macOS: a launchd agent, `~/Library/LaunchAgents/app.kairos.desktop.plist`. launchd loads every
  agent in that folder at the next login, so `launchctl` is not needed for the entry to work;
  loading it at once (`launchctl bootstrap gui/<uid> <plist>`) is out of scope here.
- Windows: a `Kairos.cmd` in the user's Startup folder, which Explorer runs at login.

Every file we write carries a marker (`X-Kairos-Autostart=1`, the `KairosAutostart` key, a
`rem kairos-autostart` line). Invariant: `enable` and `disable` never replace or delete a file at
the target path that lacks the marker; they raise AutostartError naming it instead, so a
hand-made entry of the same name is never lost.

Headless core: stdlib only, no GUI import.
"""

from __future__ import annotations

import os
import plistlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from typing import Literal

from .atomic import atomic_write_text
from .errors import KairosError
from .home import HOME_ENV

Platform = Literal["linux", "darwin", "win32"]

SUPPORTED_PLATFORMS: tuple[Platform, ...] = ("linux", "darwin", "win32")
LAUNCHD_LABEL = "app.kairos.desktop"
DESKTOP_MARKER_KEY = "X-Kairos-Autostart"
PLIST_MARKER_KEY = "KairosAutostart"
CMD_MARKER = "rem kairos-autostart"


class AutostartError(KairosError):
    """The login entry cannot be written, read or removed; the message names the file."""


@dataclass(frozen=True)
class AutostartEntry:
    """What `enable` would write: the file and its exact text."""

    path: Path
    content: str


@dataclass(frozen=True)
class AutostartStatus:
    """What is on disk now.

    `enabled`: a file of ours is at `path`. `matches`: its bytes equal what `enable` would write
    now (False when not enabled, e.g. after the app moved to another venv: run enable again).
    `foreign`: a file that we did not write sits at `path`; enable and disable refuse to touch it.
    """

    enabled: bool
    path: Path
    matches: bool
    platform: Platform
    foreign: bool = False


# --- the public API -------------------------------------------------------------------------


def autostart_entry(
    platform: str | None = None,
    *,
    command: list[str] | None = None,
    home_dir: Path | None = None,
    env_home: str | None = None,
) -> AutostartEntry:
    """The entry that starts Kairos at login on `platform` (default: this one).

    `command` starts the app without its subcommand (default: the `kairos` script of this
    Python, else `python -m kairos_desktop.cli`); `run` is appended. `env_home` is the
    KAIROS_HOME the app must start with, when the user set one. `home_dir` is the user's home
    folder (default: the real one); passing it also makes the entry ignore XDG_CONFIG_HOME and
    APPDATA, so a test in a temp folder never touches the real config.
    """
    plat = normalize_platform(platform)
    if command is not None and not command:
        raise AutostartError("the command to start Kairos is empty; give the program to run")
    argv = [*(command if command is not None else default_command(plat)), "run"]
    home = _absolute_kairos_home(env_home, home_dir, plat) if env_home else None
    if plat == "linux":
        return AutostartEntry(_linux_path(home_dir), _desktop_content(argv, home))
    if plat == "darwin":
        return AutostartEntry(_macos_path(home_dir), _plist_content(argv, home, home_dir))
    return AutostartEntry(_windows_path(home_dir), _cmd_content(argv, home))


def enable(
    platform: str | None = None,
    *,
    command: list[str] | None = None,
    home_dir: Path | None = None,
    env_home: str | None = None,
) -> Path:
    """Write the login entry and return its path. Idempotent: an up-to-date entry is left as is,
    an outdated one of ours is replaced; a foreign file at the path raises AutostartError."""
    plat = normalize_platform(platform)
    entry = autostart_entry(plat, command=command, home_dir=home_dir, env_home=env_home)
    current = _read_existing(entry.path)
    if current is not None:
        if not _is_ours(plat, current):
            raise AutostartError(_foreign_message(entry.path, "will not overwrite it"))
        if current == entry.content.encode("utf-8"):
            return entry.path
    if plat == "darwin":
        # launchd does not create the folder of StandardOutPath/StandardErrorPath; without it
        # the agent fails to start at login.
        _macos_logs_dir(home_dir).mkdir(parents=True, exist_ok=True)
    try:
        atomic_write_text(entry.path, entry.content)
    except OSError as exc:
        raise AutostartError(
            f"cannot write the login entry {entry.path}: {exc.strerror or exc}; check that the "
            "folder is writable"
        ) from exc
    return entry.path


def disable(
    platform: str | None = None,
    *,
    command: list[str] | None = None,
    home_dir: Path | None = None,
    env_home: str | None = None,
) -> bool:
    """Remove our login entry. True if a file was removed, False if there was none; a foreign
    file at the path raises AutostartError and stays. `command` and `env_home` do not change
    the path; they are accepted so the CLI can pass the same arguments to all four calls."""
    plat = normalize_platform(platform)
    path = _entry_path(plat, home_dir)
    current = _read_existing(path)
    if current is None:
        return False
    if not _is_ours(plat, current):
        raise AutostartError(_foreign_message(path, "will not delete it"))
    try:
        path.unlink()
    except FileNotFoundError:
        return False  # removed by someone else meanwhile: the outcome is the same
    except OSError as exc:
        raise AutostartError(
            f"cannot remove the login entry {path}: {exc.strerror or exc}; remove it by hand"
        ) from exc
    return True


def status(
    platform: str | None = None,
    *,
    command: list[str] | None = None,
    home_dir: Path | None = None,
    env_home: str | None = None,
) -> AutostartStatus:
    """Whether our entry is there, and whether it is the one `enable` would write now."""
    plat = normalize_platform(platform)
    entry = autostart_entry(plat, command=command, home_dir=home_dir, env_home=env_home)
    current = _read_existing(entry.path)
    if current is None:
        return AutostartStatus(enabled=False, path=entry.path, matches=False, platform=plat)
    if not _is_ours(plat, current):
        return AutostartStatus(enabled=False, path=entry.path, matches=False, platform=plat,
                               foreign=True)
    return AutostartStatus(enabled=True, path=entry.path, platform=plat,
                           matches=current == entry.content.encode("utf-8"))


def normalize_platform(platform: str | None = None) -> Platform:
    """"linux" | "darwin" | "win32" from a `sys.platform`-like name (default: this machine)."""
    raw = sys.platform if platform is None else platform
    if raw.startswith("linux"):
        return "linux"
    if raw == "darwin":
        return "darwin"
    if raw == "win32":
        return "win32"
    raise AutostartError(
        f"start at login is not supported on {raw!r}; it works on Linux, macOS and Windows "
        "(add `kairos run` to your session's startup by hand)"
    )


def default_command(platform: str | None = None) -> list[str]:
    """How to start this install of Kairos, without the subcommand.

    The `kairos` console script next to this Python when it exists, else `python -m
    kairos_desktop.cli`. Invariant: the path is absolute but symlinks are NOT resolved: a venv's
    python is a symlink to the base interpreter, and resolving it would drop the venv.
    """
    plat = normalize_platform(platform)
    if not sys.executable:
        raise AutostartError(
            "cannot tell which Python runs Kairos (sys.executable is empty); give the command "
            "that starts Kairos explicitly"
        )
    python = Path(sys.executable).absolute()
    if plat == "win32":
        # A venv keeps python.exe and the scripts in Scripts\; a system install keeps python.exe
        # one level up from Scripts\.
        candidates = [python.parent / "kairos.exe", python.parent / "Scripts" / "kairos.exe"]
    else:
        candidates = [python.parent / "kairos"]
    for script in candidates:
        if script.is_file():
            return [str(script)]
    return [str(python), "-m", "kairos_desktop.cli"]


# --- where the entry lives ------------------------------------------------------------------


def _entry_path(plat: Platform, home_dir: Path | None) -> Path:
    if plat == "linux":
        return _linux_path(home_dir)
    if plat == "darwin":
        return _macos_path(home_dir)
    return _windows_path(home_dir)


def _linux_path(home_dir: Path | None) -> Path:
    # XDG Base Directory spec: XDG_CONFIG_HOME counts only when set to an absolute path. An
    # explicit home_dir wins over it, so tests never write into the real config.
    if home_dir is None:
        xdg = os.environ.get("XDG_CONFIG_HOME", "")
        config = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".config"
    else:
        config = Path(home_dir) / ".config"
    return config / "autostart" / "kairos.desktop"


def _macos_path(home_dir: Path | None) -> Path:
    home = Path.home() if home_dir is None else Path(home_dir)
    return home / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"


def _macos_logs_dir(home_dir: Path | None) -> Path:
    home = Path.home() if home_dir is None else Path(home_dir)
    return home / "Library" / "Logs" / "Kairos"


def _windows_path(home_dir: Path | None) -> Path:
    if home_dir is None:
        appdata = os.environ.get("APPDATA", "")
        roaming = Path(appdata) if appdata else Path.home() / "AppData" / "Roaming"
    else:
        roaming = Path(home_dir) / "AppData" / "Roaming"
    return roaming / "Microsoft" / "Windows" / "Start Menu" / "Programs" / "Startup" / "Kairos.cmd"


def _absolute_kairos_home(env_home: str, home_dir: Path | None, plat: Platform) -> str:
    # The entry runs at login from an unknown working folder and no shell expands `~` there, so
    # the home written into it is always absolute. Absoluteness is judged by the target
    # platform's rules (a `C:\...` home is absolute for Windows even when computed elsewhere).
    pure: type[PurePath] = PureWindowsPath if plat == "win32" else PurePosixPath
    if env_home == "~" or env_home.startswith(("~/", "~\\")):
        base = Path.home() if home_dir is None else Path(home_dir)
        return str(base / env_home[2:]) if len(env_home) > 1 else str(base)
    if env_home.startswith("~"):
        env_home = os.path.expanduser(env_home)  # `~user`
    if pure(env_home).is_absolute():
        return env_home
    return str(Path.cwd() / env_home)  # relative to where the CLI runs, as Home() reads it now


# --- reading what is there ------------------------------------------------------------------


def _read_existing(path: Path) -> bytes | None:
    """The bytes at `path`, or None when nothing is there."""
    if not path.exists() and not path.is_symlink():
        return None
    if not path.is_file():
        raise AutostartError(
            f"{path} exists but is not a regular file; Kairos will not touch it. Move it away "
            "if you want Kairos to manage starting at login"
        )
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AutostartError(
            f"cannot read {path}: {exc.strerror or exc}; check its permissions"
        ) from exc


def _is_ours(plat: Platform, data: bytes) -> bool:
    if plat == "darwin":
        try:
            loaded = plistlib.loads(data)
        except Exception:  # any unreadable plist is someone else's file
            return False
        return isinstance(loaded, dict) and loaded.get(PLIST_MARKER_KEY) is True
    lines = [line.strip() for line in data.decode("utf-8", errors="replace").splitlines()]
    if plat == "linux":
        return f"{DESKTOP_MARKER_KEY}=1" in lines
    return any(line.lower().startswith(CMD_MARKER) for line in lines)


def _foreign_message(path: Path, refusal: str) -> str:
    return (
        f"{path} was not written by Kairos (it has no Kairos marker), so Kairos {refusal}. "
        "Remove or rename that file yourself if it should go, then run "
        "`kairos autostart on|off` again"
    )


# --- Linux: XDG autostart desktop entry -----------------------------------------------------

# Desktop Entry spec, "The Exec key": an argument with any of these characters must be quoted.
# `\r` is added: it is not listed, but it is not a separator either, so it is kept inside quotes.
_DESKTOP_RESERVED = frozenset(" \t\n\r\"'\\><~|&;$*?#()`")
# Inside double quotes these four must be escaped with a backslash.
_DESKTOP_QUOTE_ESCAPED = frozenset('"`$\\')


def desktop_exec_quote(arg: str) -> str:
    """One argument as it must appear in an Exec value.

    Three layers, in the order a reader undoes them from the outside in: the string-type escapes
    (`\\\\`, `\\n`, `\\t`, `\\r`) are undone first, then the double-quote rules, then `%%` is a
    literal `%`. So a literal backslash in a quoted argument is four backslashes, and `$` is
    `\\\\$` (the spec's own examples).
    """
    _check_text(arg, "a command argument")
    if arg and not any(ch in _DESKTOP_RESERVED for ch in arg):
        quoted = arg
    else:
        inner = "".join(f"\\{ch}" if ch in _DESKTOP_QUOTE_ESCAPED else ch for ch in arg)
        quoted = f'"{inner}"'
    escaped = (quoted.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")
               .replace("\r", "\\r"))
    return escaped.replace("%", "%%")  # `%` starts a field code; `%%` is a literal one


def _desktop_content(argv: list[str], kairos_home: str | None) -> str:
    if kairos_home is not None:
        # `env` sets the variable and then runs the app: Exec has no shell to do `VAR=x cmd`.
        argv = ["env", f"{HOME_ENV}={kairos_home}", *argv]
    exec_line = " ".join(desktop_exec_quote(arg) for arg in argv)
    lines = [
        "# Written by `kairos autostart on`; `kairos autostart off` removes it.",
        "[Desktop Entry]",
        "Type=Application",
        "Name=Kairos",
        "Comment=Start the Kairos assistant at login",
        f"Exec={exec_line}",
        "Icon=kairos",
        "Terminal=false",
        "NoDisplay=false",
        "X-GNOME-Autostart-enabled=true",
        # Seconds to wait after login so the tray/panel is up before the app adds its icon.
        "X-GNOME-Autostart-Delay=5",
        f"{DESKTOP_MARKER_KEY}=1",
    ]
    return "\n".join(lines) + "\n"


# --- macOS: launchd agent -------------------------------------------------------------------


def _plist_content(argv: list[str], kairos_home: str | None, home_dir: Path | None) -> str:
    for arg in argv:
        _check_text(arg, "a command argument")
    logs = _macos_logs_dir(home_dir)
    agent: dict[str, object] = {
        "Label": LAUNCHD_LABEL,
        "ProgramArguments": argv,
        "RunAtLoad": True,
        # The user quits the app from its menu; launchd must not start it again.
        "KeepAlive": False,
        "ProcessType": "Interactive",
        "StandardOutPath": str(logs / "kairos.out.log"),
        "StandardErrorPath": str(logs / "kairos.err.log"),
        PLIST_MARKER_KEY: True,  # launchd ignores keys it does not know
    }
    if kairos_home is not None:
        agent["EnvironmentVariables"] = {HOME_ENV: kairos_home}
    try:
        # sort_keys (the default) makes the bytes depend on the content only, so `status` can
        # compare them exactly.
        return plistlib.dumps(agent, fmt=plistlib.FMT_XML).decode("utf-8")
    except (ValueError, TypeError) as exc:
        raise AutostartError(f"cannot write the launchd agent: {exc}") from exc


# --- Windows: Startup folder ----------------------------------------------------------------

# Why a .cmd and not a .vbs that runs the command hidden: VBScript is deprecated and being
# removed from Windows, and security tools often flag a .vbs in the Startup folder. A .cmd
# works on every Windows; its console window only flashes while `start` hands over, and
# `start /min` keeps the app's own console minimised.

_CMD_BARE = re.compile(r"[A-Za-z0-9_\-.:\\/=+,@]+")


def cmd_quote(arg: str) -> str:
    """One argument for a batch file line: double-quoted unless plainly safe, `%` doubled.

    Inside double quotes cmd treats `& | < > ( ) ^` literally; `%` is still expanded in a batch
    file, hence `%%`. A `"` inside an argument has no reliable escape in cmd, so it is refused
    (Windows paths cannot contain one anyway).
    """
    _check_cmd_text(arg)
    if arg and _CMD_BARE.fullmatch(arg):
        quoted = arg
    else:
        # Backslashes right before the closing quote would escape it for the program's argument
        # parser (CommandLineToArgvW rules), so they are doubled.
        stripped = arg.rstrip("\\")
        quoted = f'"{stripped}{(len(arg) - len(stripped)) * 2 * chr(92)}"'
    return quoted.replace("%", "%%")


def _check_cmd_text(text: str) -> None:
    _check_text(text, "a command argument")
    if '"' in text or any(ch in text for ch in "\r\n\t"):
        raise AutostartError(
            f"{text!r} contains a double quote or a line break, which a Windows startup script "
            "cannot carry; use a path without them"
        )


def _cmd_content(argv: list[str], kairos_home: str | None) -> str:
    lines = ["@echo off", f"{CMD_MARKER}: written by `kairos autostart on`; "
             "`kairos autostart off` removes it."]
    body: list[str] = []
    if kairos_home is not None:
        # In the quoted `set "VAR=value"` form everything but `%` is literal.
        _check_cmd_text(kairos_home)
        body.append(f'set "{HOME_ENV}={kairos_home.replace("%", "%%")}"')
    # `start` takes its first quoted argument as a window title, hence the empty "".
    body.append('start "" /min ' + " ".join(cmd_quote(arg) for arg in argv))
    if any(ord(ch) > 127 for line in body for ch in line):
        # cmd reads a batch file in the console code page; switch to UTF-8 before the lines
        # that need it so a non-ASCII path survives.
        lines.append("chcp 65001 >nul")
    # Batch files want CRLF: with bare LF, cmd can misparse labels and long lines.
    return "\r\n".join([*lines, *body]) + "\r\n"


def _check_text(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise AutostartError(
            f"{what} ({text!r}) is not valid Unicode text and cannot be written into a login "
            "entry; use a path with plain characters"
        ) from None
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in text) or "\x7f" in text:
        raise AutostartError(
            f"{what} ({text!r}) contains a control character and cannot be written into a "
            "login entry"
        )
