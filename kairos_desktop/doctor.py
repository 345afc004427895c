"""`kairos doctor`: what this machine offers the app, asked for real (which tray the session
offers and whether its backend loads, ask the session bus for a notification server), so a user
can see why something does not show. GUI modules are probed in a child process
(desktop/probe.py): the core never imports them.

It never hangs: the whole report is bounded by DOCTOR_TIMEOUT_S (the probe is killed past its
share), and the OS keyring is asked only when this home stored its key there (keys.py), within
KEYRING_CHECK_S, so a fresh account sees no "new keyring" prompt and a locked keyring's prompt
only makes the report say so.

The sources (channel and tool servers, GitHub, watched folders) are reported as the running app
has them (asked over the control API, within LIVE_STATUS_S): "restarting: its process exited",
not the "will start" the settings alone would say. With the app closed, or not answering, the
report says what the settings would start, and says which of the two it is (`stateFrom`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

from .home import Home
from .keys import KeyringTimeoutError, SecretStore, github_token_store
from .prices import PRICES_DATE, lookup
from .settings import load_settings
from .sources.channels.config import server_rows

DOCTOR_TIMEOUT_S = 30.0
KEYRING_CHECK_S = 8.0
LIVE_STATUS_S = 5.0  # how long the running app may take to say how its sources are


def _live_status(home: Home, timeout: float) -> tuple[dict[str, Any] | None, str]:
    """The running app's status (its sources' live state) and who says so: the settings alone
    tell what would start, not what runs (a server restarting with an error, say)."""
    from .control.client import ControlClient
    from .errors import KairosError, NotAnsweringError, NotRunningError

    try:
        client = ControlClient.for_home(home, timeout=timeout)
        return client.status(), f"the running app (pid {client.pid or '?'})"
    except NotRunningError:
        return None, "the settings (the app is not running)"
    except NotAnsweringError as exc:
        return None, f"the settings: {exc}"
    except KairosError as exc:
        return None, f"the settings (the running app's status failed: {exc})"


def _server_words(row: dict[str, Any], *, running: bool) -> str:
    state, reason = str(row["state"]), row.get("reason")
    if state == "refused":
        return "refused: not in allowedChannelPlugins (add it there to let it start)"
    if state == "off":
        return "off: channelsEnabled is false"
    if not running:
        return "will start"
    words = state + (f": {reason}" if reason else "")
    if row.get("toolNames"):
        words += f" (tools: {', '.join(row['toolNames'])})"
    if row.get("restarts"):
        words += f"; restarted {row['restarts']} time(s)"
    return words


def _sources_words(status: dict[str, Any]) -> dict[str, Any]:
    """What the running app's GitHub and folder sources say now."""
    github = status.get("github") or {}
    folders = status.get("folders") or {}
    failing = {s["key"]: s["lastError"] for s in github.get("subscriptions", [])
               if s.get("lastError")}
    return {
        "github": {"running": github.get("running"), "token": github.get("token"),
                   "subscriptions": len(github.get("subscriptions", [])),
                   "rateLimitedUntil": github.get("rateLimitedUntil"),
                   "failing": failing or "none"},
        "folders": {"watching": folders.get("watching") or "none",
                    "notWatched": folders.get("notWatched") or "none",
                    "error": folders.get("error")},
    }


def _secret(store: SecretStore, timeout: float) -> tuple[str, bool]:
    """(what to say of the secret, whether it is set), asking the keyring only if it holds it."""
    store.timeout = max(0.5, timeout)
    try:
        info = store.info()
    except KeyringTimeoutError:
        return (f"stored in the OS keyring, which did not answer within {store.timeout:g} s "
                "(locked, with an unlock prompt waiting?)", True)
    if info.set:
        return f"present ({info.hint}, from {info.source})", True
    return "", False


def _prices(model: str) -> str:
    """How the model's calls are priced (prices.py): its own row, or a warning."""
    match = lookup(model)
    warning = match.warning(model)
    if warning:
        return f"WARNING: {warning}; costs and the daily budget may be off"
    return f"{match.price.model}'s list prices ({PRICES_DATE})"


def diagnose(home: Home, *, timeout: float = DOCTOR_TIMEOUT_S) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    loaded = load_settings(home.settings_file)
    key_words, key_set = _secret(home.api_keys(), KEYRING_CHECK_S)
    report: dict[str, Any] = {
        "home": str(home.root),
        "python": sys.version.split()[0],
        "platform": sys.platform,
        "display": os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or "none",
        "apiKey": key_words if key_set else
        "missing: set ANTHROPIC_API_KEY, run `kairos key set`, or paste it in Settings",
        "model": loaded.settings.model,
        "prices": _prices(loaded.settings.model),
        "settingsProblems": loaded.problems or "none",
    }
    try:
        probe = subprocess.run([sys.executable, "-m", "kairos_desktop.desktop.probe"],
                               capture_output=True, text=True,
                               timeout=max(1.0, deadline - time.monotonic() - 2))
        report.update(json.loads(probe.stdout.strip().splitlines()[-1]))
    except (subprocess.TimeoutExpired, json.JSONDecodeError, IndexError) as exc:
        report["desktop"] = f"the probe failed: {exc!r}"
    settings = loaded.settings
    live, said_by = _live_status(home, min(LIVE_STATUS_S, max(0.5, deadline - time.monotonic())))
    servers = {row["name"]: _server_words(row, running=live is not None)
               for row in server_rows(settings, (live or {}).get("channels"))}
    import importlib.util

    report["channels"] = {
        "enabled": settings.channels_enabled,
        "servers": servers or "none configured (setting channelServers; `kairos plugins add`)",
        "mcpInstalled": importlib.util.find_spec("mcp") is not None,
        "stateFrom": said_by,
    }
    report["watchedFolders"] = [f.path for f in settings.watched_folders] or "none"
    if live is not None:
        report["sources"] = _sources_words(live)
    token_words, token_set = _secret(github_token_store(home.secrets_dir, home.root),
                                     min(KEYRING_CHECK_S, deadline - time.monotonic()))
    report["github"] = {"apiUrl": settings.github_api_url,
                        "token": token_words if token_set
                        else "none (public repositories only, 60 requests an hour)"}
    marker = home.api_keys().marker.entries()
    report["keyring"] = ("holds this home's " + " and ".join(
        {"apiKey": "API key", "githubToken": "GitHub token"}.get(n, n) for n in marker)
        if marker else "not used by this home (nothing was stored there, so it is never asked)")
    return report
