#!/usr/bin/env bash
# Set up everything on a fresh machine (a .venv in the checkout) and run the assistant: the tray
# app where there is a screen, headless otherwise. Extra arguments go to `kairos run`, e.g.
# `bash build/run.sh --continue`.
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
if [ "$(uname)" = "Linux" ] && ! ensure_system_packages $DESKTOP_PACKAGES; then
    echo "kairos: installing without the tray app for now" >&2
    ensure_venv "."
else
    ensure_venv ".[desktop]"
fi
exec "$VENV/bin/kairos" run "$@"
