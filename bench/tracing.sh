#!/usr/bin/env bash
# What tracing costs charges (issue 17; docs/benchmarks.md "Tracing"): `make bench-tracing`. Three settings of the same
# Release host, in rounds ordered ABCCBA (BENCH_TRACING_ROUNDS of them, 2 by default): "off" (no exporter: the default),
# "0%" (OTLP exporter, SampleRatio 0) and "100%" (OTLP exporter, every trace recorded and sent). Each run: a fresh
# PostgreSQL (fsync on), a fresh host, an OTLP/HTTP sink (bench/otlp-sink.py) standing for the collector, wrk at
# BENCH_CLIENTS (32) connections making new charges, BENCH_WARMUP s (5) of warm-up then BENCH_SECONDS s (15) measured.
# Reports charges/s, host CPU ms per charge, peak RSS and what reached the sink; the same-run ratios against "off".
# Loopback only, bounded; stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${BENCH_TRACING_ROUNDS:-2}; CLIENTS=${BENCH_CLIENTS:-32}; WARMUP=${BENCH_WARMUP:-5}; SECONDS_=${BENCH_SECONDS:-15}
PG_BIN=/usr/lib/postgresql/15/bin
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
command -v wrk >/dev/null || { echo "wrk not found: installing it with apt-get"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
echo "building the host (Release)..." >&2
dotnet build src/Host -c Release -nologo -v quiet >/dev/null
HOSTDIR=src/Host/bin/Release/net10.0
WORK=$(mktemp -d /tmp/ledger-bench-tracing.XXXXXX); [ "$(id -u)" -ne 0 ] || chown postgres "$WORK"
cleanup() {
  [ ! -f "$WORK/pids" ] || kill $(cat "$WORK/pids") 2>/dev/null || true
  for d in "$WORK"/*/data; do [ -d "$d" ] && as_pg "$PG_BIN/pg_ctl" -D "$d" -m fast -w stop >/dev/null 2>&1 || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
TICK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run() { # variant [slot] -> "rate cpu_ms_per_charge peak_rss_mb sink"
  local variant=$1 dir="$WORK/${2:-a}" port=$((20000 + RANDOM % 20000)) env=()
  local host_port=$((port + 1)) sink_port=$((port + 2))
  rm -rf "$dir"; mkdir -p "$dir"; [ "$(id -u)" -ne 0 ] || chown postgres "$dir"
  as_pg "$PG_BIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-sync >/dev/null
  as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -w start -o "-p $port -k $dir -c listen_addresses=127.0.0.1 \
    -c fsync=on -c synchronous_commit=on -c shared_buffers=256MB -c max_connections=300 -c timezone=UTC" >/dev/null
  "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -qAt -c "create database ledger" >/dev/null
  bench/otlp-sink.py "$sink_port" >"$dir/sink.out" 2>&1 & local sink=$!
  case $variant in
    off) ;;
    0%) env=(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$sink_port" OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf Ledger__Telemetry__Traces__SampleRatio=0) ;;
    100%) env=(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$sink_port" OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf Ledger__Telemetry__Traces__SampleRatio=1) ;;
  esac
  (cd "$HOSTDIR" && exec env ConnectionStrings__Ledger="Host=127.0.0.1;Port=$port;Username=postgres;Database=ledger" \
    ASPNETCORE_ENVIRONMENT=Development Serilog__MinimumLevel__Default=Warning "${env[@]}" \
    dotnet Ledger.Host.dll --urls "http://127.0.0.1:$host_port") >"$dir/host.log" 2>&1 &
  local host=$!; echo "$host $sink" >>"$WORK/pids"
  for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$host_port/health/ready" >/dev/null && break; sleep 0.1; done
  wrk -t2 -c"$CLIENTS" -d"${WARMUP}s" -s bench/wrk/charge.lua "http://127.0.0.1:$host_port" >/dev/null
  local before; before=$(cpu_ticks "$host")
  local out; out=$(wrk -t2 -c"$CLIENTS" -d"${SECONDS_}s" -s bench/wrk/charge.lua "http://127.0.0.1:$host_port")
  local after; after=$(cpu_ticks "$host")
  local rss; rss=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$host/status")
  local rate; rate=$(awk '/Requests\/sec/ {print int($2)}' <<<"$out")
  local errors; errors=$(awk '/Non-2xx/ {print $5}' <<<"$out"); errors=${errors:-0}
  local requests; requests=$(awk '/requests in/ {print $1}' <<<"$out")
  kill "$host"; wait "$host" 2>/dev/null || true
  kill "$sink"; wait "$sink" 2>/dev/null || true
  as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
  local cpu; cpu=$(awk -v t=$((after - before)) -v hz="$TICK" -v n="$requests" 'BEGIN { printf "%.2f", t * 1000 / hz / n }')
  echo "$rate $cpu $rss $errors $(sed -n 's/otlp-sink: \([0-9]*\) requests, \([0-9]*\) bytes/\1 posts, \2 bytes/p' "$dir/sink.out")"
}


declare -A total count
printf '| round | setting | charges/s | host CPU ms per charge | peak RSS MB | non-2xx | what reached the sink |\n| --- | --- | ---: | ---: | ---: | ---: | --- |\n'
for round in $(seq 1 "$ROUNDS"); do
  for variant in off 0% 100% 100% 0% off; do
    read -r rate cpu rss errors sink <<<"$(run "$variant")"
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$round" "$variant" "$rate" "$cpu" "$rss" "$errors" "$sink"
    total[$variant]=$(( ${total[$variant]:-0} + rate )); count[$variant]=$(( ${count[$variant]:-0} + 1 ))
  done
done
off=$(( total[off] / count[off] ))
for variant in 0% 100%; do
  mean=$(( total[$variant] / count[$variant] ))
  echo "$variant: mean $mean charges/s against $off with tracing off: $(( mean * 100 / off ))%"
done
