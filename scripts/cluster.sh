#!/usr/bin/env bash
# Several Ledger hosts on one PostgreSQL primary with a streaming replica for their reads, behind HAProxy (Debian's
# haproxy 2.6), all on loopback: `make cluster`.
# The hosts are identical; the leader among them (Wolverine's node agents) gives each background agent (the sweep,
# the checkpoint writer, the webhook dispatcher) to one live host. docs/operations.md, "Several hosts".
#
#   scripts/cluster.sh ensure                          install haproxy with apt-get if it is missing
#   scripts/cluster.sh start DIR [HOSTS] [PORT]        PostgreSQL (DIR/pg, port PORT+10), its replica (DIR/replica, PORT+11),
#                                                      HOSTS hosts (PORT+1..), HAProxy on PORT
#   scripts/cluster.sh stop DIR                        stop what start left in DIR (HAProxy, the hosts, the replica, PostgreSQL)
#   scripts/cluster.sh status DIR                      each part, up or down
#   scripts/cluster.sh haproxy-config PORT BACKEND...  the HAProxy configuration for backends host:port (the specs use it too)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
HOSTDIR="$ROOT/src/Host/bin/Release/net10.0"
find_pg() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

haproxy_config() { # PORT BACKEND...
  local port=$1; shift
  cat <<EOF
# Ledger's balancer: round robin over the hosts that answer /health/ready (a host whose database is away, or that is
# starting or stopping, gets no new requests). A request is retried on another host only when it could not be sent
# (a refused connection), never after a host has received it: a POST is not resent behind the client's back; the
# client retries with its Idempotency-Key.
global
    maxconn 4096
defaults
    mode http
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    retries 2
    retry-on conn-failure
    option redispatch
    # HAProxy's own answers, as problem+json like Ledger's: no host ready (the database down: every /health/ready red),
    # a host that died with the request, or did not answer in time. The client retries with its Idempotency-Key.
    http-error status 503 content-type application/problem+json hdr Retry-After 1 string '{"type":"https://docs.ledger.dev/errors/service_unavailable","title":"Service unavailable.","status":503,"code":"service_unavailable","detail":"No Ledger host can take requests now (is the database down?). Retry shortly with the same Idempotency-Key."}'
    http-error status 502 content-type application/problem+json string '{"type":"https://docs.ledger.dev/errors/bad_gateway","title":"Bad gateway.","status":502,"code":"bad_gateway","detail":"The Ledger host handling this request stopped before answering; whether it was applied is unknown. Retry with the same Idempotency-Key."}'
    http-error status 504 content-type application/problem+json string '{"type":"https://docs.ledger.dev/errors/gateway_timeout","title":"Gateway timeout.","status":504,"code":"gateway_timeout","detail":"The Ledger host handling this request did not answer in time; whether it was applied is unknown. Retry with the same Idempotency-Key."}'
frontend ledger
    bind 127.0.0.1:$port
    default_backend hosts
backend hosts
    balance roundrobin
    option httpchk GET /health/ready
    http-check expect status 200
    default-server inter 500ms fall 2 rise 1
    # The client's address for the hosts (they trust it from HAProxy only: Ledger:Http:TrustedProxies).
    option forwardfor
    # Which host answered: for operators (and the specs) only; it names no address.
    http-response set-header Ledger-Host %[srv_name]
EOF
  local i=1
  for backend in "$@"; do echo "    server host$i $backend check"; i=$((i + 1)); done
}

start() { # DIR HOSTS PORT
  local dir=$1 hosts=${2:-3} port=${3:-5090}
  local pgport=$((port + 10)) pg; pg="$(find_pg)"
  [ -x "$pg/initdb" ] || "$ROOT/scripts/pg.sh" ensure
  pg="$(find_pg)"
  command -v haproxy >/dev/null || "$0" ensure
  [ -f "$HOSTDIR/Ledger.Host.dll" ] || dotnet build "$ROOT/src/Host" -c Release -nologo -v quiet
  mkdir -p "$dir"; dir="$(cd "$dir" && pwd)"
  [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
  if [ ! -f "$dir/pg/PG_VERSION" ]; then as_pg "$pg/initdb" -D "$dir/pg" -U postgres -A trust -E UTF8 >/dev/null; fi
  if ! as_pg "$pg/pg_ctl" -D "$dir/pg" status >/dev/null 2>&1; then
    as_pg "$pg/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w -t 60 start \
      -o "-p $pgport -k $dir -c listen_addresses=127.0.0.1 -c max_connections=400" >/dev/null
  fi
  as_pg "$pg/psql" -h 127.0.0.1 -p "$pgport" -U postgres -tAc "select 1 from pg_database where datname = 'ledger'" | grep -q 1 \
    || as_pg "$pg/createdb" -h 127.0.0.1 -p "$pgport" -U postgres ledger
  local conn="Host=127.0.0.1;Port=$pgport;Username=postgres;Database=ledger"
  # The replica: a base backup of the primary that streams its WAL from then on (a hot standby, read-only).
  if [ ! -f "$dir/replica/PG_VERSION" ]; then
    as_pg "$pg/pg_basebackup" -h 127.0.0.1 -p "$pgport" -U postgres -D "$dir/replica" -R -X stream --checkpoint=fast >/dev/null
  fi
  if ! as_pg "$pg/pg_ctl" -D "$dir/replica" status >/dev/null 2>&1; then
    as_pg "$pg/pg_ctl" -D "$dir/replica" -l "$dir/replica.log" -w -t 60 start \
      -o "-p $((pgport + 1)) -k $dir -c listen_addresses=127.0.0.1 -c max_connections=400" >/dev/null
  fi
  local replica="Host=127.0.0.1;Port=$((pgport + 1));Username=postgres;Database=ledger"
  # LEDGER_CLUSTER_REPLICA_READS=0: the replica runs but the hosts read the primary (for comparisons).
  [ "${LEDGER_CLUSTER_REPLICA_READS:-1}" = 0 ] && replica=""
  # One signing key for all hosts: whichever holds the checkpoint agent signs with it, into one file.
  mkdir -p "$dir/audit"
  [ -f "$dir/audit/key.pem" ] || (cd "$HOSTDIR" && dotnet Ledger.Host.dll audit keygen --out "$dir/audit/key.pem" >/dev/null)
  local backends=()
  for i in $(seq 1 "$hosts"); do
    local hport=$((port + i))
    backends+=("127.0.0.1:$hport")
    if [ -f "$dir/host$i.pid" ] && kill -0 "$(cat "$dir/host$i.pid")" 2>/dev/null; then continue; fi
    (cd "$HOSTDIR" && ASPNETCORE_ENVIRONMENT=Development ConnectionStrings__Ledger="$conn" ConnectionStrings__LedgerReplica="$replica" \
      Ledger__Http__TrustedProxies__0=127.0.0.1 Ledger__Audit__SigningKeyFile="$dir/audit/key.pem" Ledger__Audit__CheckpointFile="$dir/audit/checkpoints.jsonl" \
      exec dotnet Ledger.Host.dll --urls "http://127.0.0.1:$hport" >"$dir/host$i.log" 2>&1) &
    echo $! > "$dir/host$i.pid"
    # The first host migrates the database; the others start once it is ready.
    for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$hport/health/ready" >/dev/null && break; sleep 0.2; done
    curl -sf "http://127.0.0.1:$hport/health/ready" >/dev/null || { echo "host$i did not get ready; its log:" >&2; tail -20 "$dir/host$i.log" >&2; exit 1; }
  done
  haproxy_config "$port" "${backends[@]}" > "$dir/haproxy.cfg"
  if ! { [ -f "$dir/haproxy.pid" ] && kill -0 "$(cat "$dir/haproxy.pid")" 2>/dev/null; }; then
    haproxy -q -D -p "$dir/haproxy.pid" -f "$dir/haproxy.cfg"
  fi
  for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null && break; sleep 0.2; done
  echo "Ledger cluster: HAProxy on http://127.0.0.1:$port -> $hosts hosts (${backends[*]}), PostgreSQL on 127.0.0.1:$pgport, its replica on 127.0.0.1:$((pgport + 1)); logs in $dir"
}

stop() { # DIR
  local dir=$1 pg; pg="$(find_pg)"
  [ -d "$dir" ] || exit 0
  if [ -f "$dir/haproxy.pid" ]; then kill "$(cat "$dir/haproxy.pid")" 2>/dev/null || true; rm -f "$dir/haproxy.pid"; fi
  for pidfile in "$dir"/host*.pid; do
    [ -f "$pidfile" ] || continue
    local pid; pid="$(cat "$pidfile")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
  if [ -f "$dir/replica/PG_VERSION" ] && as_pg "$pg/pg_ctl" -D "$dir/replica" status >/dev/null 2>&1; then
    as_pg "$pg/pg_ctl" -D "$dir/replica" -m fast -w stop >/dev/null
  fi
  if [ -f "$dir/pg/PG_VERSION" ] && as_pg "$pg/pg_ctl" -D "$dir/pg" status >/dev/null 2>&1; then
    as_pg "$pg/pg_ctl" -D "$dir/pg" -m fast -w stop >/dev/null
  fi
  echo "Ledger cluster stopped"
}

status() { # DIR
  local dir=$1 pg; pg="$(find_pg)"
  for pidfile in "$dir"/haproxy.pid "$dir"/host*.pid; do
    [ -f "$pidfile" ] || continue
    if kill -0 "$(cat "$pidfile")" 2>/dev/null; then echo "$(basename "$pidfile" .pid): up"; else echo "$(basename "$pidfile" .pid): down"; fi
  done
  as_pg "$pg/pg_ctl" -D "$dir/pg" status >/dev/null 2>&1 && echo "postgresql: up" || echo "postgresql: down"
  as_pg "$pg/pg_ctl" -D "$dir/replica" status >/dev/null 2>&1 && echo "replica: up" || echo "replica: down"
}

case "${1:-}" in
  ensure)
    if ! command -v haproxy >/dev/null; then
      echo "haproxy not found: installing it with apt-get"
      if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
      $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq haproxy >/dev/null
    fi
    ;;
  start) start "${2:?DIR}" "${3:-3}" "${4:-5090}" ;;
  stop) stop "${2:?DIR}" ;;
  status) status "${2:?DIR}" ;;
  haproxy-config) shift; haproxy_config "$@" ;;
  *) sed -n '2,10p' "$0"; exit 2 ;;
esac
