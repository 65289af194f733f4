#!/usr/bin/env bash
# Set up everything (scripts/setup.sh), start a throwaway PostgreSQL on loopback if one is
# installed, and run the default test suite. Extra arguments go to pytest (e.g. -m slow).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
if [ -z "${DSE_TEST_POSTGRES_URL:-}" ] && eval "$(bash scripts/start_postgres.sh)"; then
  trap 'bash scripts/start_postgres.sh --stop >/dev/null 2>&1 || true' EXIT
fi
python -m pytest -q "$@"
