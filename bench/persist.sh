#!/usr/bin/env bash
# Persistence cost (issue 14): QoS 1 into persistent sessions, our broker in
# memory against our broker with --data (fsync batch, the default), and
# mosquitto with `persistence true` as a reference (it writes its database on
# its autosave interval, not per message: not the same promise). Each broker
# runs alone, pinned to core 0 (taskset -c 0); the load generator is pinned
# to core 1; the brokers alternate, RUNS rounds. 10 publishers, 10
# subscribers with persistent sessions (5.0, session expiry 60 s), 64-byte
# payloads, 100 unacknowledged per publisher. Then publish-to-PUBACK latency
# at 1,000 msg/s into one persistent session (memory and --data).
# Run it on a quiet machine.
#
#   bench/persist.sh [seconds-per-run] [runs]      # defaults: 8 s, 2 runs
#
# Needs: go, taskset (util-linux), /usr/sbin/mosquitto (Debian: mosquitto).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
secs=${1:-8}
runs=${2:-2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin=$tmp/mqttboard
go build -o "$bin" ./cmd/mqttboard
mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
conf=$tmp/mosquitto.conf
port=18870

start_broker() { # name -> sets pid; a fresh data directory every time
  rm -rf "$tmp/data" && mkdir -p "$tmp/data"
  case $1 in
  memory) taskset -c 0 "$bin" broker --listen 127.0.0.1:$port >/dev/null 2>&1 & ;;
  data-batch) taskset -c 0 "$bin" broker --listen 127.0.0.1:$port --data "$tmp/data" >/dev/null 2>&1 & ;;
  mosquitto-persist)
    mosquitto_conf "$conf" $port "max_queued_messages 0" "max_inflight_messages 0" "persistence true" "persistence_location $tmp/data/"
    taskset -c 0 "$mosquitto" -c "$conf" >/dev/null 2>&1 & ;;
  esac
  pid=$!
  wait_listen $port "$1"
}

echo "persistence, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $("$mosquitto" -h | head -1), ${secs}s x $runs runs"
for scenario in pairs fanin; do
  echo "== $scenario, 10 publishers, 10 persistent subscribers, QoS 1, 64 B"
  for run in $(seq "$runs"); do
    for b in memory data-batch mosquitto-persist; do
      start_broker "$b"
      taskset -c 1 "$bin" bench --target "$b=127.0.0.1:$port" --pid "$b=$pid" --scenario "$scenario" \
        --publishers 10 --subscribers 10 --qos 1 --persistent --duration "${secs}s" 2>/dev/null |
        { if [ "$run" = 1 ] && [ "$b" = memory ]; then cat; else tail -n +2; fi; } || true
      kill "$pid"; wait "$pid" 2>/dev/null || true
    done
  done
done
echo "== publish to PUBACK at 1,000 msg/s (10 publishers x 100 msg/s, QoS 1) into one persistent session"
for run in $(seq "$runs"); do
  for b in memory data-batch; do
    start_broker "$b"
    # The persistent session exists, offline: every message is queued for it.
    taskset -c 1 mosquitto_sub -p $port -c -i lat-sub -q 1 -t 'lat/#' -E >/dev/null 2>&1 || true
    echo "-- $b, run $run"
    taskset -c 1 "$bin" bench pub -p $port -c 10 -i 1 -t 'lat/%i' --message-interval 10 -q 1 --duration 15s 2>&1 | tail -n 1 || true
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
done
