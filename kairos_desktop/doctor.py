"""`kairos doctor`: what this machine offers the app, asked for real (import the tray backend,
ask the session bus for a notification server), so a user can see why something does not show.
GUI modules are probed in a child process (desktop/probe.py): the core never imports them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from .home import Home
from .settings import load_settings


def diagnose(home: Home) -> dict[str, Any]:
    loaded = load_settings(home.settings_file)
    key = home.api_keys().info()
    report: dict[str, Any] = {
        "home": str(home.root),
        "python": sys.version.split()[0],
        "platform": sys.platform,
        "display": os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or "none",
        "apiKey": (f"present ({key.hint}, from {key.source})" if key.set else
                   "missing: set ANTHROPIC_API_KEY or run `kairos key set`"),
        "model": loaded.settings.model,
        "settingsProblems": loaded.problems or "none",
    }
    try:
        probe = subprocess.run([sys.executable, "-m", "kairos_desktop.desktop.probe"],
                               capture_output=True, text=True, timeout=30)
        report.update(json.loads(probe.stdout.strip().splitlines()[-1]))
    except (subprocess.TimeoutExpired, json.JSONDecodeError, IndexError) as exc:
        report["desktop"] = f"the probe failed: {exc!r}"
    settings = loaded.settings
    allowed = set(settings.allowed_channel_plugins)
    servers = {name: ("will start" if name in allowed else
                      "refused: not in allowedChannelPlugins (add it there to let it start)")
               for name in settings.channel_servers}
    import importlib.util

    report["channels"] = {
        "enabled": settings.channels_enabled,
        "servers": servers or "none configured (setting channelServers)",
        "mcpInstalled": importlib.util.find_spec("mcp") is not None,
    }
    report["watchedFolders"] = [f.path for f in settings.watched_folders] or "none"
    report["github"] = {"apiUrl": settings.github_api_url,
                        "token": "GITHUB_TOKEN set" if os.environ.get("GITHUB_TOKEN")
                        else "none (public repositories only, 60 requests an hour)"}
    return report
