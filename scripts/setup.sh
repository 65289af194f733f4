#!/usr/bin/env bash
# Set up dse on a fresh Debian/Ubuntu machine: system packages, a virtual environment, dse itself.
# Idempotent: re-running only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages (skipped when not root or no apt):
# - gcc-aarch64-linux-gnu + libc6-dev-arm64-cross: cross-compile *and link* aarch64 shared libraries
#   (the C runtime objects crti.o/crtn.o and libc live in the -dev package, which
#   --no-install-recommends would otherwise leave out);
# - qemu-user-static + mmdebstrap: the emulated Arm board (an arm64 Debian root run under qemu);
# - postgresql: multi-worker studies and their test;
# - chromium: the dashboard and report browser tests.
# `python -m dse.doctor` (run at the end) checks each of them by use, not by package name.
APT_PACKAGES="gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static mmdebstrap postgresql chromium"
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  missing=""
  for pkg in $APT_PACKAGES; do dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"; done
  if [ -n "$missing" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
  fi
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  # A fresh environment is about 7 GB (torch's CUDA build alone is 5.5 GB) plus pip's unpacking:
  # say so up front rather than fail minutes in with pip's "No space left on device".
  free_gb=$(df --output=avail -B1G . | tail -1 | tr -d ' ')
  if [ "$free_gb" -lt 9 ]; then
    echo "setup: only ${free_gb} GB free under $(pwd); a fresh .venv needs about 9 GB: free disk space and run again" >&2
    exit 1
  fi
  "$PYTHON" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q -e ".[test,postgres,dev,runtimes]"

# What works on this machine, one line per capability (exit 1 only when the default study
# cannot run: TVM, its ffi pin, the LLVM CPU or torch is broken).
python -m dse.doctor
