"""`python -m kairos_desktop.cli` (what autostart entries and the tests run)."""

import sys

from . import main

if __name__ == "__main__":  # not when a tool imports every module
    sys.exit(main())
