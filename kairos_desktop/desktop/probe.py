"""What `kairos doctor` asks of the desktop stack, run in a child process so that the core
never imports a GUI library: which tray the session offers (host.py: a StatusNotifierWatcher
on the bus, an XEmbed tray on the display, or none) and whether the app's backend for it
loads, does a notification server answer, is pywebview installed. Prints one JSON object."""

from __future__ import annotations

import asyncio
import json
from typing import Any


def tray_report() -> dict[str, Any]:
    from .host import detect

    host = detect()
    out: dict[str, Any] = {"host": host.kind, "backend": host.backend, "detail": host.detail}
    if host.kind == "none":
        return {**out, "ok": False,
                "why": f"{host.detail}; the app shows its panel window instead"}
    try:
        if host.kind == "sni":
            import dbus_fast  # noqa: F401 - the item's library

            from . import sni  # noqa: F401
        elif host.kind == "xembed":
            from pystray import _gtk  # noqa: F401 - GTK initialises on import
        else:
            import pystray  # noqa: F401
    except Exception as exc:
        return {**out, "ok": False, "why": f"{type(exc).__name__}: {exc}"}
    return {**out, "ok": True}


def probe() -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        out["tray"] = tray_report()
    except Exception as exc:
        out["tray"] = {"ok": False, "why": f"{type(exc).__name__}: {exc}"}
    try:
        from desktop_notifier import DesktopNotifier

        async def capabilities() -> list[str]:
            notifier = DesktopNotifier(app_name="Kairos doctor")
            return sorted(c.name for c in await notifier.get_capabilities())

        names = asyncio.run(asyncio.wait_for(capabilities(), 5))
        out["notifications"] = {"server": bool(names), "capabilities": names}
    except Exception as exc:
        out["notifications"] = {"server": False, "error": f"{type(exc).__name__}: {exc}"}
    try:
        import webview

        out["webview"] = {"installed": True, "version": getattr(webview, "__version__", "?")}
    except Exception as exc:
        out["webview"] = {"installed": False, "error": f"{type(exc).__name__}: {exc}"}
    return out


if __name__ == "__main__":
    print(json.dumps(probe()))
