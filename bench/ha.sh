#!/usr/bin/env bash
# The price of synchronous replication (issue 20; docs/benchmarks.md "Synchronous replication"): `make bench-ha`.
# Two setups of the same Release host, in rounds ordered ABBA (BENCH_HA_ROUNDS of them, 1 by default):
#   single: one PostgreSQL 15 (initdb defaults, fsync on, synchronous_commit on);
#   sync:   pg_auto_failover's primary and synchronous standby (scripts/ha.sh up: a commit waits for the standby).
# Each run: a fresh database, a fresh host, wrk at BENCH_CLIENTS (32) connections making new charges, BENCH_WARMUP s (5)
# of warm-up then BENCH_SECONDS s (15) measured. Reports charges/s, p50/p99 latency, host CPU ms per charge, and the
# same-run ratio sync/single. Loopback only, bounded; stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${BENCH_HA_ROUNDS:-1}; CLIENTS=${BENCH_CLIENTS:-32}; WARMUP=${BENCH_WARMUP:-5}; SECONDS_=${BENCH_SECONDS:-15}
PG_BIN=/usr/lib/postgresql/15/bin
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
command -v wrk >/dev/null || { echo "wrk not found: installing it with apt-get"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
scripts/ha.sh ensure
echo "building the host (Release)..." >&2
dotnet build src/Host -c Release -nologo -v quiet >/dev/null
HOSTDIR=src/Host/bin/Release/net10.0
WORK=$(mktemp -d /tmp/ledger-bench-ha.XXXXXX); [ "$(id -u)" -ne 0 ] || chown postgres "$WORK"
cleanup() {
  [ ! -f "$WORK/pids" ] || kill $(cat "$WORK/pids") 2>/dev/null || true
  [ ! -d "$WORK/single/data" ] || as_pg "$PG_BIN/pg_ctl" -D "$WORK/single/data" -m fast -w stop >/dev/null 2>&1 || true
  scripts/ha.sh down "$WORK/ha" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
TICK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run() { # single|sync -> "rate p50 p99 cpu_ms_per_charge errors"
  local setup=$1 port=$((20000 + RANDOM % 20000)) connection
  local host_port=$((port + 5))
  if [ "$setup" = single ]; then
    local dir="$WORK/single"; rm -rf "$dir"; mkdir -p "$dir"; [ "$(id -u)" -ne 0 ] || chown postgres "$dir"
    as_pg "$PG_BIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 >/dev/null
    as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -w start -o "-p $port -k $dir -c listen_addresses=127.0.0.1" >/dev/null
    "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -qAt -c "create database ledger" >/dev/null
    connection="Host=127.0.0.1;Port=$port;Username=postgres;Database=ledger"
  else
    scripts/ha.sh up "$WORK/ha" "$port" $((port + 1)) $((port + 2)) >/dev/null
    connection=$(scripts/ha.sh url "$WORK/ha")
  fi
  (cd "$HOSTDIR" && exec env ConnectionStrings__Ledger="$connection" ASPNETCORE_ENVIRONMENT=Development Serilog__MinimumLevel__Default=Warning \
    dotnet Ledger.Host.dll --urls "http://127.0.0.1:$host_port") >"$WORK/host-$setup.log" 2>&1 &
  local host=$!; echo "$host" >>"$WORK/pids"
  local ready=0
  for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$host_port/health/ready" >/dev/null && { ready=1; break; }; sleep 0.1; done
  [ $ready = 1 ] || { echo "the host ($setup) was not ready within 60 s:" >&2; tail -20 "$WORK/host-$setup.log" >&2; return 1; }
  wrk -t2 -c"$CLIENTS" -d"${WARMUP}s" -s bench/wrk/charge.lua "http://127.0.0.1:$host_port" >/dev/null
  local before; before=$(cpu_ticks "$host")
  local out; out=$(wrk -t2 -c"$CLIENTS" -d"${SECONDS_}s" --latency -s bench/wrk/charge.lua "http://127.0.0.1:$host_port")
  local after; after=$(cpu_ticks "$host")
  kill "$host"; wait "$host" 2>/dev/null || true
  if [ "$setup" = single ]; then as_pg "$PG_BIN/pg_ctl" -D "$WORK/single/data" -m fast -w stop >/dev/null; rm -rf "$WORK/single"
  else scripts/ha.sh down "$WORK/ha" >/dev/null; fi
  local rate p50 p99 requests errors
  rate=$(awk '/Requests\/sec/ {print int($2)}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out"); p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  errors=$(awk '/Non-2xx/ {print $5}' <<<"$out"); errors=${errors:-0}
  echo "$rate $p50 $p99 $(awk -v t=$((after - before)) -v hz="$TICK" -v n="$requests" 'BEGIN { printf "%.2f", t * 1000 / hz / n }') $errors"
}

echo "# bench-ha $(date -u +%FT%TZ) $(git rev-parse --short HEAD) on $(nproc) cores; $CLIENTS clients, ${WARMUP}s warm-up, ${SECONDS_}s measured"
printf '%-7s %10s %8s %8s %14s %7s\n' setup charges/s p50 p99 "host ms/charge" errors
declare -A total=([single]=0 [sync]=0)
for _ in $(seq 1 "$ROUNDS"); do
  for setup in single sync sync single; do
    read -r rate p50 p99 cpu errors < <(run "$setup")
    printf '%-7s %10s %8s %8s %14s %7s\n' "$setup" "$rate" "$p50" "$p99" "$cpu" "$errors"
    total[$setup]=$(( ${total[$setup]} + rate ))
  done
done
awk -v a="${total[sync]}" -v b="${total[single]}" 'BEGIN { printf "sync/single: %.0f%% (sum of the runs)\n", 100 * a / b }'
