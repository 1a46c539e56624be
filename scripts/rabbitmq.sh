#!/usr/bin/env bash
# A RabbitMQ broker of Ledger's own on loopback (Debian's rabbitmq-server 3.10): its own node name, ports, data and
# Erlang port mapper, so it never meets a system broker. For `make broker` and the specs that need one.
#
#   scripts/rabbitmq.sh ensure                 install rabbitmq-server with apt-get if it is missing
#   scripts/rabbitmq.sh start DIR PORT         start a broker with its data in DIR, AMQP on 127.0.0.1:PORT; waits until it is ready
#   scripts/rabbitmq.sh stop DIR               stop the broker started in DIR (and its port mapper)
#   scripts/rabbitmq.sh url PORT               the connection URI for Ledger:RabbitMq:Uri
set -euo pipefail
SBIN=/usr/lib/rabbitmq/bin

env_for() { # DIR -> the broker's environment, from DIR/ports
  local dir=$1; read -r port dist epmd < "$dir/ports"
  export HOME="$dir" RABBITMQ_NODENAME="ledger-$port@localhost" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$port" \
    RABBITMQ_DIST_PORT="$dist" ERL_EPMD_PORT="$epmd" ERL_EPMD_ADDRESS=127.0.0.1 RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" RABBITMQ_PID_FILE="$dir/broker.pid" RABBITMQ_CONFIG_FILE="$dir/rabbitmq" \
    RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config" RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf"
}

case "${1:-}" in
  ensure)
    if [ ! -x "$SBIN/rabbitmq-server" ]; then
      echo "rabbitmq-server not found: installing it with apt-get"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq && apt-get install -y -qq rabbitmq-server >/dev/null
    fi
    ;;
  start)
    dir=$2; port=$3
    mkdir -p "$dir/mnesia" "$dir/log"
    # The Erlang distribution and port-mapper ports: free ones below Linux's ephemeral range (32768+), which the system
    # never hands out to outgoing connections, so nothing else on a busy machine takes them between the look and the
    # broker's bind (an ephemeral pick was taken that way once, under a full test run: dist_port_already_used).
    free() { python3 -c '
import random, socket
for _ in range(200):
    p = random.randint(20000, 32000); s = socket.socket()
    try: s.bind(("127.0.0.1", p)); print(p); break
    except OSError: pass
    finally: s.close()'; }
    echo "[]." > "$dir/enabled_plugins"
    : > "$dir/rabbitmq.conf"; echo "[]." > "$dir/advanced.config"; : > "$dir/rabbitmq-env.conf"
    for attempt in 1 2 3; do
      echo "$port $(free) $(free)" > "$dir/ports"
      env_for "$dir"
      "$SBIN/rabbitmq-server" > "$dir/log/console.log" 2>&1 &
      server=$!; echo "$server" > "$dir/server.pid"
      timeout 120 "$SBIN/rabbitmqctl" -n "$RABBITMQ_NODENAME" wait --timeout 110 "$RABBITMQ_PID_FILE" >/dev/null 2>&1 &
      waiter=$!
      # A broker that dies while starting is not waited for until the timeout.
      while kill -0 "$waiter" 2>/dev/null; do
        kill -0 "$server" 2>/dev/null || { sleep 1; kill "$waiter" 2>/dev/null || true; break; }
        sleep 0.5
      done
      if wait "$waiter"; then exit 0; fi
      # Lost a port after all: once more with others. Anything else is reported as it is.
      if grep -q "dist_port_already_used\|eaddrinuse" "$dir/log/console.log" && [ "$attempt" -lt 3 ]; then
        epmd -kill >/dev/null 2>&1 || true # this attempt's port mapper (ERL_EPMD_PORT), before the next one's
        continue
      fi
      break
    done
    echo "RabbitMQ did not start; its log:" >&2; tail -20 "$dir/log/console.log" >&2; exit 1
    ;;
  stop)
    dir=$2
    [ -f "$dir/ports" ] || exit 0
    env_for "$dir"
    timeout 60 "$SBIN/rabbitmqctl" -n "$RABBITMQ_NODENAME" stop >/dev/null 2>&1 || { [ -f "$dir/server.pid" ] && kill "$(cat "$dir/server.pid")" 2>/dev/null || true; }
    epmd -kill >/dev/null 2>&1 || true # the port mapper of this broker alone (ERL_EPMD_PORT)
    ;;
  url)
    echo "amqp://guest:guest@127.0.0.1:$2"
    ;;
  *)
    sed -n '2,10p' "$0"; exit 2 ;;
esac
