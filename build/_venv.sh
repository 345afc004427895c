# Sourced by build/run.sh and build/test.sh: make .venv (Python 3.11+) and install the package.
# Usage: ensure_venv "<pip extras spec>", e.g. ensure_venv ".[test]"
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${KAIROS_VENV:-$ROOT/.venv}"

pick_python() {
    for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "kairos: Python 3.11 or newer is needed; install it (or set PYTHON=/path/to/python3.11)" >&2
    return 1
}

ensure_venv() {
    local spec="$1"
    if [ ! -x "$VENV/bin/python" ]; then
        local py
        py="$(pick_python)"
        echo "==> creating $VENV with $($py --version)"
        "$py" -m venv "$VENV"
        "$VENV/bin/python" -m pip install --quiet --upgrade pip
    fi
    # Reinstall only when pyproject.toml changed since the last install.
    local stamp="$VENV/.kairos-installed-$(echo "$spec" | tr -c 'a-z' '_')"
    if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
        echo "==> installing kairos-desktop ($spec) into $VENV"
        (cd "$ROOT" && "$VENV/bin/python" -m pip install --quiet -e "$spec")
        touch "$stamp"
    fi
}

# Debian/Ubuntu packages the tray app and its tests need (the GTK bindings are compiled against
# them; AyatanaAppIndicator3's typelib is the AppIndicator library of Ubuntu's tray; the desktop
# test session runs on Xvfb with dunst and trayer, and gnome-keyring's prompter is gcr's).
DESKTOP_PACKAGES="gir1.2-gtk-3.0 gir1.2-webkit2-4.1 gir1.2-ayatanaappindicator3-0.1 libgirepository1.0-dev libcairo2-dev pkg-config gcc python3-dev"
DESKTOP_TEST_PACKAGES="xvfb xauth dbus dbus-x11 dunst libnotify-bin xdotool x11-utils imagemagick trayer desktop-file-utils chromium gnome-keyring gcr"

ensure_system_packages() {
    # Installs the missing ones when we may (root with apt-get); otherwise says what to install.
    local wanted="$*" missing=""
    command -v dpkg >/dev/null 2>&1 || return 0
    for pkg in $wanted; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
    done
    [ -n "$missing" ] || return 0
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "==> apt-get install$missing"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
    else
        echo "kairos: for the tray app (and its tests) install:$missing" >&2
        echo "        sudo apt-get install$missing" >&2
        return 1
    fi
}

link_kairos_command() {
    # `kairos` on PATH: a symlink in ~/.local/bin (the XDG place for a user's programs, on PATH
    # in Debian's and Ubuntu's default profile once it exists). A file there that is not ours
    # is left alone.
    local bin="${HOME}/.local/bin" target="$VENV/bin/kairos"
    [ -x "$target" ] || return 0
    mkdir -p "$bin"
    if [ -e "$bin/kairos" ] && [ ! -L "$bin/kairos" ]; then
        echo "kairos: $bin/kairos exists and is not a link to this checkout; left alone (run $target)" >&2
        return 0
    fi
    if [ "$(readlink "$bin/kairos" 2>/dev/null)" != "$target" ]; then
        ln -sfn "$target" "$bin/kairos"
        echo "==> \`kairos\` is $bin/kairos (a link to $target)"
    fi
    case ":$PATH:" in
        *":$bin:"*) ;;
        *) echo "kairos: $bin is not on your PATH yet: open a new terminal (or log in again), or add it: export PATH=\"$bin:\$PATH\"" >&2 ;;
    esac
}
