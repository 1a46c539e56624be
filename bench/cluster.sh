#!/usr/bin/env bash
# The cluster scenario (issue 15; docs/benchmarks.md "Several hosts"): `make bench-cluster`. For 1, 2 and 3 hosts behind
# HAProxy (scripts/cluster.sh, a fresh primary and replica each time), charges and then GETs of a page of payments at
# 32 connections with wrk; then GETs with 3 hosts reading the primary instead of the replica. Reports requests/s,
# non-2xx answers, and the hosts' (all of them), the primary's and the replica's CPU per request (all their processes, from /proc). Loopback only,
# bounded: BENCH_SECONDS (10) per measurement after BENCH_WARMUP (3); stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
SECONDS_=${BENCH_SECONDS:-10}; WARMUP=${BENCH_WARMUP:-3}; CLIENTS=${BENCH_FOCUS_CLIENTS:-32}; PORT=${BENCH_CLUSTER_PORT:-5190}
command -v wrk >/dev/null || { echo "wrk not found: installing it with apt-get"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
dotnet build src/Host -c Release -nologo -v quiet >/dev/null
export Ledger__RateLimit__PermitsPerSecond=1000000 Ledger__RateLimit__Burst=1000000 Serilog__MinimumLevel__Default=Warning
DIR=""
cleanup() { [ -z "$DIR" ] || { scripts/cluster.sh stop "$DIR" >/dev/null 2>&1 || true; rm -rf "$DIR"; }; }
trap cleanup EXIT

cpu_of() { # postmaster pid -> CPU ticks of it and its children
  local pm=$1 total=0
  for pid in $pm $(ps -o pid= --ppid "$pm"); do
    [ -r "/proc/$pid/stat" ] && total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo $total
}
hosts_cpu() { # CPU ticks of every host process of the cluster
  local total=0
  for f in "$DIR"/host*.pid; do total=$((total + $(awk '{print $14 + $15}' "/proc/$(cat "$f")/stat" 2>/dev/null || echo 0))); done
  echo $total
}
measure() { # label script -> one row
  local label=$1 script=$2 pp rp p0 r0 h0 out n rps non2xx p1 r1 h1
  pp=$(head -1 "$DIR/pg/postmaster.pid"); rp=$(head -1 "$DIR/replica/postmaster.pid")
  wrk -t2 -c"$CLIENTS" -d"${WARMUP}s" -s "bench/wrk/$script" "http://127.0.0.1:$PORT" >/dev/null
  p0=$(cpu_of "$pp"); r0=$(cpu_of "$rp"); h0=$(hosts_cpu)
  out=$(wrk -t2 -c"$CLIENTS" -d"${SECONDS_}s" -s "bench/wrk/$script" "http://127.0.0.1:$PORT")
  p1=$(cpu_of "$pp"); r1=$(cpu_of "$rp"); h1=$(hosts_cpu)
  n=$(awk '/requests in/{print $1}' <<<"$out"); rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/{print $NF}' <<<"$out")
  if [ "${non2xx:-0}" != 0 ]; then # show one such answer, to say what went wrong
    echo "bench: $label: ${non2xx} answers were not 2xx; one request now answers: $(curl -s -w ' (%{http_code})' -X POST "http://127.0.0.1:$PORT/v1/payments" \
      -H 'Authorization: Bearer sk_test_acme' -H "Idempotency-Key: probe-$RANDOM$RANDOM" -H 'Content-Type: application/json' \
      -d '{"amount":1250,"currency":"USD","card":{"number":"4242424242424242","expMonth":12,"expYear":2030,"cvc":"123"}}' | head -c 400)" >&2
  fi
  printf '| %s | %s | %s | %.2f | %.2f | %.2f |\n' "$label" "$rps" "${non2xx:-0}" "$(echo "($h1 - $h0) * 10 / $n" | bc -l)" \
    "$(echo "($p1 - $p0) * 10 / $n" | bc -l)" "$(echo "($r1 - $r0) * 10 / $n" | bc -l)"
}
start() { # hosts [replica reads 0|1]
  cleanup
  DIR="$(mktemp -d /tmp/ledger-bench-cluster.XXXXXX)"
  LEDGER_CLUSTER_REPLICA_READS=${2:-1} scripts/cluster.sh start "$DIR" "$1" "$PORT" >/dev/null
}

echo "| run | req/s | non-2xx | hosts' CPU ms/req | primary CPU ms/req | replica CPU ms/req |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for hosts in ${BENCH_CLUSTER_HOSTS:-1 2 3}; do
  start "$hosts"
  measure "charge, $hosts host(s)" charge.lua
  measure "GET list, $hosts host(s), replica reads" list.lua
done
[ -n "${BENCH_CLUSTER_SKIP_PRIMARY_READS:-}" ] && exit 0
start 3 0
measure "charge, 3 hosts (replica not read)" charge.lua
measure "GET list, 3 hosts, primary reads" list.lua
