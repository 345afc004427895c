"""The commands that are not on a home's Connection: `kairos run` starts the app itself,
`autostart` and `doctor` are about this machine."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from typing import Any

from ..errors import HomeLockedError, NotAnsweringError, NotRunningError
from ..home import Home, HomeHeldError, LockHolder


def _answering(home: Home) -> LockHolder | None:
    """The app running on `home` when its control API answers (a start then says so at once,
    instead of waiting out the home lock); None when none answers."""
    from ..control.client import ControlClient

    try:
        ControlClient.for_home(home, timeout=5.0)
    except (NotRunningError, NotAnsweringError):
        return None
    info = home.read_control() or {}
    pid, port = info.get("pid"), info.get("port")
    return LockHolder(pid if isinstance(pid, int) else None, True,
                      port if isinstance(port, int) else None)


def _already_running(home: Home, pid: int | None, port: int | None) -> int:
    print(f"kairos: already running for {home.root} (pid {pid if pid is not None else '?'}, "
          f"control API port {port if port is not None else '?'}). Talk to it with "
          "`kairos send`, or stop it first.", file=sys.stderr)
    return 1


def cmd_run(home: Home, args: argparse.Namespace) -> int:
    if not args.headless:
        reason = _desktop_unavailable()
        if reason is None:
            from ..desktop.app import run_desktop

            return run_desktop(home, session_id=args.session_id, resume=args.resume,
                               exit_after=args.exit_after)
        print(f"kairos: {reason}; running headless (--headless silences this note)",
              file=sys.stderr)
    return asyncio.run(_run_headless(home, args))


def _desktop_unavailable() -> str | None:
    """Why the tray app cannot start here, or None if it can."""
    import importlib.util
    import os

    missing = [m for m in ("pystray", "desktop_notifier", "PIL")
               if importlib.util.find_spec(m) is None]
    if missing:
        return (f"the tray app needs {', '.join(missing)} (pip install "
                "'kairos-desktop[desktop]')")
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY") \
            and not os.environ.get("WAYLAND_DISPLAY"):
        return "there is no graphical display (DISPLAY and WAYLAND_DISPLAY are unset)"
    return None


async def _run_headless(home: Home, args: argparse.Namespace) -> int:
    from ..delivery.notifier import ConsoleNotifier
    from ..runtime import Engine

    running = _answering(home)  # said at once: the home lock's wait is for quick commands
    if running is not None:
        return _already_running(home, running.pid, running.port)
    engine = Engine(home, notifier=ConsoleNotifier(quiet_kinds=("message", "file")),
                    freeze_heap=True)
    try:
        await engine.start(session_id=args.session_id, resume=args.resume)
    except HomeLockedError as exc:
        holder = exc.holder if isinstance(exc, HomeHeldError) else None
        return _already_running(home, holder.pid if holder else None,
                                holder.port if holder else None)
    name = engine.settings.assistant_name
    for problem in engine.settings_problems:
        print(f"kairos: settings: {problem}", file=sys.stderr)
    told_no_key = False

    def on_event(event: Any) -> None:
        nonlocal told_no_key
        _print_event(name, event)
        # Known once the keyring answered (it is asked after start-up): say it once.
        if event.kind == "state" and event.data.get("state") == "no_api_key" \
                and not told_no_key:
            told_no_key = True
            print(f"kairos: {event.data.get('detail')}", file=sys.stderr, flush=True)

    engine.bus.subscribe(on_event)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows: Ctrl+C raises
            loop.add_signal_handler(sig, engine.stop_requested.set)
    print(f"{name} is running (session {engine.status.session_id}, home {home.root}). "
          "Ctrl+C stops it.", flush=True)
    await engine.run_until_stopped(args.exit_after)
    print(f"{name} stopped.", flush=True)
    return 0


def _print_event(name: str, event: Any) -> None:
    if event.kind == "message":
        tag = {"proactive": f"{name} (proactive)", "system": f"{name} (app)"}.get(
            event.data.get("status"), name)
        print(f"[{tag}] {event.data['text']}", flush=True)
    elif event.kind == "file":
        print(f"[{name}: file] {event.data['title']} -> {event.data['path']}", flush=True)


def cmd_autostart(home: Home, args: argparse.Namespace) -> int:
    import os

    from .. import autostart

    env_home = os.environ.get("KAIROS_HOME") or (str(home.root) if args.home else None)
    if args.action == "on":
        path = autostart.enable(env_home=env_home)
        print(f"kairos will start when you log in ({path})")
        if sys.platform.startswith("linux"):  # the entry's Icon=kairos, and a menu launcher
            from .. import launcher

            report = launcher.install(env_home=env_home)
            print(f"its launcher and icons are installed too ({report.launcher}; "
                  "`kairos install-desktop --remove` takes them away)")
    elif args.action == "off":
        removed = autostart.disable(env_home=env_home)
        print("start at login is off" + ("" if removed else " (it was not on)"))
    else:
        state = autostart.status(env_home=env_home)
        if state.foreign:
            print(f"{state.path} exists but was not written by kairos; left alone")
        elif not state.enabled:
            print("start at login is off")
        else:
            print(f"start at login is on ({state.path})"
                  + ("" if state.matches else "; it starts an older command: run "
                     "`kairos autostart on` to update it"))
    return 0


def _env_home(home: Home, args: argparse.Namespace) -> str | None:
    import os

    return os.environ.get("KAIROS_HOME") or (str(home.root) if args.home else None)


def cmd_install_desktop(home: Home, args: argparse.Namespace) -> int:
    from .. import launcher

    if not sys.platform.startswith("linux"):
        print("kairos: install-desktop is for Linux desktops; on macOS and Windows the app "
              "bundle carries its icon", file=sys.stderr)
        return 1
    if args.remove:
        report = launcher.remove()
        print(("launcher removed" if report.launcher_changed else "no launcher was installed")
              + f" ({report.launcher}); {len(report.icons_removed)} icon(s) removed from "
              f"{report.icons_dir}")
        return 0
    report = launcher.install(env_home=_env_home(home, args))
    print(f"Kairos is in the applications menu ({report.launcher}); its icons are in "
          f"{report.icons_dir}. `kairos install-desktop --remove` takes them away.")
    return 0


def cmd_doctor(home: Home, args: argparse.Namespace) -> int:
    from ..doctor import diagnose

    report = diagnose(home)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for section, value in report.items():
        if isinstance(value, dict):
            print(f"{section}:")
            for key, item in value.items():
                print(f"  {key}: {item}")
        else:
            print(f"{section}: {value}")
    return 0
