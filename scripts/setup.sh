#!/usr/bin/env bash
# Set up dse on a fresh Debian/Ubuntu machine: system packages, a virtual environment, dse itself.
# Idempotent: re-running only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages: the aarch64 cross compiler, qemu-user and mmdebstrap (the emulated Arm
# device), PostgreSQL (multi-worker studies and their test), Chromium (the dashboard browser test). Skipped when not root or no apt.
APT_PACKAGES="gcc-aarch64-linux-gnu qemu-user-static mmdebstrap postgresql chromium"
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  missing=""
  for pkg in $APT_PACKAGES; do dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"; done
  if [ -n "$missing" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
  fi
fi

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q -e ".[test,postgres]"
