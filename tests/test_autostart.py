"""Start at login: the entry each platform reads, written as real files under a temp home.

Every test passes `home_dir=tmp_path`, so nothing touches the real config, LaunchAgents or
Startup folders. The Linux entry is read back the way a desktop reads it (Desktop Entry spec
unescaping, then shell-like quoting) and, when the tool is installed, checked by
desktop-file-validate.
"""

from __future__ import annotations

import configparser
import json
import os
import plistlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kairos_desktop.autostart import (
    AutostartError,
    autostart_entry,
    default_command,
    disable,
    enable,
    normalize_platform,
    status,
)
from kairos_desktop.errors import KairosError

# A command whose program path has a space and a `$`, and an argument with every character the
# Exec quoting rules treat specially.
ODD_COMMAND = ["/opt/my apps/kai$ros", 'a "b" `c` $d \\e %f\tg']


def _read_desktop(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",),
                                       comment_prefixes=("#",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(path.read_text(encoding="utf-8"))
    assert parser.sections() == ["Desktop Entry"]
    return dict(parser["Desktop Entry"])


def _exec_argv(exec_value: str) -> list[str]:
    """Undo an Exec value as the Desktop Entry spec says: string escapes, then quoting, then %%.

    Written out here rather than with shlex, whose POSIX mode keeps the backslash of `\\$` and
    `` \\` `` inside double quotes, unlike the spec (and a shell)."""
    unescaped: list[str] = []
    chars = iter(exec_value)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars)
            assert nxt in "sntr\\", f"\\{nxt} is not a string escape of the spec"
            unescaped.append({"s": " ", "n": "\n", "t": "\t", "r": "\r"}.get(nxt, nxt))
        else:
            unescaped.append(ch)
    args: list[str] = []
    current: list[str] = []
    in_arg = False  # an empty quoted argument ("") is still an argument
    quoted = False
    chars = iter("".join(unescaped))
    for ch in chars:
        if quoted:
            if ch == '"':
                quoted = False
            elif ch == "\\":
                nxt = next(chars)
                assert nxt in '"`$\\', f"{nxt!r} may not be escaped inside quotes"
                current.append(nxt)
            else:
                current.append(ch)
        elif ch in " \t\n":
            if in_arg:
                args.append("".join(current))
                current, in_arg = [], False
        else:
            in_arg = True
            if ch == '"':
                quoted = True
            else:
                assert ch not in "\\$`'\"<>~|&;*?#()", f"reserved {ch!r} outside quotes"
                current.append(ch)
    assert not quoted, "unterminated quote"
    if in_arg:
        args.append("".join(current))
    return [arg.replace("%%", "%") for arg in args]


# --- Linux -----------------------------------------------------------------------------------


def test_linux_enable_writes_a_desktop_entry_whose_exec_round_trips(tmp_path: Path) -> None:
    path = enable("linux", command=ODD_COMMAND, home_dir=tmp_path)

    assert path == tmp_path / ".config" / "autostart" / "kairos.desktop"
    keys = _read_desktop(path)
    assert keys["Type"] == "Application"
    assert keys["Name"] == "Kairos"
    assert keys["Comment"]
    assert keys["Icon"] == "kairos"
    assert keys["Terminal"] == "false"
    assert keys["NoDisplay"] == "false"
    assert keys["X-GNOME-Autostart-enabled"] == "true"
    assert keys["X-GNOME-Autostart-Delay"] == "5"
    assert keys["X-Kairos-Autostart"] == "1"
    assert _exec_argv(keys["Exec"]) == [*ODD_COMMAND, "run"]


def test_linux_status_enable_twice_and_disable(tmp_path: Path) -> None:
    before = status("linux", command=ODD_COMMAND, home_dir=tmp_path)
    assert (before.enabled, before.matches, before.foreign) == (False, False, False)
    assert before.platform == "linux"
    assert disable("linux", home_dir=tmp_path) is False  # nothing to remove

    path = enable("linux", command=ODD_COMMAND, home_dir=tmp_path)
    first = path.stat()
    now = status("linux", command=ODD_COMMAND, home_dir=tmp_path)
    assert (now.enabled, now.matches, now.path) == (True, True, path)

    assert enable("linux", command=ODD_COMMAND, home_dir=tmp_path) == path
    # Idempotent: an up-to-date entry is not even rewritten (same inode, same bytes).
    assert path.stat().st_ino == first.st_ino
    assert path.read_text() == autostart_entry("linux", command=ODD_COMMAND,
                                               home_dir=tmp_path).content

    moved = status("linux", command=["/elsewhere/kairos"], home_dir=tmp_path)
    assert (moved.enabled, moved.matches) == (True, False)  # e.g. the venv moved: enable again
    enable("linux", command=["/elsewhere/kairos"], home_dir=tmp_path)
    assert _exec_argv(_read_desktop(path)["Exec"]) == ["/elsewhere/kairos", "run"]

    assert disable("linux", home_dir=tmp_path) is True
    assert not path.exists()
    assert status("linux", home_dir=tmp_path).enabled is False


def test_linux_foreign_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / ".config" / "autostart" / "kairos.desktop"
    path.parent.mkdir(parents=True)
    foreign = "[Desktop Entry]\nType=Application\nName=Kairos (mine)\nExec=/usr/bin/kairos\n"
    path.write_text(foreign)

    with pytest.raises(AutostartError, match=r"kairos\.desktop was not written by Kairos"):
        enable("linux", command=["/x/kairos"], home_dir=tmp_path)
    with pytest.raises(AutostartError, match=r"will not delete it"):
        disable("linux", home_dir=tmp_path)
    foreign_status = status("linux", command=["/x/kairos"], home_dir=tmp_path)
    assert (foreign_status.enabled, foreign_status.matches, foreign_status.foreign) == (
        False, False, True)
    assert path.read_text() == foreign
    assert issubclass(AutostartError, KairosError)


def test_linux_kairos_home_is_carried_and_made_absolute(tmp_path: Path) -> None:
    home = tmp_path / "kairos home $1"
    path = enable("linux", command=["/x/kairos"], home_dir=tmp_path, env_home=str(home))
    assert _exec_argv(_read_desktop(path)["Exec"]) == [
        "env", f"KAIROS_HOME={home}", "/x/kairos", "run"]
    assert status("linux", command=["/x/kairos"], home_dir=tmp_path,
                  env_home=str(home)).matches is True
    assert status("linux", command=["/x/kairos"], home_dir=tmp_path).matches is False

    tilde = autostart_entry("linux", command=["/x/kairos"], home_dir=tmp_path, env_home="~/kh")
    exec_args = _exec_argv(tilde.content.split("Exec=", 1)[1].splitlines()[0])
    assert exec_args[1] == f"KAIROS_HOME={tmp_path / 'kh'}"


def test_linux_entry_really_starts_the_command_with_its_home(tmp_path: Path) -> None:
    # Run the Exec line's argv as a launcher would: a fake `kairos` in a folder with a space and
    # a `$` records the arguments and KAIROS_HOME it got.
    bin_dir = tmp_path / "my bin $dir"
    bin_dir.mkdir()
    record = tmp_path / "record.json"
    fake = bin_dir / "kairos"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"open({str(record)!r}, 'w').write("
        "json.dumps([sys.argv[1:], os.environ.get('KAIROS_HOME')]))\n"
    )
    fake.chmod(0o755)
    home = tmp_path / "a home"
    path = enable("linux", command=[str(fake)], home_dir=tmp_path, env_home=str(home))

    subprocess.run(_exec_argv(_read_desktop(path)["Exec"]), check=True, timeout=30)
    assert json.loads(record.read_text()) == [["run"], str(home)]


def test_linux_entry_passes_desktop_file_validate(tmp_path: Path) -> None:
    if shutil.which("desktop-file-validate") is None:
        pytest.skip("desktop-file-validate is not installed")
    path = enable("linux", command=ODD_COMMAND, home_dir=tmp_path, env_home=str(tmp_path / "k"))
    result = subprocess.run(["desktop-file-validate", str(path)], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in (result.stdout + result.stderr).lower()


def test_xdg_config_home_counts_only_without_an_explicit_home(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    implicit = autostart_entry("linux", command=["/x/kairos"])
    assert implicit.path == tmp_path / "xdg" / "autostart" / "kairos.desktop"
    explicit = autostart_entry("linux", command=["/x/kairos"], home_dir=tmp_path / "h")
    assert explicit.path == tmp_path / "h" / ".config" / "autostart" / "kairos.desktop"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/not/allowed")  # the spec says: ignore it
    assert autostart_entry("linux", command=["/x"]).path == (
        Path.home() / ".config" / "autostart" / "kairos.desktop")


# --- macOS -----------------------------------------------------------------------------------


def test_macos_launch_agent_plist(tmp_path: Path) -> None:
    home = "/Users/me/kairos home"
    path = enable("darwin", command=["/Apps/Kairos venv/bin/kairos"], home_dir=tmp_path,
                  env_home=home)

    assert path == tmp_path / "Library" / "LaunchAgents" / "app.kairos.desktop.plist"
    agent = plistlib.loads(path.read_bytes())
    assert agent["Label"] == "app.kairos.desktop"
    assert agent["ProgramArguments"] == ["/Apps/Kairos venv/bin/kairos", "run"]
    assert agent["RunAtLoad"] is True
    assert agent["KeepAlive"] is False
    assert agent["ProcessType"] == "Interactive"
    assert agent["EnvironmentVariables"] == {"KAIROS_HOME": home}
    logs = tmp_path / "Library" / "Logs" / "Kairos"
    assert Path(agent["StandardOutPath"]).parent == logs
    assert Path(agent["StandardErrorPath"]).parent == logs
    assert logs.is_dir()  # launchd would not create it, and the agent would fail without it
    assert agent["KairosAutostart"] is True

    now = status("darwin", command=["/Apps/Kairos venv/bin/kairos"], home_dir=tmp_path,
                 env_home=home)
    assert (now.enabled, now.matches, now.platform) == (True, True, "darwin")
    no_home = autostart_entry("darwin", command=["/k"], home_dir=tmp_path)
    assert "EnvironmentVariables" not in plistlib.loads(no_home.content.encode())
    assert disable("darwin", home_dir=tmp_path) is True and not path.exists()


def test_macos_foreign_plist_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "Library" / "LaunchAgents" / "app.kairos.desktop.plist"
    path.parent.mkdir(parents=True)
    foreign = plistlib.dumps({"Label": "app.kairos.desktop", "ProgramArguments": ["/bin/true"]})
    path.write_bytes(foreign)
    with pytest.raises(AutostartError, match=r"app\.kairos\.desktop\.plist was not written"):
        enable("darwin", command=["/k"], home_dir=tmp_path)
    with pytest.raises(AutostartError, match="will not delete it"):
        disable("darwin", home_dir=tmp_path)
    assert path.read_bytes() == foreign


# --- Windows ---------------------------------------------------------------------------------


def test_windows_startup_cmd(tmp_path: Path) -> None:
    exe = r"C:\Users\Me\AppData\Local\Kairos env\Scripts\kairos.exe"
    path = enable("win32", command=[exe], home_dir=tmp_path, env_home=r"D:\Kairos 100%")

    assert path == (tmp_path / "AppData" / "Roaming" / "Microsoft" / "Windows" / "Start Menu"
                    / "Programs" / "Startup" / "Kairos.cmd")
    data = path.read_bytes()
    assert data.endswith(b"\r\n")
    assert data.count(b"\n") == data.count(b"\r\n")  # every line ends with CRLF
    lines = data.decode().split("\r\n")
    assert lines[0] == "@echo off"
    assert lines[1].startswith("rem kairos-autostart")
    assert 'set "KAIROS_HOME=D:\\Kairos 100%%"' in lines  # `%` doubled in a batch file
    assert f'start "" /min "{exe}" run' in lines

    now = status("win32", command=[exe], home_dir=tmp_path, env_home=r"D:\Kairos 100%")
    assert (now.enabled, now.matches) == (True, True)
    assert disable("win32", home_dir=tmp_path) is True and not path.exists()


def test_windows_quoting_and_refusals(tmp_path: Path) -> None:
    entry = autostart_entry("win32", command=[r"C:\k\kairos.exe", "a&b", "C:\\dir with space\\"],
                            home_dir=tmp_path)
    start = entry.content.split("\r\n")[-2]
    # Special characters are quoted; a trailing backslash is doubled so it does not escape the
    # closing quote for the program's argument parser.
    assert start == r'start "" /min C:\k\kairos.exe "a&b" "C:\dir with space\\" run'
    with pytest.raises(AutostartError, match="double quote"):
        autostart_entry("win32", command=['C:\\k "x".exe'], home_dir=tmp_path)

    path = entry.path
    path.parent.mkdir(parents=True)
    path.write_bytes(b"@echo off\r\nstart something-else.exe\r\n")
    with pytest.raises(AutostartError, match=r"Kairos\.cmd was not written by Kairos"):
        enable("win32", command=[r"C:\k\kairos.exe"], home_dir=tmp_path)
    assert path.read_bytes() == b"@echo off\r\nstart something-else.exe\r\n"


# --- platform and defaults -------------------------------------------------------------------


def test_platform_names_and_default_command(tmp_path: Path) -> None:
    assert normalize_platform("linux2") == "linux"
    assert normalize_platform("darwin") == "darwin"
    assert normalize_platform("win32") == "win32"
    with pytest.raises(AutostartError, match=r"not supported on 'aix'.*kairos run"):
        normalize_platform("aix")
    with pytest.raises(AutostartError, match="command to start Kairos is empty"):
        autostart_entry("linux", command=[], home_dir=tmp_path)

    script = Path(sys.executable).absolute().parent / "kairos"
    expected = ([str(script)] if script.is_file()
                else [str(Path(sys.executable).absolute()), "-m", "kairos_desktop.cli"])
    assert default_command("linux") == expected
    entry = autostart_entry("linux", home_dir=tmp_path)
    assert _exec_argv(_read_desktop_text(entry.content)["Exec"]) == [*expected, "run"]
    assert os.path.isabs(expected[0])


def _read_desktop_text(text: str) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    return dict(parser["Desktop Entry"])


def test_the_cli_turns_start_at_login_on_and_off(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / ".config"),
           "KAIROS_HOME": str(tmp_path / "home")}
    run = [sys.executable, "-m", "kairos_desktop.cli", "autostart"]
    on = subprocess.run([*run, "on"], env=env, capture_output=True, text=True)
    assert on.returncode == 0, on.stderr
    entry = tmp_path / ".config" / "autostart" / "kairos.desktop"
    assert "KAIROS_HOME=" in entry.read_text()
    assert "start at login is on" in subprocess.run([*run, "status"], env=env,
                                                    capture_output=True, text=True).stdout
    assert subprocess.run([*run, "off"], env=env).returncode == 0
    assert not entry.exists()
