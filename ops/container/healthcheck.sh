#!/bin/bash
# The image's HEALTHCHECK: healthy when the ledger's /health/ready answers 200 (database reachable, schema current,
# read tables present). Bash's /dev/tcp, so the runtime image needs no curl: one GET on the container's own HTTP port.
# A host still waiting for its database answers 503 (DatabaseWait.cs), which is unhealthy, as it should be.
set -uo pipefail
port=${LEDGER_HEALTH_PORT:-5080}
exec 3<>"/dev/tcp/127.0.0.1/$port" || { echo "nothing listens on $port"; exit 1; }
printf 'GET /health/ready HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
IFS= read -r -t 3 status <&3 || { echo "no answer from /health/ready"; exit 1; }
body=$(timeout 2 cat <&3 | tail -c 300)
case $status in
  "HTTP/1."?" 200 "*) exit 0 ;;
  *) echo "${status%$'\r'}: ${body##*$'\n'}"; exit 1 ;;
esac
