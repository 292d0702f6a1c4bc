#!/usr/bin/env bash
# Bursts in step, ours against mosquitto (issue 17), with a generator that
# does nothing but write and read (bench/instep): 100 publishers' PUBLISHes
# written back to back from one thread, the deliveries read with one epoll
# loop between and after the writes. Each broker alone on core 0, the
# generator on core 1, alternating, RUNS rounds. Per run: per-message
# latency p50/p99/max and, over the bursts, the median time from a burst's
# first write to its 1st, 50th and 100th delivery (the 100th is the burst's
# length: what p99 of bench/lowrate.sh's in-step runs is made of), and the
# broker's CPU per message.
#
#   bench/lowrate-instep.sh [bursts] [runs]          # defaults: 100 bursts, 3 runs
#   INTERVAL=10ms bench/lowrate-instep.sh 1000 3     # 10,000 msg/s (default 100ms: 1,000)
#   BASE=/tmp/old/mqttboard bench/lowrate-instep.sh  # also another build (A/B)
#   RT=1 bench/lowrate-instep.sh                     # at real-time priority (chrt -f 50)
#
# Needs: go, taskset (util-linux), /usr/sbin/mosquitto (Debian: mosquitto).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bursts=${1:-100}
runs=${2:-3}
interval=${INTERVAL:-100ms}
dir=$(mktemp -d)
go build -o "$dir/mqttboard" ./cmd/mqttboard
go build -o "$dir/instep" ./bench/instep
mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
conf="$dir/mosquitto.conf"
port=${PORT:-18870}
rt=""
[ -n "${RT:-}" ] && rt="chrt -f 50"
port_free $port

start_broker() { # name -> sets pid
  case $1 in
  mqttboard) $rt taskset -c 0 "$dir/mqttboard" broker --listen 127.0.0.1:$port >/dev/null 2>&1 & ;;
  base) $rt taskset -c 0 "$BASE" broker --listen 127.0.0.1:$port >/dev/null 2>&1 & ;;
  mosquitto)
    mosquitto_conf "$conf" $port
    $rt taskset -c 0 "$mosquitto" -c "$conf" >/dev/null 2>&1 & ;;
  esac
  pid=$!
  wait_listen $port "$1"
}

cputicks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

brokers="mqttboard${BASE:+ base} mosquitto"
echo "in step, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $("$mosquitto" -h | head -1), 100 pairs every $interval, $bursts bursts x $runs runs${BASE:+, base $BASE}${RT:+, real-time priority}"
hz=$(getconf CLK_TCK)
for run in $(seq "$runs"); do
  for b in $brokers; do
    start_broker "$b"
    t0=$(cputicks "$pid")
    out=$($rt taskset -c 1 "$dir/instep" -addr 127.0.0.1:$port -bursts "$bursts" -interval "$interval" 2>&1 || true)
    t1=$(cputicks "$pid")
    # The CPU includes the 200 connections' set-up.
    printf '%-10s %s | broker CPU %d us/msg\n' "$b" "$out" $(( (t1 - t0) * 1000000 / hz / (bursts * 100) ))
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
done
