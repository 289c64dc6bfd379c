#!/usr/bin/env bash
# What tests/test_browser.py needs: Debian's chromium and Python playwright in .venv (no browser download:
# playwright drives the system chromium through executable_path). Idempotent; nothing to do when both are present.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
if [ ! -x "$PY" ]; then
  echo "install_browser_deps.sh: $PY not found; create the environment first (make install)." >&2
  exit 1
fi
if ! command -v chromium >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null
  $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
fi
if ! "$PY" -c "import playwright" >/dev/null 2>&1; then
  "$PY" -m pip install -q --disable-pip-version-check "playwright>=1.40"
fi
