#!/usr/bin/env bash
# What tests/test_browser.py needs: Debian's chromium and Python playwright in .venv (no browser download:
# playwright drives the system chromium through executable_path). Idempotent and silent; when both are present it
# returns at once. Output of apt-get and pip is shown only if they fail. PY overrides the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
if [ ! -x "$PY" ]; then
  echo "install_browser_deps.sh: $PY not found; create the environment first (make install)." >&2
  exit 1
fi
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
quietly() {
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    echo "install_browser_deps.sh: '$*' failed." >&2
    exit 1
  fi
}
if ! command -v chromium >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  quietly $SUDO apt-get update
  quietly $SUDO apt-get install -y --no-install-recommends chromium fonts-liberation
fi
if ! "$PY" -c "import playwright.sync_api" >/dev/null 2>&1; then
  quietly "$PY" -m pip install --disable-pip-version-check "playwright>=1.40"
fi
