"""`kairos doctor`: what this machine offers the app, asked for real (which tray the session
offers and whether its backend loads, ask the session bus for a notification server), so a user
can see why something does not show. GUI modules are probed in a child process
(desktop/probe.py): the core never imports them.

It never hangs: the whole report is bounded by DOCTOR_TIMEOUT_S (the probe is killed past its
share), and the OS keyring is asked only when this home stored its key there (keys.py), within
KEYRING_CHECK_S, so a fresh account sees no "new keyring" prompt and a locked keyring's prompt
only makes the report say so."""

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

DOCTOR_TIMEOUT_S = 30.0
KEYRING_CHECK_S = 8.0


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
