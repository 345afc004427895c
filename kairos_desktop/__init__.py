"""kairos-desktop: an always-on personal AI assistant for the desktop.

The core (everything here but `desktop/`) imports no GUI library: it runs headless, in CI and
inside a notebook's event loop. Start with `Kairos` (api.py) or the `kairos` command (cli.py).
Names are imported lazily so that a CLI call does not pay for the anthropic SDK's import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["Kairos", "Settings", "__version__"]

if TYPE_CHECKING:
    from .api import Kairos
    from .settings import Settings


def __getattr__(name: str) -> Any:
    if name == "Kairos":
        from .api import Kairos

        return Kairos
    if name == "Settings":
        from .settings import Settings

        return Settings
    raise AttributeError(f"module 'kairos_desktop' has no attribute {name!r}")
