"""Entry point for the PyInstaller build (build/kairos.spec): the `kairos` command, frozen."""

import sys

from kairos_desktop.cli import main

if __name__ == "__main__":
    sys.exit(main())
