#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster for the tests (as root, no systemd), print its URL.
#   eval "$(scripts/postgres.sh start)"   -> exports IVRFLOW_TEST_POSTGRES_URL
#   scripts/postgres.sh stop
set -euo pipefail
DIR=/tmp/ivrflow-test-pg
PORT="${IVRFLOW_TEST_PG_PORT:-5439}"
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)

case "${1:-start}" in
start)
  if [ -z "$BIN" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "installing postgresql (apt-get)…" >&2
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2
      BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    else
      echo "PostgreSQL is not installed and cannot be installed here; its tests are skipped" >&2
      exit 0
    fi
  fi
  if [ "$(id -u)" = 0 ]; then RUN=(su postgres -s /bin/sh -c); else RUN=(sh -c); fi
  if [ -f "$DIR/data/postmaster.pid" ]; then
    "${RUN[@]}" "$BIN/pg_ctl -D $DIR/data -m immediate stop" >/dev/null 2>&1 || true
  fi
  rm -rf "$DIR"
  install -d -m 755 "$DIR"
  install -d -m 700 "$DIR/data" "$DIR/sock"
  [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$DIR/data" "$DIR/sock"
  "${RUN[@]}" "$BIN/initdb -D $DIR/data -U postgres --auth=trust -E UTF8 --locale=C.UTF-8" >/dev/null
  "${RUN[@]}" "$BIN/pg_ctl -D $DIR/data -l $DIR/data/log -w -o '-c listen_addresses=127.0.0.1 -p $PORT -k $DIR/sock -c fsync=off -c max_connections=200' start" >/dev/null
  echo "export IVRFLOW_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"
  ;;
stop)
  [ -n "$BIN" ] && [ -f "$DIR/data/postmaster.pid" ] || exit 0
  if [ "$(id -u)" = 0 ]; then
    su postgres -s /bin/sh -c "$BIN/pg_ctl -D $DIR/data -m fast stop" >/dev/null 2>&1 || true
  else
    "$BIN/pg_ctl" -D "$DIR/data" -m fast stop >/dev/null 2>&1 || true
  fi
  ;;
esac
