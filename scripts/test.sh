#!/usr/bin/env bash
# The test command (README): set everything up (scripts/setup.sh), check that every capability
# the tests use works (python -m dse.doctor), lint and type-check, start a throwaway PostgreSQL
# on loopback, and run the whole test suite, the slow tests included. Extra arguments go to
# pytest (e.g. `-m "not slow"` for the quick subset, or a test file).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate

# Every capability setup.sh installs must work: a broken install step fails here, by name,
# before any test runs. (cuda needs a GPU machine and is not installed by setup.sh.)
python -m dse.doctor --require aarch64-cross,qemu-user,arm64-root,postgresql,chromium,optuna-dashboard,onnxruntime,openvino

ruff check .
ruff format --check .
mypy

if [ -z "${DSE_TEST_POSTGRES_URL:-}" ] && eval "$(bash scripts/start_postgres.sh)"; then
  trap 'bash scripts/start_postgres.sh --stop >/dev/null 2>&1 || true' EXIT
fi
if [ "$#" -eq 0 ]; then
  set -- -m "slow or not slow"
fi
python -m pytest -q --durations=15 "$@"
