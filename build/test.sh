#!/usr/bin/env bash
# Set up everything on a fresh machine (a .venv in the checkout, and on Debian/Ubuntu as root the
# system packages of the desktop test session) and run the checks and tests.
# Extra arguments go to pytest, e.g. `bash build/test.sh -k cli`.
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
if [ "$(uname)" = "Linux" ]; then
    ensure_system_packages $DESKTOP_PACKAGES $DESKTOP_TEST_PACKAGES || true
fi
ensure_venv ".[test,desktop]"
cd "$ROOT"
echo "==> ruff"
"$VENV/bin/ruff" check kairos_desktop tests bench build
echo "==> mypy (the core)"
"$VENV/bin/mypy"
echo "==> pytest"
exec "$VENV/bin/python" -m pytest "$@"
