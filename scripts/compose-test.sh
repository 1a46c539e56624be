#!/usr/bin/env bash
# The Dockerfile and docker-compose.yml, run end to end under rootful Podman (issue 21): `make compose-test`.
#
#   scripts/compose-test.sh [test|ensure|bases|clean]
#     test    (default) ensure, bases, then: build the images from a clean copy of the committed tree, start the ledger
#             before its database, watch it wait, start the database, wait for ready, drive a charge, its replay, a
#             refund and a receipt through the published port, run `audit verify` inside the ledger's container, and
#             tear down the containers, the network and the volumes. Ends with one line: "compose-test: passed|failed|skipped ...".
#     ensure  installs podman, podman-compose, debootstrap, runc, netavark, aardvark-dns, iptables with apt-get if missing,
#             and writes Podman's configuration under $LEDGER_PODMAN_DIR.
#     bases   the base images the files name: pulled where a registry answers, else local stand-ins built here
#             (debootstrap's Debian 12, Debian's postgresql-15, this machine's .NET runtime and SDK). Kept between runs.
#     clean   removes everything under $LEDGER_PODMAN_DIR (images included) and netavark's iptables chains.
#
# Podman's storage and configuration live under LEDGER_PODMAN_DIR (default /var/tmp/ledger-podman, about 2 GB with
# the stand-ins), never in /etc/containers. Ports: LEDGER_HTTP_PORT (5280), LEDGER_GRPC_PORT (5281), LEDGER_PG_PORT
# (55480), so that `make run` may run beside it. Needs root (rootful Podman; apt-get).
#
# What this machine kind taught (docs/decisions/0021-containers.md): crun refuses its hybrid cgroups, so runc; no
# CAP_SYS_RESOURCE, so the containers' rlimits must not exceed the caller's; netavark needs the iptables binary;
# podman-compose 1.0.3 ignores `condition: service_healthy`, and Podman runs no healthchecks on a timer without
# systemd (`podman healthcheck run` runs one); Podman keeps a HEALTHCHECK only in docker-format images.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
DIR=${LEDGER_PODMAN_DIR:-/var/tmp/ledger-podman}
export LEDGER_HTTP_PORT=${LEDGER_HTTP_PORT:-5280} LEDGER_GRPC_PORT=${LEDGER_GRPC_PORT:-5281} LEDGER_PG_PORT=${LEDGER_PG_PORT:-55480}
export CONTAINERS_CONF=$DIR/containers.conf CONTAINERS_STORAGE_CONF=$DIR/storage.conf
export BUILDAH_FORMAT=docker     # keeps the Dockerfile's HEALTHCHECK (OCI images have none)
export DEBIAN_FRONTEND=noninteractive
PROJECT=ledgercomposetest
LOG=$DIR/log
URL=http://127.0.0.1:$LEDGER_HTTP_PORT
PACKAGES=(podman podman-compose debootstrap runc netavark aardvark-dns iptables)

say() { echo "compose-test: $*"; }
ms() { echo $(( $(date +%s%N) / 1000000 )); }
T0=$(ms)
TIMINGS=()
lap() { TIMINGS+=("$1 $(( ($(ms) - T0) / 1000 )) s"); }

ensure() {
  local missing=()
  for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || { echo "needs root to install ${missing[*]}"; return 1; }
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  fi
  mkdir -p "$DIR" "$LOG"
  local nofile nproc
  nofile=$(ulimit -Hn); nproc=$(ulimit -Hu)
  if [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; then nproc=32768; fi
  cat >"$CONTAINERS_STORAGE_CONF" <<EOF
[storage]
driver = "overlay"
graphroot = "$DIR/storage"
runroot = "$DIR/run"
EOF
  cat >"$CONTAINERS_CONF" <<EOF
[containers]
# Not above the caller's hard limits: raising them needs CAP_SYS_RESOURCE, which this VM does not give.
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
# crun refuses a hybrid cgroup v1/v2 layout; runc copes.
runtime = "runc"
[network]
# Service names resolve on compose networks through aardvark-dns.
network_backend = "netavark"
EOF
}

# ---------------------------------------------------------------------------------------------------------- bases
have_image() { podman image exists "$1"; }

# A registry that answers: pull the real image. Otherwise (this machine kind reaches only Debian, NuGet and npm) a
# stand-in under the same name.
pull_or_stand_in() {
  local image=$1 build=$2
  have_image "$image" && return 0
  if timeout 60 podman pull -q "$image" >>"$LOG/bases.log" 2>&1; then echo "$image: pulled"; return 0; fi
  echo "$image: no registry answered; building a local stand-in"
  "$build"
}

debian_base() {
  have_image localhost/debian:bookworm && return 0
  local mirror root=$DIR/rootfs
  mirror=$(awk '/^URIs:/{print $2}' /etc/apt/sources.list.d/debian.sources 2>/dev/null | grep -v -- -security | head -1 || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  rm -rf "$root"
  debootstrap --variant=minbase bookworm "$root" "$mirror" >>"$LOG/bases.log" 2>&1
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb %s-security bookworm-security main\n' \
    "$mirror" "$mirror" "${mirror%/debian}/debian" >"$root/etc/apt/sources.list"
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$root/etc/apt/apt.conf.d/90norecommends"
  # The certificate authorities this machine trusts (its package registries may sit behind one of its own).
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
  tar -C "$root" -c . | podman import --change 'CMD ["/bin/bash"]' - localhost/debian:bookworm >>"$LOG/bases.log" 2>&1
  rm -rf "$root"
}

postgres_stand_in() {
  debian_base
  podman build -q -t docker.io/library/postgres:15 scripts/containers/postgres >>"$LOG/bases.log" 2>&1
}

dotnet_stand_ins() {
  debian_base
  local root runtime aspnet sdk
  root=$(dirname "$(readlink -f "$(command -v dotnet)")")
  runtime=$(ls "$root/shared/Microsoft.NETCore.App" | sort -V | tail -1)
  aspnet=$(ls "$root/shared/Microsoft.AspNetCore.App" | sort -V | tail -1)
  sdk=$(ls "$root/sdk" | sort -V | tail -1)
  have_image mcr.microsoft.com/dotnet/aspnet:10.0 || podman build -q -f "$REPO/scripts/containers/aspnet.Containerfile" \
    --build-arg DOTNET_VERSION="$runtime" --build-arg ASPNET_VERSION="$aspnet" -t mcr.microsoft.com/dotnet/aspnet:10.0 "$root" >>"$LOG/bases.log" 2>&1
  podman build -q -f "$REPO/scripts/containers/sdk.Containerfile" --build-arg DOTNET_SDK_VERSION="$sdk" \
    --build-arg NUGET_CERT_REVOCATION_MODE="${NUGET_CERT_REVOCATION_MODE:-online}" -t mcr.microsoft.com/dotnet/sdk:10.0 "$root" >>"$LOG/bases.log" 2>&1
}

bases() {
  pull_or_stand_in docker.io/library/postgres:15 postgres_stand_in
  pull_or_stand_in mcr.microsoft.com/dotnet/aspnet:10.0 dotnet_stand_ins
  pull_or_stand_in mcr.microsoft.com/dotnet/sdk:10.0 dotnet_stand_ins
}

# ---------------------------------------------------------------------------------------------------------- test
APP=$DIR/app
compose() { (cd "$APP" && podman-compose -p "$PROJECT" "$@"); }
container() { podman ps -a -q --filter "label=io.podman.compose.project=$PROJECT" --filter "label=com.docker.compose.service=$1"; }
fail() { say "failed: $*"; exit 1; }

http() {  # http METHOD PATH [KEY] [BODY]: prints "status" then the body to $DIR/body, headers to $DIR/headers
  local args=(-s -o "$DIR/body" -D "$DIR/headers" -w '%{http_code}' -X "$1" "$URL$2" -H 'Authorization: Bearer sk_test_acme')
  [ -n "${3:-}" ] && args+=(-H "Idempotency-Key: $3")
  [ -n "${4:-}" ] && args+=(-H 'Content-Type: application/json' -d "$4")
  curl "${args[@]}"
}
field() { jq -r "$1" "$DIR/body"; }

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local seconds=$1 what=$2; shift 2
  for _ in $(seq 1 $(( seconds * 10 ))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  fail "$what did not happen within $seconds s"
}

run_test() {
  rm -rf "$APP"; mkdir -p "$APP"
  # What a clone would hold (tracked files, and new ones git does not ignore): no bin/, obj/ or .data/, whatever
  # .dockerignore says, and no running `make run` database under the build.
  git -C "$REPO" ls-files -z --cached --others --exclude-standard | tar -C "$REPO" --null -T - -c | tar -C "$APP" -x
  lap "copy"
  compose build >"$LOG/build.log" 2>&1 || { tail -30 "$LOG/build.log"; fail "the images did not build"; }
  lap "images built"
  local image; image=$(podman images --format '{{.Repository}}:{{.Tag}}' | grep -m1 "${PROJECT}_ledger")
  say "image $image: $(podman image inspect --format '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1 / 1e6}'), app $(podman run --rm --entrypoint du "$image" -sh /app | cut -f1), user $(podman image inspect --format '{{.Config.User}}' "$image")"
  [[ $(podman image inspect --format '{{json .Config.Healthcheck}}' "$image") == *ledger-healthcheck* ]] || fail "the image has no HEALTHCHECK"

  # Both up, as a user would start them (podman-compose 1.0.3 ignores `condition: service_healthy` and `--no-deps`,
  # so the ledger may or may not start before PostgreSQL is ready: it waits either way).
  compose up -d >"$LOG/up.log" 2>&1 || { cat "$LOG/up.log"; fail "the stack did not start"; }
  local ledger postgres; ledger=$(container ledger); postgres=$(container postgres)
  wait_for 120 "/health/ready answering 200" curl -fsS "$URL/health/ready"
  lap "first ready"

  # Then, deterministically, the ledger started while its database is down: it must wait, say so, and be unhealthy.
  podman stop -t 10 "$ledger" >/dev/null 2>>"$LOG/podman.log" && podman stop -t 10 "$postgres" >/dev/null 2>>"$LOG/podman.log"
  podman start "$ledger" >/dev/null 2>>"$LOG/podman.log"
  wait_for 60 "/health/live answering" curl -fsS "$URL/health/live"
  [ "$(http GET /health/ready)" = 503 ] || fail "/health/ready was $(cat "$DIR/body") while the database was down"
  grep -q 'waiting for the database' "$DIR/body" || fail "/health/ready did not say it waits: $(cat "$DIR/body")"
  if podman healthcheck run "$ledger" >/dev/null 2>&1; then fail "the HEALTHCHECK passed while the database was down"; fi
  [ "$(podman exec "$ledger" id -u)" != 0 ] || fail "the ledger runs as root"
  say "ledger started while its database was down: live 200, ready 503 ($(field .checks.database)), HEALTHCHECK unhealthy, uid $(podman exec "$ledger" id -u)"

  podman start "$postgres" >/dev/null 2>>"$LOG/podman.log"
  wait_for 120 "/health/ready answering 200 after the database came" curl -fsS "$URL/health/ready"
  podman healthcheck run "$ledger" >/dev/null || fail "the HEALTHCHECK failed once ready"
  podman logs "$ledger" >"$LOG/ledger.log" 2>&1
  grep -q 'Waiting for the database' "$LOG/ledger.log" || fail "the ledger's log does not show its wait"
  lap "ready again"
  say "ready once the database was up; HEALTHCHECK healthy; $(grep -c 'Waiting for the database' "$LOG/ledger.log") waiting lines in its log"

  local key="compose-$(date +%s%N)" charge='{"amount":1250,"currency":"USD","orderId":"order-1001","description":"2 coffees","card":{"number":"4242424242424242","expMonth":12,"expYear":2030,"cvc":"123"}}'
  [ "$(http POST /v1/payments "$key" "$charge")" = 201 ] || fail "charge: $(cat "$DIR/body")"
  local id first; id=$(field .id); first=$(cat "$DIR/body")
  [ "$(field .status)" = succeeded ] || fail "the charge did not succeed: $first"
  [ "$(http POST /v1/payments "$key" "$charge")" = 201 ] || fail "replay: $(cat "$DIR/body")"
  [ "$(cat "$DIR/body")" = "$first" ] || fail "the replay's body differs from the first answer"
  grep -qi '^Idempotent-Replayed: true' "$DIR/headers" || fail "the replay is not marked Idempotent-Replayed"
  [ "$(http POST "/v1/payments/$id/refunds" "refund-$key" '{"amount":500}')" = 201 ] || fail "refund: $(cat "$DIR/body")"
  [ "$(http GET "/v1/payments/$id")" = 200 ] && [ "$(field .amountRefunded)" = 500 ] || fail "the payment does not show its refund: $(cat "$DIR/body")"
  [ "$(http GET "/v1/payments/$id/receipt")" = 200 ] || fail "receipt: $(cat "$DIR/body")"
  [ "$(field '[.lines[] | "\(.kind) \(.amount)"] | join(", ")')" = "charge 1250, refund 500" ] || fail "the receipt's lines: $(cat "$DIR/body")"
  say "charge $id 201, replay identical, refund 201, receipt $(field .receiptNumber) with its charge and refund"

  podman exec "$ledger" dotnet Ledger.Host.dll audit verify >"$LOG/verify.log" 2>&1 || { cat "$LOG/verify.log"; fail "audit verify inside the container"; }
  say "audit verify inside the container: $(grep -v '^\s*$' "$LOG/verify.log" | tail -1)"
  lap "driven"
  # Start-up of the image against a migrated database: container start to the first 200 from /health/ready.
  podman stop -t 10 "$ledger" >/dev/null 2>>"$LOG/podman.log"
  local started; started=$(ms)
  podman start "$ledger" >/dev/null 2>>"$LOG/podman.log"
  wait_for 60 "/health/ready answering 200 after a restart" curl -fsS "$URL/health/ready"
  say "restarted: container start to ready in $(( $(ms) - started )) ms"
  podman logs "$ledger" >"$LOG/ledger.log" 2>&1; podman logs "$postgres" >"$LOG/postgres.log" 2>&1
  if grep -q 4242424242424242 "$LOG/ledger.log" "$LOG/postgres.log"; then fail "the card number reached a container's log"; fi
  teardown
  lap "torn down"
}

teardown() {
  [ -d "$APP" ] && compose down -v >"$LOG/down.log" 2>&1 || true
  # Whatever `down -v` left (a run stopped half-way): the project's containers, volumes and network.
  podman rm -f $(podman ps -a -q --filter "label=io.podman.compose.project=$PROJECT") >/dev/null 2>&1 || true
  podman volume rm -f $(podman volume ls -q | grep "^${PROJECT}_") >/dev/null 2>&1 || true
  podman network rm -f $(podman network ls -q --filter "name=${PROJECT}") >/dev/null 2>&1 || true
  # The built image and its build stage go too (1.4 GB a run otherwise); the base images stay for the next run.
  podman rmi -f "localhost/${PROJECT}_ledger" >/dev/null 2>&1 || true
  podman image prune -f >/dev/null 2>&1 || true
  rm -rf "$APP"
}

clean() {
  if command -v podman >/dev/null && [ -f "$CONTAINERS_CONF" ]; then teardown; podman system reset -f >/dev/null 2>&1 || true; fi
  # netavark's chains outlive its networks: drop the jumps to them, then the chains.
  if command -v iptables >/dev/null; then
    for t in filter nat; do
      iptables -t $t -S 2>/dev/null | grep -E '^-A [A-Z]+ .*-j NETAVARK' | sed 's/^-A/-D/' | while read -r rule; do eval iptables -t $t "$rule"; done || true
      for pass in flush delete; do
        for chain in $(iptables -t $t -S 2>/dev/null | awk '/^-N NETAVARK/{print $2}'); do
          if [ $pass = flush ]; then iptables -t $t -F "$chain"; else iptables -t $t -X "$chain"; fi
        done
      done
    done
  fi
  rm -rf "$DIR"
}

case ${1:-test} in
  ensure) ensure ;;
  bases)  ensure; bases ;;
  clean)  clean ;;
  test)
    if [ "$(id -u)" != 0 ]; then say "skipped: rootful Podman and apt-get need root"; exit 0; fi
    ensure >"/tmp/ledger-compose-ensure.log" 2>&1 || { cat /tmp/ledger-compose-ensure.log; say "skipped: podman could not be installed"; exit 0; }
    lap "podman ready"
    trap 'teardown >/dev/null 2>&1 || true' EXIT
    bases || fail "the base images could not be had (see $LOG/bases.log)"
    lap "base images"
    run_test
    say "passed ($(IFS=,; echo "${TIMINGS[*]}" | sed 's/,/, /g'))"
    ;;
  *) echo "usage: $0 [test|ensure|bases|clean]"; exit 2 ;;
esac
