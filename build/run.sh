#!/usr/bin/env bash
# Set up everything on a fresh machine (a .venv in the checkout) and run the assistant: the tray
# app where there is a screen, headless otherwise. Extra arguments go to `kairos run`, e.g.
# `bash build/run.sh --continue`. It also puts `kairos` on PATH (a link in ~/.local/bin) and, on
# Linux, Kairos in the applications menu (`kairos install-desktop`).
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
if [ "$(uname)" = "Linux" ] && ! ensure_system_packages $DESKTOP_PACKAGES; then
    echo "kairos: installing without the tray app for now" >&2
    ensure_venv "."
    link_kairos_command
else
    ensure_venv ".[desktop]"
    link_kairos_command
    if [ "$(uname)" = "Linux" ]; then
        # The launcher in the applications menu and the icons the tray names (quietly when
        # nothing changed); `kairos install-desktop --remove` takes them away.
        "$VENV/bin/kairos" install-desktop >/dev/null || true
    fi
fi
exec "$VENV/bin/kairos" run "$@"
