#!/bin/sh
# Side-by-side run of our broker and mosquitto with one load generator:
# each broker pinned to core 0, the load generator to core 1.
# Build first, from the repository root:
#   go build -o /tmp/mqttboard ./cmd/mqttboard && go test -c -o /tmp/broker.test ./broker/
DIR=$(cd "$(dirname "$0")" && pwd)
taskset -c 0 /usr/sbin/mosquitto -c "$DIR/mosquitto.conf" > /tmp/mosq.log 2>&1 &
MOSQ=$!
taskset -c 0 /tmp/mqttboard broker --listen 127.0.0.1:1885 --log-level error > /tmp/mb.log 2>&1 &
MB=$!
sleep 1
# Idle memory first, on fresh processes (the idle connections stay open).
echo "== idle RSS"
python3 "$DIR/idle_rss.py" 1885 5000 $MB
python3 "$DIR/idle_rss.py" 1884 5000 $MOSQ
for target in 127.0.0.1:1885 127.0.0.1:1884; do
  echo "== $target"
  MQTTBOARD_BENCH_BROKER=$target taskset -c 1 /tmp/broker.test -test.run '^$' -test.bench 'FanOut|FanIn|Pairs' -test.benchtime 20000x -test.timeout 600s 2>&1 | grep -E 'Benchmark|FAIL'
  MQTTBOARD_BENCH_BROKER=$target taskset -c 1 /tmp/broker.test -test.run '^$' -test.bench 'Latency' -test.benchtime 3000x 2>&1 | grep -E 'Benchmark|FAIL'
done
kill $MOSQ $MB
