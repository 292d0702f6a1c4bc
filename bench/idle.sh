#!/usr/bin/env bash
# Memory per idle connection, ours (both transports) against mosquitto
# (issue 15): `mqttboard bench --idle N -V 3.1.1` opens N connections that
# CONNECT and stay silent, and reports how much the broker's RSS grew per
# connection. Each broker runs alone, pinned to core 0.
#
#   bench/idle.sh [N ...]          # default: 10000 100000
#   SETTLE=60s bench/idle.sh       # RSS read again after the connections sat idle (default 30s)
#   BROKERS="mqttboard-eventloop mosquitto" bench/idle.sh 10000   # a subset of the brokers
#   BUSY=2000 bench/idle.sh 1000   # each connection first sends 2,000 QoS 1 PUBLISHes
#                                  # in one write and reads the PUBACKs: busy, then idle
#   BASE=/path/to/mqttboard ROUNDS=3 BROKERS="base-eventloop mqttboard-eventloop" bench/idle.sh 10000
#                                  # A/B: base-* runs that binary; rounds alternate the brokers
#
# 100,000 connections need 100,000 descriptors in the broker and in the
# load generator: run as root with CAP_SYS_RESOURCE (the script raises the
# limits with prlimit, and skips a count the machine does not allow);
# past 20,000 the connections come from 127.0.0.2, 127.0.0.3, ... (one
# source address has ~28,000 ephemeral ports).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
counts=${*:-10000 100000}
bin=$(mktemp -d)/mqttboard
go build -o "$bin" ./cmd/mqttboard
mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
conf=$(mktemp)
cfg=$(mktemp --suffix .yaml)
port=${PORT:-18861} # PORT=...: another, when something else uses this one

start_broker() { # name, n -> sets pid
  local lim=$(( $2 + 1024 ))
  port_free $port
  case $1 in
  mqttboard-*|base-*)
    local exe=$bin
    [ "${1%%-*}" = base ] && exe=${BASE:?BASE=binary for base-* brokers}
    printf 'transport: %s\n' "${1#*-}" >"$cfg"
    prlimit --nofile=$lim:$lim taskset -c 0 "$exe" broker --listen 127.0.0.1:$port --config "$cfg" >/dev/null 2>&1 & ;;
  mosquitto)
    mosquitto_conf "$conf" $port "max_connections -1"
    prlimit --nofile=$lim:$lim taskset -c 0 "$mosquitto" -c "$conf" >/dev/null 2>&1 & ;;
  esac
  pid=$!
  wait_listen $port "$1"
}

echo "idle connections, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, open file limit (hard) $(ulimit -Hn), $("$mosquitto" -h | head -1)"
hard=$(ulimit -Hn)
for n in $counts; do
  if [ "$hard" != unlimited ] && [ $((n + 1024)) -gt "$hard" ] && ! prlimit --nofile=$((n + 1024)):$((n + 1024)) true 2>/dev/null; then
    echo "$n idle connections: skipped, they need $((n + 1024)) descriptors per process and the hard limit is $hard (raising it needs CAP_SYS_RESOURCE)"
    continue
  fi
  for round in $(seq "${ROUNDS:-1}"); do
  for b in ${BROKERS:-mqttboard-eventloop mqttboard-goroutine mosquitto}; do
    start_broker $b "$n"
    # prlimit: the broker's pid is prlimit's exec'd child (same pid).
    prlimit --nofile=$((n + 1024)):$((n + 1024)) taskset -c 1 "$bin" bench --target "$b=127.0.0.1:$port" --pid "$b=$pid" --idle "$n" -V 3.1.1 ${BUSY:+--busy "$BUSY"} --settle "${SETTLE:-30s}" || true
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
  done
done
