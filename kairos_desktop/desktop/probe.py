"""What `kairos doctor` asks of the desktop stack, run in a child process so that the core
never imports a GUI library: can the tray backend load, does a notification server answer,
is pywebview installed. Prints one JSON object."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any


def probe() -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        from .app import choose_backend

        backend = choose_backend()
        if backend:
            os.environ["PYSTRAY_BACKEND"] = backend
        import pystray

        out["tray"] = {"backend": pystray.Icon.__module__.rsplit(".", 1)[-1], "ok": True}
    except Exception as exc:
        out["tray"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
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
