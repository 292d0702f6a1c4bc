#!/usr/bin/env bash
# Side by side: mqttboard's broker and mosquitto under the same load, in one
# run. Each broker runs alone, pinned to core 0 (taskset -c 0); the load
# generator (`mqttboard bench`) is pinned to core 1. Figures go to stdout;
# paste them into BENCHMARKS.md with the date.
#
#   bench/side-by-side.sh [seconds-per-measurement]
#   BASE=/path/to/older/mqttboard bench/side-by-side.sh   # A/B: also that binary, alternating
#
# Needs: go, taskset (util-linux), /usr/sbin/mosquitto (Debian: mosquitto).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
secs=${1:-5}
bin=$(mktemp -d)/mqttboard
go build -o "$bin" ./cmd/mqttboard
mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
conf=$(mktemp)
port=18850

start_broker() { # name -> sets pid
  case $1 in
  mqttboard) taskset -c 0 "$bin" broker --listen 127.0.0.1:$port >/dev/null 2>&1 & ;;
  mqttboard-base) taskset -c 0 "$BASE" broker --listen 127.0.0.1:$port >/dev/null 2>&1 & ;;
  mosquitto)
    mosquitto_conf "$conf" $port "max_queued_messages 1000000" "max_inflight_messages 0"
    taskset -c 0 "$mosquitto" -c "$conf" >/dev/null 2>&1 & ;;
  esac
  pid=$!
  wait_listen $port "$1"
}

run() { # label, bench flags...
  local label=$1; shift
  echo "== $label"
  for b in $brokers; do
    start_broker $b
    taskset -c 1 "$bin" bench --target "$b=127.0.0.1:$port" --pid "$b=$pid" --duration "${secs}s" "$@" 2>/dev/null || true
    kill $pid; wait $pid 2>/dev/null || true
  done
}

brokers="mqttboard ${BASE:+mqttboard-base} mosquitto"
echo "mqttboard side by side, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $("$mosquitto" -h | head -1)"
run "fan-out 1->100, 64 B" --scenario fanout --publishers 1 --subscribers 100 --qos 0,1
run "fan-in 16->1, 64 B" --scenario fanin --publishers 16 --subscribers 1 --qos 0,1
run "100 pairs, 64 B" --scenario pairs --publishers 100 --subscribers 100 --qos 0,1
run "latency at 1,000 msg/s (10 pairs)" --scenario pairs --publishers 10 --subscribers 10 --qos 0,1 --rate 1000
echo "== idle connections"
for b in mqttboard mosquitto; do
  start_broker $b
  taskset -c 1 "$bin" bench --target "$b=127.0.0.1:$port" --pid "$b=$pid" --idle 5000 -V 3.1.1 || true
  kill $pid; wait $pid 2>/dev/null || true
done
