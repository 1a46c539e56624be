#!/usr/bin/env bash
# The benchmark (issue 6; docs/benchmarks.md): builds the host in Release, starts a fresh throwaway PostgreSQL 15
# on loopback (fsync on), starts the ledger against it, measures start-up to ready, runs every scenario of
# bench/Ledger.Bench for a bounded time, runs pgbench with the SQL of one charge (bench/pgbench/charge.sql) as the
# ceiling, tops the log up to 1,000,000 events with bench/Ledger.Seed and times `projections rebuild`, prints one
# table and stops everything it started (also on Ctrl-C or failure). Results are also saved under bench/results/.
# Every load targets 127.0.0.1 and stops by itself.
#
#   make bench                      # or: bench/run.sh
#   BENCH_SECONDS=5 make bench      # a short smoke run
#
# Settings (environment):
#   BENCH_SECONDS=20          measured seconds per scenario run       BENCH_WARMUP=2   warm-up seconds, not counted
#   BENCH_CLIENTS=1,8,32,64   concurrency levels of the charge and ceiling runs
#   BENCH_FOCUS_CLIENTS=32    concurrency of replay, mixed and read, and of the lock-wait sampling
#   BENCH_MERCHANTS=16        merchants in the many-merchant runs (acme, globex + bm3.., keys sk_bench_m3.., added by env)
#   BENCH_SCENARIOS=charge,replay,mixed,read,ceiling,rebuild,grpc,webhooks,cluster      BENCH_REBUILD_EVENTS=1000000
#                             grpc: charges over gRPC against HTTP (ABBA at BENCH_FOCUS_CLIENTS), WatchLog's catch-up rate
#                             for one subscriber, and four subscribers' lag while charges run
#                             webhooks: charges at BENCH_FOCUS_CLIENTS with two webhook endpoints per merchant and the
#                             RabbitMQ broker on, against the same charges with neither, each on a host of its own
#                             restarted in ABBA order (off, on, on, off); with the lag from commit to delivery
#                             cluster: 1, 2 and 3 hosts behind HAProxy with a replica (bench/cluster.sh, clusters of its own),
#                             after everything else, this run's host and PostgreSQL stopped first; not with BENCH_BASELINE
#   BENCH_PG_BIN=/usr/lib/postgresql/15/bin                       BENCH_KEEP=1: keep the data directory and logs
#   BENCH_CONNECTION_OPTIONS='No Reset On Close=true'  appended to the host's connection string, for experiments
#   BENCH_PG_OPTIONS='-c log_min_duration_statement=0'  appended to the postgres command line, for experiments
#   BENCH_HOST_ENV='NAME=value ...'                      extra environment for the host, for experiments
#   BENCH_BASELINE=<git ref>  also build that ref in a temporary git worktree and run the same scenarios against it,
#                             each run on a fresh cluster of its own (its host, seed tool and pgbench script; this
#                             tree's load driver), in ABBA order (baseline, this tree, this tree, baseline) so a drift
#                             of the machine cancels out; prints new/baseline per row (bench/compare.py)
#   BENCH_ROUNDS=2            rounds of the ABBA order (1: baseline then this tree); rebuild runs in the first round only
#   BENCH_SKIP_BUILD=1        use the Release builds already there (two runs started at once must not build together)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
# Where the host, the seed tool and the pgbench script come from: this tree, or a baseline's worktree.
SRC_ROOT="${BENCH_SRC_ROOT:-$ROOT}"

if [ -n "${BENCH_BASELINE:-}" ]; then
  ref="$(git rev-parse --verify "${BENCH_BASELINE}^{commit}")" || { echo "bench: BENCH_BASELINE=$BENCH_BASELINE is not a commit" >&2; exit 2; }
  BASE_TREE="$(mktemp -d /tmp/ledger-bench-baseline.XXXXXX)"
  remove_tree() { git worktree remove --force "$BASE_TREE" >/dev/null 2>&1 || rm -rf "$BASE_TREE"; git worktree prune; }
  trap remove_tree EXIT
  git worktree add --detach "$BASE_TREE" "$ref" >/dev/null
  mkdir -p bench/results
  stamp="$(date -u +%Y%m%dT%H%M%SZ)"
  rounds="${BENCH_ROUNDS:-2}"
  [[ "$rounds" =~ ^[12]$ ]] || { echo "bench: BENCH_ROUNDS must be 1 or 2" >&2; exit 2; }
  # The cluster scenario compares host counts within one tree, not two commits: left out here (make bench-cluster).
  scenarios="$(tr ',' '\n' <<<"${BENCH_SCENARIOS:-charge,replay,mixed,read,ceiling,rebuild,webhooks}" | { grep -vx cluster || true; } | paste -sd, -)"
  later="$(tr ',' '\n' <<<"$scenarios" | { grep -vx rebuild || true; } | paste -sd, -)"
  echo "bench: baseline $(git rev-parse --short "$ref") ($(git log -1 --format=%s "$ref" | cut -c1-60)) in $BASE_TREE" >&2
  echo "bench: this tree, $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ' with uncommitted changes')" >&2
  base_outs=(); new_outs=()
  run_side() { # side round scenarios
    local out="bench/results/$stamp-$1-$2.md"
    echo "bench: round $2, $1" >&2
    if [ "$1" = baseline ]; then
      # A baseline older than the webhooks has no webhook endpoints: the webhooks scenario compares this tree with itself.
      local base_scenarios; base_scenarios="$(tr ',' '\n' <<<"$3" | { grep -vx webhooks || true; } | paste -sd, -)"
      BENCH_BASELINE= BENCH_SRC_ROOT="$BASE_TREE" BENCH_OUT="$out" BENCH_SCENARIOS="$base_scenarios" "$ROOT/bench/run.sh"; base_outs+=("$out")
    else
      BENCH_BASELINE= BENCH_OUT="$out" BENCH_SCENARIOS="$3" "$ROOT/bench/run.sh"; new_outs+=("$out")
    fi
  }
  run_side baseline 1 "$scenarios"
  run_side new 1 "$scenarios"
  if [ "$rounds" = 2 ] && [ -n "$later" ]; then
    run_side new 2 "$later"
    run_side baseline 2 "$later"
  fi
  echo
  python3 bench/compare.py "$(IFS=,; echo "${base_outs[*]}")" "$(IFS=,; echo "${new_outs[*]}")" \
    "$(git rev-parse --short "$ref")" "$(git rev-parse --short HEAD)" | tee "bench/results/$stamp-compare.md"
  exit 0
fi

BENCH_SECONDS="${BENCH_SECONDS:-20}"
BENCH_WARMUP="${BENCH_WARMUP:-2}"
BENCH_CLIENTS="${BENCH_CLIENTS:-1,8,32,64}"
BENCH_FOCUS_CLIENTS="${BENCH_FOCUS_CLIENTS:-32}"
BENCH_MERCHANTS="${BENCH_MERCHANTS:-16}"
BENCH_SCENARIOS="${BENCH_SCENARIOS:-charge,replay,mixed,read,ceiling,rebuild,grpc,webhooks,cluster}"
BENCH_REBUILD_EVENTS="${BENCH_REBUILD_EVENTS:-1000000}"
PG_BIN="${BENCH_PG_BIN:-/usr/lib/postgresql/15/bin}"
HOST_DIR="$SRC_ROOT/src/Host/bin/Release/net10.0"
DRIVER="$ROOT/bench/Ledger.Bench/bin/Release/net10.0/Ledger.Bench.dll"
SEED="$SRC_ROOT/bench/Ledger.Seed/bin/Release/net10.0/Ledger.Seed.dll"
DB=ledger

export PGCONNECT_TIMEOUT=10
log() { echo "bench: $*" >&2; }
die() { log "$*"; exit 1; }
is_root() { [ "$(id -u)" -eq 0 ]; }
as_pg() { if is_root; then runuser -u postgres -- "$@"; else "$@"; fi; }

for v in BENCH_SECONDS BENCH_WARMUP BENCH_FOCUS_CLIENTS BENCH_MERCHANTS BENCH_REBUILD_EVENTS; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a whole number (got '${!v}')"
done
[[ "$BENCH_CLIENTS" =~ ^[0-9]+(,[0-9]+)*$ ]] || die "BENCH_CLIENTS must look like 1,8,32,64 (got '$BENCH_CLIENTS')"
[ "$BENCH_SECONDS" -ge 1 ] || die "BENCH_SECONDS must be at least 1"

# ---------------------------------------------------------------- cleanup: whatever happens, stop what we started
WORK=""
HOST_PID=""
PG_STARTED=""
BROKER_DIR=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [ -n "$BROKER_DIR" ] && "$ROOT/scripts/rabbitmq.sh" stop "$BROKER_DIR" >/dev/null 2>&1 || true
  if [ -n "$HOST_PID" ] && kill -0 "$HOST_PID" 2>/dev/null; then
    kill -TERM "$HOST_PID" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$HOST_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$HOST_PID" 2>/dev/null; then log "host did not stop in 15 s: killing it"; kill -KILL "$HOST_PID" 2>/dev/null || true; fi
    wait "$HOST_PID" 2>/dev/null || true
  fi
  if [ -n "$PG_STARTED" ] && [ -f "$WORK/data/postmaster.pid" ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$WORK/data" -m fast -w -t 60 stop >/dev/null 2>&1 \
      || as_pg "$PG_BIN/pg_ctl" -D "$WORK/data" -m immediate -w -t 30 stop >/dev/null 2>&1 \
      || log "could not stop PostgreSQL in $WORK/data"
  fi
  if [ -n "$WORK" ]; then
    # Kept for inspection after a failure (not after Ctrl-C) or when asked.
    if [ -n "${BENCH_KEEP:-}" ] || { [ "$rc" -ne 0 ] && [ "$rc" -ne 130 ] && [ "$rc" -ne 143 ]; }; then
      log "kept $WORK (host.log, pg.log, data/)"
    else
      rm -rf "$WORK"
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- prerequisites and build
if [ ! -x "$PG_BIN/postgres" ]; then
  scripts/pg.sh ensure
  if [ ! -x "$PG_BIN/postgres" ]; then
    PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    [ -x "$PG_BIN/postgres" ] || die "PostgreSQL server binaries not found (set BENCH_PG_BIN)"
    log "PostgreSQL 15 not found: using $PG_BIN"
  fi
fi
[ -x "$PG_BIN/pgbench" ] || die "pgbench not found in $PG_BIN"
if is_root && ! id postgres >/dev/null 2>&1; then scripts/pg.sh ensure; fi

if [ -n "${BENCH_SKIP_BUILD:-}" ]; then
  log "not building (BENCH_SKIP_BUILD): using the Release builds already there"
else
  log "building the host, the load driver and the seed tool (Release)..."
  build() { timeout --foreground -k 10 900 dotnet build "$1" -c Release -nologo -v quiet; }
  for project in "$SRC_ROOT/src/Host" "$ROOT/bench/Ledger.Bench" "$SRC_ROOT/bench/Ledger.Seed"; do
    build "$project" >/dev/null || { build "$project" | tail -n 30; die "$project: build failed"; }
  done
fi

# ---------------------------------------------------------------- a fresh cluster on a free loopback port
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 40000))
    if ! port_in_use "$p" && [ "$p" != "${1:-}" ]; then echo "$p"; return 0; fi
  done
  die "no free port found"
}

WORK="$(mktemp -d /tmp/ledger-bench.XXXXXX)"
is_root && chown postgres "$WORK"
PG_PORT="$(pick_port)"
log "PostgreSQL: initdb in $WORK/data, port $PG_PORT (fsync on)"
as_pg "$PG_BIN/initdb" -D "$WORK/data" -U postgres -A trust -E UTF8 --no-sync >"$WORK/initdb.log" 2>&1 \
  || { cat "$WORK/initdb.log" >&2; die "initdb failed"; }
PG_STARTED=1
as_pg "$PG_BIN/pg_ctl" -D "$WORK/data" -l "$WORK/pg.log" -w -t 60 start -o "-p $PG_PORT -k $WORK \
  -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on -c full_page_writes=on \
  -c max_connections=300 -c shared_buffers=256MB -c timezone=UTC $(tr ',' '\n' <<<"$BENCH_SCENARIOS" | grep -qx webhooks && echo '-c track_commit_timestamp=on') ${BENCH_PG_OPTIONS:-}" >/dev/null \
  || { tail -n 20 "$WORK/pg.log" >&2; die "PostgreSQL did not start"; }
"$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qAt -v ON_ERROR_STOP=1 -c "create database $DB" >/dev/null
CONN="Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Database=$DB${BENCH_CONNECTION_OPTIONS:+;$BENCH_CONNECTION_OPTIONS}"

# ---------------------------------------------------------------- the host, and its start-up to ready
HOST_PORT="$(pick_port "$PG_PORT")"
GRPC_PORT="$(pick_port "$HOST_PORT")"
HOST_ENV=(
  # gRPC's HTTP/2 endpoint (the grpc scenario); a baseline older than gRPC ignores it.
  "Ledger__Grpc__Url=http://127.0.0.1:$GRPC_PORT"
  ASPNETCORE_ENVIRONMENT=Development
  "ConnectionStrings__Ledger=$CONN"
  Serilog__MinimumLevel__Default=Warning
  # The per-key rate limit (2000/s) is a policy, not capacity: lift it so it does not cap the read scenarios.
  Ledger__RateLimit__PermitsPerSecond=1000000
  Ledger__RateLimit__Burst=1000000
)
# Extra host settings for experiments, e.g. BENCH_HOST_ENV='DOTNET_gcServer=1 Ledger__Gateway__Simulator__LatencyMs=5'.
read -r -a extra_env <<<"${BENCH_HOST_ENV:-}"
HOST_ENV+=("${extra_env[@]}")
# Extra merchants after the three development keys (0..2 in appsettings.Development.json): indices append.
KEYS="sk_test_acme"
[ "$BENCH_MERCHANTS" -ge 2 ] && KEYS="$KEYS,sk_test_globex"
for i in $(seq 3 "$BENCH_MERCHANTS"); do
  HOST_ENV+=("Ledger__ApiKeys__${i}__Key=sk_bench_m$i" "Ledger__ApiKeys__${i}__Role=merchant" "Ledger__ApiKeys__${i}__MerchantId=bm$i")
  KEYS="$KEYS,sk_bench_m$i"
done

ready() {
  ( exec 3<>"/dev/tcp/127.0.0.1/$HOST_PORT" || exit 1
    printf 'GET /health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
    IFS= read -r -t 2 status <&3 || exit 1
    [[ "$status" == *" 200 "* ]] ) 2>/dev/null
}

log "host: http://127.0.0.1:$HOST_PORT"
start_host() { # extra environment for this start
  ( cd "$HOST_DIR" && exec env "${HOST_ENV[@]}" "$@" dotnet Ledger.Host.dll --urls "http://127.0.0.1:$HOST_PORT" ) >>"$WORK/host.log" 2>&1 &
  HOST_PID=$!
  local deadline=$(( $(date +%s) + 60 ))
  until ready; do
    kill -0 "$HOST_PID" 2>/dev/null || { tail -n 30 "$WORK/host.log" >&2; die "the host exited during start-up"; }
    [ "$(date +%s)" -lt "$deadline" ] || { tail -n 30 "$WORK/host.log" >&2; die "the host was not ready within 60 s"; }
    sleep 0.02
  done
}
stop_host() {
  kill -TERM "$HOST_PID" 2>/dev/null || true
  for _ in $(seq 1 150); do kill -0 "$HOST_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$HOST_PID" 2>/dev/null || true
  wait "$HOST_PID" 2>/dev/null || true
  HOST_PID=""
}
START_NS="$(date +%s%N)"
start_host
STARTUP_MS=$(( ($(date +%s%N) - START_NS) / 1000000 ))
log "ready after ${STARTUP_MS} ms"

# ---------------------------------------------------------------- the scenarios and the table
MACHINE="Machine: $(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1), $(nproc) CPUs, \
$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r); \
$("$PG_BIN/postgres" --version); .NET $(dotnet --list-runtimes | sed -n 's/^Microsoft.AspNetCore.App \([^ ]*\).*/\1/p' | tail -n 1). \
PostgreSQL: fresh cluster, fsync=on, synchronous_commit=on, shared_buffers=256MB, max_connections=300; \
the host, the load driver and PostgreSQL share the machine."
nclients=$(tr ',' '\n' <<<"$BENCH_CLIENTS" | wc -l)
LIMIT=$(( (3 * nclients + 6) * (BENCH_WARMUP + BENCH_SECONDS + 60) + 4200 ))
mkdir -p bench/results
OUT="${BENCH_OUT:-bench/results/$(date -u +%Y%m%dT%H%M%SZ).md}"
driver() { # scenarios clients -> the driver's table on stdout
  timeout --foreground -k 30 "$LIMIT" dotnet "$DRIVER" \
    --url "http://127.0.0.1:$HOST_PORT" --host-pid "$HOST_PID" --host-dll "$HOST_DIR/Ledger.Host.dll" \
    --pg-port "$PG_PORT" --pg-pid "$(head -n 1 "$WORK/data/postmaster.pid")" --database "$DB" --pgbench "$PG_BIN/pgbench" \
    --pgbench-script "$SRC_ROOT/bench/pgbench/charge.sql" --seed-dll "$SEED" --connection-string "$CONN" \
    --merchant-keys "$KEYS" --clients "$2" --focus-clients "$BENCH_FOCUS_CLIENTS" \
    --seconds "$BENCH_SECONDS" --warmup "$BENCH_WARMUP" --startup-ms "$STARTUP_MS" \
    --rebuild-events "$BENCH_REBUILD_EVENTS" --scenarios "$1" --machine "$MACHINE" --grpc-url "http://127.0.0.1:$GRPC_PORT"
}
MAIN_SCENARIOS="$(tr ',' '\n' <<<"$BENCH_SCENARIOS" | { grep -vxE 'webhooks|cluster' || true; } | paste -sd, -)"
: > "$OUT"
[ -n "$MAIN_SCENARIOS" ] && driver "$MAIN_SCENARIOS" "$BENCH_CLIENTS" | tee "$OUT"

# Issue 14: the same charges with two webhook endpoints per merchant and the broker on, against neither, each on a host
# restarted for it, in ABBA order so a drift of the machine cancels out.
if tr ',' '\n' <<<"$BENCH_SCENARIOS" | grep -qx webhooks; then
  "$ROOT/scripts/rabbitmq.sh" ensure >&2
  BROKER_DIR="$WORK/rabbitmq"; BROKER_PORT="$(pick_port "$PG_PORT")"
  log "RabbitMQ: 127.0.0.1:$BROKER_PORT"
  "$ROOT/scripts/rabbitmq.sh" start "$BROKER_DIR" "$BROKER_PORT" || die "RabbitMQ did not start"
  declare -a webhook_rates=()
  for side in off on on off; do
    stop_host
    if [ "$side" = on ]; then start_host "Ledger__RabbitMq__Uri=$("$ROOT/scripts/rabbitmq.sh" url "$BROKER_PORT")"; else start_host; fi
    log "webhooks $side (host restarted$([ "$side" = on ] && echo ", broker on"))"
    driver "webhooks-$side" "$BENCH_FOCUS_CLIENTS" > "$WORK/webhooks-$side.md"
    rate="$(sed -n "s/^| webhooks $side: charge[^|]*|[^|]*| *\([0-9.]*\) *|.*/\1/p" "$WORK/webhooks-$side.md" | head -n 1)"
    webhook_rates+=("$side:$rate")
    grep '^webhooks:' "$WORK/webhooks-$side.md" | tee -a "$WORK/webhook-lags.txt" >&2 || true
  done
  python3 - "${webhook_rates[@]}" <<'PY' | tee -a "$OUT"
import sys
runs = [a.split(":") for a in sys.argv[1:]]
off = [float(r) for s, r in runs if s == "off" and r]; on = [float(r) for s, r in runs if s == "on" and r]
if off and on:
    ratio = sum(on) / len(on) / (sum(off) / len(off))
    print(f"\nWebhooks and broker (issue 14), charges at the focus concurrency, ABBA: with two endpoints per merchant and the broker "
          f"{sum(on)/len(on):.0f}/s ({', '.join(f'{x:.0f}' for x in on)}), without {sum(off)/len(off):.0f}/s ({', '.join(f'{x:.0f}' for x in off)}): "
          f"{ratio:.0%} [{'PASS' if ratio >= 0.90 else 'FAIL'} within 10%]")
PY
  cat "$WORK/webhook-lags.txt" >> "$OUT"
fi
kill -0 "$HOST_PID" 2>/dev/null || { tail -n 30 "$WORK/host.log" >&2; die "the host died during the run"; }
log "results saved in $OUT"
# Wolverine logs its RabbitMQ sender's first sends after a start, made before its channel is open, as errors; it keeps the
# envelopes and sends them again (the outbox), so those are not the host's errors.
if grep -E '\b(ERR|FTL)\b' "$WORK/host.log" | grep -qvE 'Failed to send outgoing envelopes batch to rabbitmq://'; then
  log "the host logged errors: the first ones below; its log is kept"
  grep -E '\b(ERR|FTL)\b' "$WORK/host.log" | grep -vE 'Failed to send outgoing envelopes batch to rabbitmq://' | head -n 5 >&2
  exit 1
fi
if tr ',' '\n' <<<"$BENCH_SCENARIOS" | grep -qx cluster; then
  log "cluster: 1, 2 and 3 hosts behind HAProxy (bench/cluster.sh); this run's host and PostgreSQL stopped first"
  kill -TERM "$HOST_PID" 2>/dev/null || true; wait "$HOST_PID" 2>/dev/null || true; HOST_PID=""
  as_pg "$PG_BIN/pg_ctl" -D "$WORK/data" -m fast -w stop >/dev/null; PG_STARTED=""
  "$ROOT/scripts/cluster.sh" ensure
  { echo; echo "### cluster: 1, 2 and 3 hosts behind HAProxy (bench/cluster.sh)"; echo; "$ROOT/bench/cluster.sh"; } | tee -a "$OUT"
fi
