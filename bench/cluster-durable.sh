#!/usr/bin/env bash
# The replicated store's cost (issue 16, part A): QoS 1 into persistent
# sessions on one node with --data (bbolt) and on a 3-node cluster with
# --data (JetStream, 3 replicas), clients spread over the nodes (publisher
# i on node i, subscriber i on node i+1), and the same cluster without
# --data (nothing replicated). "1 pair, 1 in flight" sends one message at
# a time: its rate is 1 / (PUBACK round trip), the acknowledgement waiting
# for the replication. After each measurement, "brokers' CPU" is the CPU
# time all broker processes used during it (utime+stime from /proc, i.e.
# getrusage of those processes) per delivered message: an indication that
# holds on a busy machine better than msg/s. The failover time is measured
# by cli TestClusterKill9 (go test -v -run TestClusterKill9 ./cli/).
#
#   bench/cluster-durable.sh [seconds-per-measurement] [which]
#
# which: all (default), or one of 1node-data, 3node-data, 3node-mem.
# BIN=path uses that mqttboard binary instead of building this tree (to
# compare two builds, run the script once with each).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
which=${2:-all}
dir=$(mktemp -d)
bin=${BIN:-$dir/mqttboard}
[ -n "${BIN:-}" ] || go build -o "$bin" ./cmd/mqttboard
pids=()
stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'stop_all; rm -rf "$dir"' EXIT
wait_port() {
  for _ in $(seq 600); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return; sleep 0.1; done
  echo "nothing listens on $1" >&2; exit 1
}
# ticks: the CPU clock ticks (user+system) the broker processes used so far.
ticks() {
  local t=0 p f
  for p in "${pids[@]}"; do
    f=$(cut -d')' -f2- "/proc/$p/stat" 2>/dev/null) || continue
    set -- $f
    t=$((t + ${12} + ${13}))
  done
  echo "$t"
}
# start n data(yes/no) -> addrs
start() {
  local n=$1 data=$2 i j args
  addrs=""
  for i in $(seq 0 $((n - 1))); do
    args=(broker --listen 127.0.0.1:$((18950 + i)))
    [ "$data" = yes ] && args+=(--data "$dir/d$n$i")
    if [ "$n" -gt 1 ]; then
      args+=(--cluster-listen 127.0.0.1:$((19050 + i)) --node-name "n$i")
      for j in $(seq 0 $((n - 1))); do [ "$j" != "$i" ] && args+=(--cluster-peer 127.0.0.1:$((19050 + j))); done
    fi
    "$bin" "${args[@]}" >"$dir/n$i.log" 2>&1 &
    pids+=($!)
    addrs+="${addrs:+,}127.0.0.1:$((18950 + i))"
  done
  for i in $(seq 0 $((n - 1))); do wait_port $((18950 + i)); done
}
# measure name bench-args...: one bench run and the brokers' CPU per message.
measure() {
  local name=$1 t0 t1 out got hz
  shift
  hz=$(getconf CLK_TCK)
  t0=$(ticks)
  out=$("$bin" bench --target "$name=$addrs" --scenario pairs --qos 1 --persistent --duration "${secs}s" "$@")
  t1=$(ticks)
  echo "$out"
  got=$(echo "$out" | awk -v n="$name" '$1 == n { print $7 }' | tail -1)
  if [ -n "$got" ] && [ "$got" -gt 0 ]; then
    awk -v d=$((t1 - t0)) -v hz="$hz" -v got="$got" -v s="$secs" \
      'BEGIN { printf "  brokers'"'"' CPU: %.2f s in %d s = %.2f cores, %.1f µs per delivered message\n", d/hz, s, d/hz/s, d/hz/got*1e6 }'
  fi
}
run() {
  local name=$1
  measure "$name" --publishers 10 --subscribers 10
  measure "$name" --publishers 1 --subscribers 1 --inflight 1
}
echo "mqttboard replicated store, $(date -u +%FT%RZ), $(nproc) cores, ${secs}s per measurement, load $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$which" = all ] || [ "$which" = 1node-data ]; then
  echo "== 1 node, --data (bbolt): 10 pairs; then 1 pair, 1 in flight"
  start 1 yes; run 1node-data; stop_all
fi
if [ "$which" = all ] || [ "$which" = 3node-data ]; then
  echo "== 3 nodes, --data (JetStream R3): 10 pairs across nodes; then 1 pair, 1 in flight"
  start 3 yes; run 3node-data; stop_all
fi
if [ "$which" = all ] || [ "$which" = 3node-mem ]; then
  echo "== 3 nodes, no --data (nothing replicated): the same"
  start 3 no; run 3node-mem; stop_all
fi
