"""The core never imports a GUI library: it must run headless, in CI and inside a notebook."""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

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


# -- layers: imports go down only -------------------------------------------------------------

# Each top-level module or subpackage of kairos_desktop, by layer (see DESIGN.md "Layers").
# Within a layer imports may go either way, but never round in a cycle.
LAYERS: dict[str, int] = {
    # foundation
    **dict.fromkeys(("atomic", "clock", "errors", "events", "history", "home", "journal", "keys",
                     "opener", "paths", "settings", "status", "store"), 0),
    # services
    **dict.fromkeys(("model_types", "model", "queue", "usage", "transcript", "memory",
                     "delivery", "scheduler", "approvals", "tools", "sources", "prices",
                     "budget", "migration"), 1),
    # the agent: the loop, the one agent turn, the dream, prompts
    "agent": 2,
    # the application API and what implements it
    **dict.fromkeys(("application", "homeapp", "engine_app", "offline", "views"), 3),
    # front ends, and the composition root that wires the control server in
    **dict.fromkeys(("control", "runtime", "api", "cli", "desktop", "doctor", "autostart",
                     "launcher"), 4),
}
PACKAGE_ROOT = Path(kairos_desktop.__file__).parent


def _unit(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "kairos_desktop" else None


def _imports() -> dict[str, set[str]]:
    """Every import between units, counting function-level and TYPE_CHECKING ones."""
    edges: dict[str, set[str]] = {}
    for path in PACKAGE_ROOT.rglob("*.py"):
        rel = path.relative_to(PACKAGE_ROOT.parent).with_suffix("")
        parts = list(rel.parts)
        is_package = parts[-1] == "__init__"
        module = ".".join(parts[:-1] if is_package else parts)
        package = module if is_package else module.rsplit(".", 1)[0]
        source = _unit(module)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                targets = [target] + [f"{target}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            for target in targets:
                unit = _unit(target)
                if source and unit and unit != source and unit in LAYERS:
                    edges.setdefault(source, set()).add(unit)
    return edges


def test_every_unit_of_the_core_has_a_layer() -> None:
    units = {p.stem if p.is_file() else p.name for p in PACKAGE_ROOT.iterdir()
             if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()}
    assert units - set(LAYERS) == set(), "put the new module in a layer of LAYERS"


def test_imports_go_down_the_layers_only() -> None:
    upward = sorted(f"{a} (layer {LAYERS[a]}) imports {b} (layer {LAYERS[b]})"
                    for a, targets in _imports().items() for b in targets
                    if LAYERS[b] > LAYERS[a])
    assert upward == []


def test_no_import_cycle_between_units() -> None:
    edges = _imports()
    cycles: list[list[str]] = []
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for unit in sorted(LAYERS):
        if unit not in index:
            visit(unit)
    assert cycles == []
