"""The core never imports a GUI library: it must run headless, in CI and inside a notebook."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import kairos_desktop

GUI_MODULES = ("pystray", "webview", "desktop_notifier", "PIL", "gi", "PyQt6", "tkinter")


def test_importing_every_core_module_loads_no_gui_module() -> None:
    core = [m.name for m in pkgutil.walk_packages(kairos_desktop.__path__, "kairos_desktop.")
            if not m.name.startswith("kairos_desktop.desktop")]
    assert "kairos_desktop.agent.loop" in core and "kairos_desktop.control.server" in core
    script = (
        "import importlib, json, sys\n"
        f"for name in {core!r}: importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {GUI_MODULES!r})))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)
    assert json.loads(result.stdout) == []
