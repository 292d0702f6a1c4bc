#!/usr/bin/env bash
# Low-rate efficiency, ours against mosquitto (issue 17): 100 publisher/
# subscriber pairs, QoS 0, 64-byte payloads, at 100, 1,000 and 10,000 msg/s
# in total; each broker alone, pinned to core 0 (taskset -c 0), the load
# generator on core 1; the brokers alternate, RUNS rounds each. Reported per
# run: p50, p99, p99.9 latency (publish to delivery) and the broker's CPU
# (user + system from /proc/PID/stat) in cores and in µs per delivered
# message, and the latency to the deliveries' arrival in the subscriber's
# socket (arr p50/p99/p99.9: the kernel's receive timestamps), which leaves
# out the generator's own wait: it reads its 100 subscribers on one
# processor, so a delivery arriving with many others waits for their
# reads. Run it on a quiet machine: the tail is what it measures.
#
#   bench/lowrate.sh [seconds-per-run] [runs]      # defaults: 10 s, 3 runs
#   TRANSPORTS="eventloop goroutine" bench/lowrate.sh   # also our goroutine transport
#   BASE=/tmp/old/mqttboard bench/lowrate.sh            # also another build (A/B)
#   RATES="10000" bench/lowrate.sh 3 10                 # some rates only, many short runs
#   STAGGER=1 bench/lowrate.sh                          # publishers spread over the interval
#       (bench --stagger: one message at a time) instead of a burst of 100
#       messages every interval, whose tail is mostly the burst's length
#   RT=1 bench/lowrate.sh                               # brokers and load generator at
#       real-time priority (chrt -f 50): on a machine busy with other work,
#       the tail is then the brokers' and the generator's, not the other
#       processes' (the ratios hold; a quiet machine is still the reference)
#
# Needs: go, taskset (util-linux), /usr/sbin/mosquitto (Debian: mosquitto).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
secs=${1:-10}
runs=${2:-3}
transports=${TRANSPORTS:-eventloop}
bin=$(mktemp -d)/mqttboard
go build -o "$bin" ./cmd/mqttboard
mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
conf=$(mktemp)
cfg=$(mktemp --suffix .yaml)
port=18860
rt=""
[ -n "${RT:-}" ] && rt="chrt -f 50"

start_broker() { # name -> sets pid
  case $1 in
  mqttboard-*)
    printf 'transport: %s\n' "${1#mqttboard-}" >"$cfg"
    $rt taskset -c 0 "$bin" broker --listen 127.0.0.1:$port --config "$cfg" >/dev/null 2>&1 & ;;
  base-*)
    printf 'transport: %s\n' "${1#base-}" >"$cfg"
    $rt taskset -c 0 "$BASE" broker --listen 127.0.0.1:$port --config "$cfg" >/dev/null 2>&1 & ;;
  mosquitto)
    mosquitto_conf "$conf" $port "max_queued_messages 1000000" "max_inflight_messages 0"
    $rt taskset -c 0 "$mosquitto" -c "$conf" >/dev/null 2>&1 & ;;
  esac
  pid=$!
  wait_listen $port "$1"
}

brokers=""
for t in $transports; do brokers="$brokers mqttboard-$t"; done
if [ -n "${BASE:-}" ]; then
  for t in $transports; do brokers="$brokers base-$t"; done
fi
brokers="$brokers mosquitto"
echo "low rate, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $("$mosquitto" -h | head -1), ${secs}s x $runs runs${BASE:+, base $BASE}${RT:+, real-time priority}${STAGGER:+, publishers staggered}"
for rate in ${RATES:-100 1000 10000}; do
  echo "== 100 pairs, QoS 0, $rate msg/s in total"
  for run in $(seq "$runs"); do
    for b in $brokers; do
      start_broker "$b"
      $rt taskset -c 1 "$bin" bench --target "$b=127.0.0.1:$port" --pid "$b=$pid" --scenario pairs \
        --publishers 100 --subscribers 100 --qos 0 --rate "$rate" ${STAGGER:+--stagger} --duration "${secs}s" 2>/dev/null |
        { if [ "$run" = 1 ] && [ "$b" = "mqttboard-${transports%% *}" ]; then cat; else tail -n +2; fi; } || true
      kill "$pid"; wait "$pid" 2>/dev/null || true
    done
  done
done
