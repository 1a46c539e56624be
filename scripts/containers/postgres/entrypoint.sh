#!/bin/bash
# First start: initdb with POSTGRES_USER / POSTGRES_PASSWORD (scram for TCP, trust on the socket) and POSTGRES_DB,
# without listening on TCP meanwhile; then postgres as the postgres user.
set -euo pipefail
[ "${1:-}" = postgres ] || exec "$@"
shift
user=${POSTGRES_USER:-postgres}; db=${POSTGRES_DB:-$user}
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
install -d -o postgres -g postgres -m 700 "$PGDATA"
install -d -o postgres -g postgres /var/run/postgresql
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  method=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
  [ -n "${POSTGRES_PASSWORD:-}" ] || method=${POSTGRES_HOST_AUTH_METHOD:-trust}
  password=$(mktemp); printf '%s\n' "${POSTGRES_PASSWORD:-}" >"$password"; chown postgres "$password"
  as_postgres initdb -D "$PGDATA" -U "$user" --pwfile="$password" -E UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host="$method" >/dev/null
  rm -f "$password"
  echo "host all all all $method" >>"$PGDATA/pg_hba.conf"
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
  if [ "$db" != postgres ]; then
    as_postgres pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    as_postgres psql -v ON_ERROR_STOP=1 -U "$user" -d postgres -qc "create database \"$db\""
    as_postgres pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  fi
  echo "entrypoint: initialised $PGDATA (user $user, database $db)"
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups postgres "$@"
