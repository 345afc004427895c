#!/usr/bin/env bash
# Set up everything on a fresh machine (a .venv in the checkout) and run the checks and tests.
# Extra arguments go to pytest, e.g. `bash build/test.sh -k cli`.
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
ensure_venv ".[test]"
cd "$ROOT"
echo "==> ruff"
"$VENV/bin/ruff" check kairos_desktop tests bench
echo "==> pytest"
exec "$VENV/bin/python" -m pytest "$@"
