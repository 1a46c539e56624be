#!/usr/bin/env bash
# PostgreSQL with automatic failover for Ledger (issue 20): pg_auto_failover 2.0 (Debian's postgresql-15-auto-failover,
# pg-auto-failover-cli), a monitor and two data nodes on loopback, synchronous replication. Run as root (the server
# runs as the `postgres` user) or as postgres.
#
#   scripts/ha.sh ensure                       installs the packages with apt-get if missing
#   scripts/ha.sh up DIR MONITOR P1 P2         monitor on MONITOR, node1 (first primary) on P1, node2 on P2; tuned
#   scripts/ha.sh url DIR                      the Npgsql connection string for the nodes (read-write target)
#   scripts/ha.sh state DIR                    one line per node: name port reported-state goal-state
#   scripts/ha.sh primary DIR                  the name of the node that is primary now (or wait_primary/single)
#   scripts/ha.sh wait DIR SECONDS             waits until one node is primary and the other secondary
#   scripts/ha.sh kill DIR NODE|monitor        SIGKILL: a node's keeper first, then its postmaster (as a crash)
#   scripts/ha.sh rejoin DIR NODE              restarts a killed node's keeper: it rewinds and comes back as secondary
#   scripts/ha.sh start DIR MONITOR P1 P2      `up` the first time; after a `stop`, starts the same three again
#   scripts/ha.sh stop DIR                     stops all three, keeping their data
#   scripts/ha.sh down DIR                     stops everything and deletes DIR
#
# Everything pg_autoctl writes (configuration, state, pid files, sockets) stays under DIR, logs in DIR/log.
# Facts learnt running pg_auto_failover on this machine kind: the keeper must die before its postmaster, or its
# child restarts PostgreSQL in place; `--listen 127.0.0.1` keeps every part on loopback; with one standby,
# number_sync_standbys stays 0 (the primary still waits for that standby: 'ANY 1 (...)'); while the standby is down
# the primary is `wait_primary` and acknowledges commits alone.
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
H=127.0.0.1

dir() { DIR=$(readlink -m "${1:?directory}"); }
envs() { echo PATH=$PGBIN:/usr/bin:/bin HOME=$DIR XDG_CONFIG_HOME=$DIR/xdg/config XDG_DATA_HOME=$DIR/xdg/data \
              XDG_RUNTIME_DIR=$DIR/xdg/run PG_REGRESS_SOCK_DIR=$DIR/sock PGHOST=$DIR/sock; }
AS_PG=(); [ "$(id -u)" = 0 ] && AS_PG=(runuser -u postgres --)
as_pg() { (cd "$DIR" && "${AS_PG[@]}" env $(envs) "$@"); }
run_keeper() {  # a node's (or the monitor's) pg_autoctl, detached: none of the caller's descriptors stay open in it
  (cd "$DIR" && exec setsid "${AS_PG[@]}" env $(envs) pg_autoctl run --pgdata "$DIR/$1") >>"$DIR/log/$1.log" 2>&1 </dev/null &
}
monitor_port() { cat "$DIR/monitor.port"; }
wait_monitor() { for _ in $(seq 100); do as_pg pg_isready -q -h $H -p "$(monitor_port)" -d pg_auto_failover && return 0; sleep 0.2; done; return 1; }
monitor_sql() { as_pg psql -X -q -h $H -p "$(monitor_port)" -d pg_auto_failover -Atc "$1"; }
BOTH_UP="count(*) = 2 and bool_and(reportedstate = goalstate) and count(*) filter (where reportedstate = 'primary') = 1
         and count(*) filter (where reportedstate = 'secondary') = 1"
HEALTHY="select $BOTH_UP from pgautofailover.node"
wait_sql() {  # wait_sql SECONDS SQL: until it returns t
  local deadline=$(( $(date +%s) + $1 ))
  while [ "$(date +%s)" -lt $deadline ]; do [ "$(monitor_sql "$2" 2>/dev/null)" = t ] && return 0; sleep 0.2; done
  echo "not within $1 s: $2" >&2; monitor_sql "select nodename, nodeport, reportedstate, goalstate from pgautofailover.node" >&2 || true; return 1
}
create_node() {  # create_node ARGS...: pg_autoctl create postgres, resumed up to twice (on a loaded machine its own
                 # wait for the new server, about 2 s, can run out; a second run continues where the first stopped)
  for try in 1 2 3; do
    as_pg pg_autoctl create postgres "$@" >>"$DIR/log/create.log" 2>&1 && return 0
    echo "pg_autoctl create postgres $2 failed (try $try); see $DIR/log/create.log" >&2
    sleep 1
  done
  return 1
}
pid_of() { head -1 "$1" 2>/dev/null || true; }
children() { ps -o pid= --ppid "$1" 2>/dev/null | tr -d ' ' || true; }

case ${1:-} in
ensure)
  missing=()
  for p in postgresql-15-auto-failover pg-auto-failover-cli; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && exit 0
  [ "$(id -u)" = 0 ] || { echo "pg_auto_failover is not installed and installing it needs root: apt-get install ${missing[*]}" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
  ;;
up)
  dir "$2"; MON=${3:?monitor port}; P1=${4:?node1 port}; P2=${5:?node2 port}
  mkdir -p "$DIR"/{xdg/config,xdg/data,xdg/run,sock,log}
  [ "$(id -u)" = 0 ] && chown -R postgres: "$DIR"
  chmod 700 "$DIR"
  echo "$MON" >"$DIR/monitor.port"; echo "$P1 $P2" >"$DIR/node.ports"
  common=(--pgctl "$PGBIN/pg_ctl" --hostname $H --listen $H --auth trust --no-ssl)
  uri="postgres://autoctl_node@$H:$MON/pg_auto_failover?sslmode=disable"
  as_pg pg_autoctl create monitor --pgdata "$DIR/monitor" --pgport "$MON" "${common[@]}" >>"$DIR/log/create.log" 2>&1
  run_keeper monitor
  wait_monitor
  # Failover in about 3 s instead of about 50 (the defaults): a node unanswering for 2 s is taken for dead. On a busy
  # machine that risks a failover nobody needed; docs/operations.md ("High availability") says what each one trades.
  for kv in health_check_period=1000 health_check_timeout=1000 health_check_max_retries=1 health_check_retry_delay=500 \
            node_considered_unhealthy_timeout=${LEDGER_HA_UNHEALTHY_MS:-2000} primary_demote_timeout=1000 startup_grace_period=2000; do
    monitor_sql "alter system set pgautofailover.${kv%%=*} = ${kv#*=}" >/dev/null
  done
  monitor_sql "select pg_reload_conf()" >/dev/null
  create_node --pgdata "$DIR/node1" --pgport "$P1" --name node1 --dbname ledger --monitor "$uri" "${common[@]}"
  run_keeper node1
  wait_sql 60 "select bool_and(reportedstate = 'single') from pgautofailover.node where nodename = 'node1'"
  create_node --pgdata "$DIR/node2" --pgport "$P2" --name node2 --dbname ledger --monitor "$uri" \
    --replication-quorum true --candidate-priority 50 "${common[@]}"
  run_keeper node2
  wait_sql 120 "$HEALTHY"
  ;;
url)
  dir "$2"; read -r P1 P2 <"$DIR/node.ports"
  # Host Recheck Seconds=0: Npgsql remembers which host was primary; after a failover it must look again at once. It looks
  # only when it opens a connection (pooled ones are reused), so this costs a query per new connection, not per request.
  echo "Host=$H:$P1,$H:$P2;Database=ledger;Username=postgres;Target Session Attributes=read-write;Host Recheck Seconds=0;Timeout=3"
  ;;
state)
  dir "$2"; monitor_sql "select nodename, nodeport, reportedstate, goalstate from pgautofailover.node order by nodeid" | tr '|' ' '
  ;;
primary)
  # By goal state: a killed primary keeps its last reported state until it reports again.
  dir "$2"; monitor_sql "select nodename from pgautofailover.node where goalstate in ('primary', 'wait_primary', 'single') order by nodeid limit 1"
  ;;
wait)
  dir "$2"; wait_sql "${3:-120}" "$HEALTHY"
  ;;
kill)
  dir "$2"; node=${3:?node or monitor}
  postmaster=$(pid_of "$DIR/$node/postmaster.pid")
  keeper=$(pid_of "$DIR/xdg/run/pg_autoctl$DIR/$node/pg_autoctl.pid")
  # The keeper and its children other than the postmaster first (a surviving one restarts PostgreSQL), then the postmaster.
  [ -n "$keeper" ] && kill -KILL "$keeper" $(children "$keeper" | grep -vx "${postmaster:-none}") 2>/dev/null || true
  [ -n "$postmaster" ] && kill -KILL "$postmaster" 2>/dev/null || true
  echo "killed $node (keeper ${keeper:-none}, postmaster ${postmaster:-none})"
  ;;
rejoin)
  dir "$2"; node=${3:?node}
  rm -f "$DIR/xdg/run/pg_autoctl$DIR/$node/pg_autoctl.pid"
  run_keeper "$node"
  [ "$node" = monitor ] && { wait_monitor; exit 0; }
  wait_sql "${4:-120}" "$HEALTHY"
  ;;
start)
  dir "$2"
  if [ ! -d "$DIR/node2" ]; then rm -rf "$DIR"; exec "$0" up "$2" "${3:?monitor port}" "${4:?node1 port}" "${5:?node2 port}"; fi
  for n in monitor node1 node2; do
    pid=$(pid_of "$DIR/xdg/run/pg_autoctl$DIR/$n/pg_autoctl.pid")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then continue; fi
    rm -f "$DIR/xdg/run/pg_autoctl$DIR/$n/pg_autoctl.pid"
    run_keeper "$n"
    [ $n = monitor ] && wait_monitor
  done
  # The monitor remembers the states from before the stop: wait for reports made since this start.
  sleep 3 # longer than a report's interval, so that the reports below are this start's
  wait_sql 120 "select $BOTH_UP and bool_and(reporttime > now() - interval '2 seconds' and reportedpgisrunning) from pgautofailover.node"
  ;;
stop)
  dir "$2"
  [ -d "$DIR" ] || exit 0
  for n in node2 node1 monitor; do [ -d "$DIR/$n" ] && as_pg pg_autoctl stop --pgdata "$DIR/$n" >/dev/null 2>&1 || true; done
  for _ in $(seq 100); do pgrep -f "$DIR/" >/dev/null || break; sleep 0.2; done
  ;;
down)
  dir "$2"
  [ -d "$DIR" ] || exit 0
  for n in node2 node1 monitor; do [ -d "$DIR/$n" ] && as_pg pg_autoctl stop --pgdata "$DIR/$n" >/dev/null 2>&1 || true; done
  for _ in $(seq 50); do pgrep -f "$DIR/" >/dev/null || break; sleep 0.2; done
  pkill -KILL -f "$DIR/" 2>/dev/null || true
  rm -rf "$DIR"
  ;;
*) sed -n '2,20p' "$0"; exit 2 ;;
esac
