#!/usr/bin/env bash
# What the metrics specs read /metrics and the alert rules with: the Prometheus client library's parser
# (python3-prometheus-client, for scripts/prom2json.py) and promtool (Debian's prometheus package). Installed with
# apt-get if missing; safe to run twice. Nothing is started.
#   scripts/observability.sh ensure
set -euo pipefail
[ "${1:-ensure}" = ensure ] || { echo "usage: scripts/observability.sh ensure" >&2; exit 2; }
if /usr/bin/python3 -c 'import prometheus_client' 2>/dev/null && command -v promtool >/dev/null; then exit 0; fi
echo "python3-prometheus-client or promtool not found: installing them with apt-get" >&2
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
# The prometheus package would start its server where an init system runs: keep it from doing so.
$SUDO apt-get update -qq
RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-prometheus-client prometheus >/dev/null
