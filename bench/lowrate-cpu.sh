#!/usr/bin/env bash
# CPU per delivered message at a fixed low rate, measured by the kernel
# (perf stat task-clock and context switches of the broker process) over 5 s
# of steady load, after connection set-up: issue 17's measurement, less
# noisy than bench/lowrate.sh's whole-run CPU. 100 publisher/subscriber
# pairs, QoS 0, 64 B; the broker pinned to core 0 (BCPU=0-1 to unpin), the
# load generator to core 1. Brokers alternate, RUNS rounds.
#
#   bench/lowrate-cpu.sh [rate ...]                  # default: 100 1000 10000
#   BINS="/tmp/old-mqttboard" RUNS=2 bench/lowrate-cpu.sh 1000   # A/B with another build
#
# Needs: go, perf (linux-perf: software events only), taskset,
# /usr/sbin/mosquitto. µs/msg divides by the nominal rate: a broker that
# falls behind (see delivered/s) looks cheaper than it is.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
rates=${*:-100 1000 10000}
runs=${RUNS:-2}
bin=$(mktemp -d)/mqttboard
go build -o "$bin" ./cmd/mqttboard
mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
conf=$(mktemp)
out=$(mktemp -d)
port=18890
measure() { # rate broker-binary-or-mosquitto
  local rate=$1 b=$2 pid bp
  if [ "$b" = mosquitto ]; then
    mosquitto_conf "$conf" $port "max_queued_messages 1000000" "max_inflight_messages 0"
    taskset -c "${BCPU:-0}" "$mosquitto" -c "$conf" >/dev/null 2>&1 &
  else
    taskset -c "${BCPU:-0}" "$b" broker --listen 127.0.0.1:$port >/dev/null 2>&1 &
  fi
  pid=$!
  wait_listen $port "$b"
  taskset -c 1 "$bin" bench --target x=127.0.0.1:$port --scenario pairs --publishers 100 --subscribers 100 \
    --qos 0 --rate "$rate" --duration 10s >"$out/bench" 2>&1 &
  bp=$!
  sleep 3
  perf stat -x, -e task-clock,context-switches -p $pid -- sleep 5 2>"$out/stat"
  wait $bp || true
  kill $pid; wait $pid 2>/dev/null || true
  local tc cs d
  tc=$(grep task-clock "$out/stat" | cut -d, -f1)
  cs=$(grep context-switches "$out/stat" | cut -d, -f1)
  d=$(tail -1 "$out/bench" | awk '{print $7}')
  awk -v tc="$tc" -v cs="$cs" -v r="$rate" -v n="$3" -v d="$d" 'BEGIN {
    printf "%-28s %6d msg/s  %.4f cores  %6.1f cpu-µs/msg  %.2f ctxsw/msg  delivered/s %s\n", n, r, tc/5000, tc*1000/(r*5), cs/(r*5), d }'
}
echo "low-rate CPU, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), broker on cores ${BCPU:-0}"
for rate in $rates; do
  for _ in $(seq "$runs"); do
    measure "$rate" "$bin" mqttboard
    for b in ${BINS:-}; do measure "$rate" "$b" "$b"; done
    measure "$rate" mosquitto mosquitto
  done
done
