#!/usr/bin/env bash
# A local PostgreSQL for `make run`: installed with apt-get if missing, its cluster under .data/pg
# (git-ignored), started as the postgres user when we are root. Safe to run twice or after a crash.
#   scripts/pg.sh start | stop | status | url
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${LEDGER_PG_PORT:-55432}"
DIR="$(pwd)/.data/pg"
DATA="$DIR/data"

find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

ensure_installed() {
  if [ -z "$(find_bin)" ] || [ ! -x "$(find_bin)/initdb" ]; then
    echo "PostgreSQL server binaries not found: installing them with apt-get" >&2
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
  fi
  if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
  fi
}

as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

url() { echo "Host=127.0.0.1;Port=$PORT;Username=postgres;Database=ledger"; }

start() {
  ensure_installed
  local bin; bin="$(find_bin)"
  mkdir -p "$DIR"
  [ "$(id -u)" -eq 0 ] && chown postgres "$DIR"
  if [ ! -f "$DATA/PG_VERSION" ]; then
    as_pg "$bin/initdb" -D "$DATA" -U postgres -A trust -E UTF8 >/dev/null
  fi
  if as_pg "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    echo "PostgreSQL already running on 127.0.0.1:$PORT" >&2
  else
    # After a crash a stale postmaster.pid may remain: pg_ctl start checks the pid and carries on.
    as_pg "$bin/pg_ctl" -D "$DATA" -l "$DIR/log" -w -t 60 start \
      -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c max_connections=200" >/dev/null
    echo "PostgreSQL started on 127.0.0.1:$PORT (data in $DATA, log in $DIR/log)" >&2
  fi
  if ! as_pg "$bin/psql" -h 127.0.0.1 -p "$PORT" -U postgres -tAc "select 1 from pg_database where datname = 'ledger'" | grep -q 1; then
    as_pg "$bin/createdb" -h 127.0.0.1 -p "$PORT" -U postgres ledger
  fi
}

stop() {
  local bin; bin="$(find_bin)"
  if [ -n "$bin" ] && [ -f "$DATA/PG_VERSION" ] && as_pg "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    as_pg "$bin/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null && echo "PostgreSQL stopped" >&2
  fi
}

status() { local bin; bin="$(find_bin)"; as_pg "$bin/pg_ctl" -D "$DATA" status; }

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  url) url ;;
  ensure) ensure_installed ;;
  *) echo "usage: $0 start|stop|status|url|ensure" >&2; exit 2 ;;
esac
