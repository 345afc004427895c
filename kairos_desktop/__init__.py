"""kairos-desktop: an always-on personal AI assistant for the desktop.

The core (everything here but `desktop/`) imports no GUI library: it runs headless, in CI and
inside a notebook's event loop. Start with `Kairos` (api.py) or the `kairos` command (cli.py).
"""

from __future__ import annotations

from .api import Kairos
from .settings import Settings

__version__ = "0.1.0"

__all__ = ["Kairos", "Settings", "__version__"]
