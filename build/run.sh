#!/usr/bin/env bash
# Set up everything on a fresh machine (a .venv in the checkout) and run the assistant.
# Extra arguments go to `kairos run`, e.g. `bash build/run.sh --continue`.
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
ensure_venv "."
exec "$VENV/bin/kairos" run --headless "$@"
