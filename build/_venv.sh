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
