#!/usr/bin/env bash
# Start a private PostgreSQL cluster on 127.0.0.1 for the multi-worker tests and print
# `export DSE_TEST_POSTGRES_URL=...`. `--stop` stops it. Exits 1 when PostgreSQL is absent.
set -euo pipefail
DATA="${DSE_PG_DIR:-/tmp/dse-pg}"
PORT="${DSE_PG_PORT:-55432}"
BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
[ -n "$BIN" ] || { echo "echo 'PostgreSQL not installed: postgres tests will be skipped' >&2"; exit 1; }
RUN_AS=()
[ "$(id -u)" = 0 ] && RUN_AS=(runuser -u postgres --)
if [ "${1:-}" = "--stop" ]; then
  "${RUN_AS[@]}" "$BIN/pg_ctl" -D "$DATA" stop -m fast >&2
  exit 0
fi
if [ ! -f "$DATA/PG_VERSION" ]; then
  mkdir -p "$DATA"; [ "$(id -u)" = 0 ] && chown postgres "$DATA"
  "${RUN_AS[@]}" "$BIN/initdb" -D "$DATA" -U postgres --auth=trust >/dev/null
fi
"${RUN_AS[@]}" "$BIN/pg_ctl" -D "$DATA" -o "-h 127.0.0.1 -p $PORT -k /tmp" -l "$DATA/server.log" -w start >/dev/null 2>&1 || true
"$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -tc "SELECT 1 FROM pg_database WHERE datname='dse'" | grep -q 1 \
  || "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -c "CREATE DATABASE dse" >/dev/null
echo "export DSE_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:$PORT/dse"
