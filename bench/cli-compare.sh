#!/usr/bin/env bash
# cli-compare.sh: mqttboard's scripted client side by side with
# mosquitto_sub/mosquitto_pub against ONE mosquitto on a free loopback port,
# in one run:
#   - time to first message: `sub -C 1` on a topic holding a retained
#     message (start, connect, subscribe, receive, exit);
#   - throughput: `pub --repeat N` QoS 0 to a topic nobody subscribes to.
# Uses hyperfine when installed, else a `date +%s%N` loop.
#
# Usage: bench/cli-compare.sh [RUNS] [REPEAT]   (defaults: 30, 100000)
set -euo pipefail

runs=${1:-30}
repeat=${2:-100000}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
broker_pid=
cleanup() {
	if [[ -n $broker_pid ]]; then kill "$broker_pid" 2>/dev/null || true; wait "$broker_pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
for tool in "$mosquitto" mosquitto_pub mosquitto_sub go; do
	command -v "$tool" >/dev/null || { echo "cli-compare: $tool not found (Debian packages mosquitto, mosquitto-clients)" >&2; exit 1; }
done

(cd "$root" && go build -o "$tmp/mqttboard" ./cmd/mqttboard)
mqttboard=$tmp/mqttboard

# A free port: bind :0, read it, close it.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)))
printf 'listener %s 127.0.0.1\nallow_anonymous true\nlog_type error\n' "$port" >"$tmp/mosquitto.conf"
if [[ $(id -u) == 0 ]]; then echo "user root" >>"$tmp/mosquitto.conf"; fi
"$mosquitto" -c "$tmp/mosquitto.conf" >"$tmp/mosquitto.log" 2>&1 &
broker_pid=$!
for _ in $(seq 100); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
	sleep 0.05
done
(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "cli-compare: mosquitto did not listen on $port:" >&2; cat "$tmp/mosquitto.log" >&2; exit 1; }

mosquitto_pub -p "$port" -t bench/ttfm -m first -r -q 1

echo "# $(uname -sm), $(nproc) cores; $("$mosquitto" -h 2>&1 | head -1); $("$mqttboard" version)"
echo "# broker: one mosquitto on 127.0.0.1:$port; runs=$runs repeat=$repeat"
echo

sub_mqttboard=("$mqttboard" sub -p "$port" -t bench/ttfm -C 1)
sub_mosquitto=(mosquitto_sub -p "$port" -t bench/ttfm -C 1)
pub_mqttboard=("$mqttboard" pub -p "$port" -t bench/pub -m 0123456789abcdef -q 0 --repeat "$repeat")
pub_mosquitto=(mosquitto_pub -p "$port" -t bench/pub -m 0123456789abcdef -q 0 --repeat "$repeat")

# ms_runs N CMD...: N wall times in ms, one a line.
ms_runs() {
	local n=$1 i t0 t1
	shift
	for ((i = 0; i < n; i++)); do
		t0=$(date +%s%N)
		"$@" >/dev/null
		t1=$(date +%s%N)
		echo $(((t1 - t0) / 1000))
	done | sort -n | awk '{v[NR]=$1/1000} END {printf "%.1f %.1f %.1f\n", v[1], v[int((NR+1)/2)], v[NR]}'
}

if command -v hyperfine >/dev/null; then
	hyperfine --warmup 3 --runs "$runs" -N \
		-n "mqttboard sub -C 1" "${sub_mqttboard[*]}" \
		-n "mosquitto_sub -C 1" "${sub_mosquitto[*]}"
	hyperfine --warmup 1 --runs 5 -N \
		-n "mqttboard pub --repeat $repeat" "${pub_mqttboard[*]}" \
		-n "mosquitto_pub --repeat $repeat" "${pub_mosquitto[*]}"
	exit 0
fi

ms_runs 3 "${sub_mqttboard[@]}" >/dev/null # warm the page cache
ms_runs 3 "${sub_mosquitto[@]}" >/dev/null
echo "| time to first message (sub -C 1, retained) | min ms | median ms | max ms |"
echo "|---|---|---|---|"
read -r a b c < <(ms_runs "$runs" "${sub_mqttboard[@]}")
echo "| mqttboard sub | $a | $b | $c |"
read -r a b c < <(ms_runs "$runs" "${sub_mosquitto[@]}")
echo "| mosquitto_sub | $a | $b | $c |"
echo
echo "| pub --repeat $repeat, QoS 0, 16 B | median s (5 runs) | msgs/s |"
echo "|---|---|---|"
for name in mqttboard mosquitto; do
	if [[ $name == mqttboard ]]; then cmd=("${pub_mqttboard[@]}"); else cmd=("${pub_mosquitto[@]}"); fi
	read -r _ med _ < <(ms_runs 5 "${cmd[@]}")
	awk -v n="$name" -v ms="$med" -v r="$repeat" 'BEGIN {printf "| %s | %.2f | %.0f k |\n", (n == "mqttboard" ? "mqttboard pub" : "mosquitto_pub"), ms/1000, r/(ms/1000)/1000}'
done
