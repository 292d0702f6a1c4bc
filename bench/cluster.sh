#!/usr/bin/env bash
# Cluster figures (issue 16): throughput and latency of 1, 2 and 3 nodes
# of `mqttboard broker` on this machine, clients spread over the nodes
# (`mqttboard bench --target name=host:port,host:port,...`: publisher i on
# node i, subscriber i on node i+1, so every pair crosses nodes), cross-node
# latency at a fixed rate, and each node's idle RSS. The nodes and the load
# generator share the machine's cores (no pinning: with 3 nodes there are
# more processes than cores on a small machine), so the figures are those
# of the whole machine, not of one node.
#
#   bench/cluster.sh [seconds-per-measurement] [max-nodes]
#
# Needs: go. Figures go to stdout; paste them into BENCHMARKS.md with the
# date and what else ran on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
maxn=${2:-3}
dir=$(mktemp -d)
bin=$dir/mqttboard
go build -o "$bin" ./cmd/mqttboard
base=18900

pids=()
stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap stop_all EXIT

wait_port() {
  for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return; sleep 0.05; done
  echo "nothing listens on $1" >&2; exit 1
}

# start_cluster n -> sets addrs (comma-separated MQTT addresses) and pidl
start_cluster() {
  local n=$1 i args
  addrs="" pidl=""
  for i in $(seq 0 $((n - 1))); do
    args=(broker --listen 127.0.0.1:$((base + i)))
    if [ "$n" -gt 1 ]; then
      args+=(--cluster-listen 127.0.0.1:$((base + 100 + i)) --node-name "n$i")
      [ "$i" -gt 0 ] && args+=(--cluster-peer 127.0.0.1:$((base + 100)))
    fi
    "$bin" "${args[@]}" >"$dir/n$i.log" 2>&1 &
    pids+=($!)
    wait_port $((base + i))
    addrs+="${addrs:+,}127.0.0.1:$((base + i))"
    pidl+="${pidl:+,}${pids[-1]}"
  done
  if [ "$n" -gt 1 ]; then
    # Every node meshed: a retained marker set on the last node read on
    # the first (bounded).
    for _ in $(seq 100); do
      "$bin" pub -h 127.0.0.1 -p $((base + n - 1)) -t bench/mesh -m x -r -q 1 >/dev/null 2>&1 || true
      if "$bin" sub -h 127.0.0.1 -p $base -t bench/mesh -C 1 -W 1 >/dev/null 2>&1; then break; fi
    done
  fi
}

echo "mqttboard cluster, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, ${secs}s per measurement"
for n in $(seq 1 "$maxn"); do
  start_cluster "$n"
  name="${n}node"
  run() { "$bin" bench --target "$name=$addrs" --pid "$name=$pidl" --duration "${secs}s" "$@" 2>/dev/null || true; }
  echo "== $n node(s): idle RSS per node (MiB, 3 s after start)"
  sleep 3
  for p in ${pidl//,/ }; do awk '/VmRSS/ {printf "%.1f ", $2/1024}' /proc/$p/status; done; echo
  echo "== $n node(s): fan-out 1->100, fan-in 16->1, 100 pairs (QoS 0 and 1, 64 B)"
  run --scenario fanout --publishers 1 --subscribers 100 --qos 0,1
  run --scenario fanin --publishers 16 --subscribers 1 --qos 0,1
  run --scenario pairs --publishers 100 --subscribers 100 --qos 0,1
  echo "== $n node(s): latency at 1,000 msg/s (10 pairs; with 2+ nodes every pair crosses nodes)"
  run --scenario pairs --publishers 10 --subscribers 10 --qos 0,1 --rate 1000
  stop_all
done
