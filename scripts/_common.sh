# Shared by scripts/*: find Python 3.13 and make the venv, installing pinned requirements when missing.
# shellcheck shell=bash
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

find_python313() {
    local candidate
    for candidate in python3.13 python3; do
        if command -v "$candidate" >/dev/null 2>&1 \
            && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then
            command -v "$candidate"; return 0
        fi
    done
    if command -v pyenv >/dev/null 2>&1; then
        local root; root="$(pyenv root)"
        for candidate in "$root"/versions/3.13*/bin/python3.13; do
            [ -x "$candidate" ] && { echo "$candidate"; return 0; }
        done
    fi
    return 1
}

ensure_venv() {
    local stamp="$VENV/.requirements.sha256" want
    want="$(cat "$ROOT/requirements_test.txt" "$ROOT/requirements_constraints.txt" | sha256sum | cut -d' ' -f1)"
    if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    local py
    py="$(find_python313)" || { echo "error: Python 3.13 not found (PATH or pyenv)" >&2; exit 1; }
    echo "==> creating $VENV with $py"
    # A venv left by something else (another Python, no pip) is made again, not reused.
    if ! "$VENV/bin/python" -c 'import pip, sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then
        "$py" -m venv --clear "$VENV"
    fi
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check uv
    "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" \
        -c "$ROOT/requirements_constraints.txt" -r "$ROOT/requirements_test.txt"
    echo "$want" > "$stamp"
}

# Real servers the tests and scripts/develop use (Debian packages). Installed when root and missing.
ensure_servers() {
    local missing=()
    command -v influxd >/dev/null 2>&1 || missing+=(influxdb)
    command -v victoria-metrics >/dev/null 2>&1 || missing+=(victoria-metrics)
    command -v nginx >/dev/null 2>&1 || missing+=(nginx)
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    command -v sqlite3 >/dev/null 2>&1 || missing+=(sqlite3)
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "warning: missing ${missing[*]}; run as root (or apt-get install them) for the full test run" >&2
        return 0
    fi
    echo "==> apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # The Debian packages start their own daemons; tests run private instances instead.
    systemctl disable --now influxdb >/dev/null 2>&1 || service influxdb stop >/dev/null 2>&1 || true
    service nginx stop >/dev/null 2>&1 || true
}
