#!/usr/bin/env bash
# The console's speed (issue 16; docs/benchmarks.md "The console"): `make bench-console`. A fresh PostgreSQL and a
# Release host; bench/Ledger.Seed gives one merchant (m0) BENCH_CONSOLE_PAYMENTS payments (1,000,000: 3,000,000
# events), `projections rebuild payment_views` builds their rows; then, signed in as that merchant through the form,
# the payments page is fetched
# BENCH_CONSOLE_REQUESTS times (100) per shape, one at a time, and its own server time (Server-Timing page;dur) and the
# time curl saw are reported: p50, p95, max. Target: the first page under 100 ms of server time. Loopback only,
# bounded; stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
PAYMENTS=${BENCH_CONSOLE_PAYMENTS:-1000000}; REQUESTS=${BENCH_CONSOLE_REQUESTS:-100}
PG_BIN=/usr/lib/postgresql/15/bin
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
echo "building the host and the seed tool (Release)..." >&2
dotnet build src/Host -c Release -nologo -v quiet >/dev/null
dotnet build bench/Ledger.Seed -c Release -nologo -v quiet >/dev/null
HOSTDIR=src/Host/bin/Release/net10.0
SEED=$(ls bench/Ledger.Seed/bin/Release/net10.0/Ledger.Seed.dll)

WORK=$(mktemp -d /tmp/ledger-bench-console.XXXXXX); [ "$(id -u)" -ne 0 ] || chown postgres "$WORK"
PG_PORT=$((20000 + RANDOM % 20000)); HOST_PORT=$((PG_PORT + 1)); HOST_PID=""
cleanup() {
  [ -z "$HOST_PID" ] || kill "$HOST_PID" 2>/dev/null || true
  as_pg "$PG_BIN/pg_ctl" -D "$WORK/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
as_pg "$PG_BIN/initdb" -D "$WORK/data" -U postgres -A trust -E UTF8 --no-sync >/dev/null
as_pg "$PG_BIN/pg_ctl" -D "$WORK/data" -l "$WORK/pg.log" -w start -o "-p $PG_PORT -k $WORK -c listen_addresses=127.0.0.1 \
  -c fsync=off -c synchronous_commit=off -c shared_buffers=256MB -c max_wal_size=4GB -c timezone=UTC" >/dev/null
# fsync off: this measures reads, and seeding 3,000,000 events with it on takes 9 minutes here instead of a few.
"$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qAt -c "create database ledger" >/dev/null
CONN="Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Database=ledger"
export ConnectionStrings__Ledger="$CONN" ASPNETCORE_ENVIRONMENT=Development Serilog__MinimumLevel__Default=Warning \
  Ledger__ApiKeys__3__Key=sk_bench_console_m0 Ledger__ApiKeys__3__Role=merchant Ledger__ApiKeys__3__MerchantId=m0
(cd "$HOSTDIR" && exec dotnet Ledger.Host.dll --urls "http://127.0.0.1:$HOST_PORT") >"$WORK/host.log" 2>&1 &
HOST_PID=$!
for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$HOST_PORT/health/ready" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$HOST_PORT/health/ready" >/dev/null || { tail -20 "$WORK/host.log" >&2; echo "the host did not start" >&2; exit 1; }

echo "seeding $PAYMENTS payments for merchant m0 ($((PAYMENTS * 3)) events)..." >&2
dotnet "$SEED" $((PAYMENTS * 3)) 1 >&2
echo "projections rebuild payment_views..." >&2
(cd "$HOSTDIR" && dotnet Ledger.Host.dll projections rebuild payment_views) | tail -1 >&2
"$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d ledger -qAt -c "vacuum analyze payment_views" >/dev/null
rows=$("$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d ledger -qAt -c "select count(*) from payment_views where merchant_id = 'm0'")

JAR="$WORK/cookies"; URL="http://127.0.0.1:$HOST_PORT"
csrf=$(curl -sf -c "$JAR" -b "$JAR" "$URL/console/sign-in" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' | head -1)
curl -sf -c "$JAR" -b "$JAR" -o /dev/null --data-urlencode "key=sk_bench_console_m0" --data-urlencode "csrf=$csrf" "$URL/console/sign-in"
deep=$("$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d ledger -qAt -c \
  "select id from payment_views where merchant_id = 'm0' order by created_at desc, id desc offset 500000 limit 1")

measure() { # label query -> a table row
  local label=$1 query=$2 server=() client=() status line
  for i in $(seq 1 $((REQUESTS + 5))); do
    line=$(curl -s -b "$JAR" -o /dev/null -D - -w 'total=%{time_total} code=%{http_code}\n' "$URL/console/payments$query")
    status=$(sed -n 's/.*code=\([0-9]*\).*/\1/p' <<<"$line")
    [ "$status" = 200 ] || { echo "bench-console: $label answered $status" >&2; exit 1; }
    [ "$i" -le 5 ] && continue # warm-up
    server+=("$(sed -n 's/.*page;dur=\([0-9.]*\).*/\1/p' <<<"$line" | tr -d '\r')")
    client+=("$(sed -n 's/.*total=\([0-9.]*\).*/\1/p' <<<"$line" | awk '{print $1 * 1000}')")
  done
  python3 - "$label" "${server[*]}" "${client[*]}" <<'PY'
import sys
label, server, client = sys.argv[1], [float(x) for x in sys.argv[2].split()], [float(x) for x in sys.argv[3].split()]
def q(v, p): v = sorted(v); return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]
print(f"| {label} | {q(server,50):.1f} | {q(server,95):.1f} | {max(server):.1f} | {q(client,50):.1f} | {q(client,95):.1f} |")
PY
}
echo
echo "Machine: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1), $(nproc) CPUs; $("$PG_BIN/postgres" --version); merchant m0 has $rows payments; $REQUESTS requests per row, one at a time, after 5 to warm up."
echo
echo "| payments page (merchant with $rows payments) | server p50 ms | server p95 ms | server max ms | curl p50 ms | curl p95 ms |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
measure "first page" ""
measure "a page half way down (keyset, after=)" "?after=$deep"
measure "search by order id" "?q=order-123456"
measure "currency EUR, amount 50.00 to 60.00" "?currency=EUR&min=50.00&max=60.00"
measure "created on one day (2026-10-20)" "?from=2026-10-20&to=2026-10-20"
measure "status refunded (none: every row of m0 is read)" "?status=refunded"
