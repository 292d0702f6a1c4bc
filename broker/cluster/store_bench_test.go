package cluster

import (
	"context"
	"os"
	"runtime/pprof"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/bench"
	"github.com/mqttboard/mqttboard/broker"
)

// TestClusterStoreThroughput (MQTTBOARD_STORE_BENCH=seconds) runs the
// bench pairs scenario (10 publishers, 10 persistent subscribers, QoS 1)
// over a 3-node cluster with the replicated store, in this process, so
// that -cpuprofile shows where a delivery's CPU goes. It is a measurement,
// not a test: skipped unless asked for.
func TestClusterStoreThroughput(t *testing.T) {
	secs, _ := strconv.Atoi(os.Getenv("MQTTBOARD_STORE_BENCH"))
	if secs <= 0 {
		t.Skip("a measurement: set MQTTBOARD_STORE_BENCH=seconds to run it")
	}
	pairs, inflight := 10, 100
	if os.Getenv("MQTTBOARD_STORE_BENCH_ONE") != "" {
		pairs, inflight = 1, 1
	}
	var all []*node
	if os.Getenv("MQTTBOARD_STORE_BENCH_MEM") != "" {
		all = startCluster(t, 3, broker.Options{NoStamp: true})
	} else {
		all = startDurable(t, 3).nodes
	}
	var nodes []string
	for _, nd := range all {
		nodes = append(nodes, nd.addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs+60)*time.Second)
	defer cancel()
	if f := os.Getenv("MQTTBOARD_STORE_BENCH_STACKS"); f != "" {
		go func() {
			time.Sleep(time.Duration(secs) * time.Second / 2)
			out, err := os.Create(f)
			if err == nil {
				pprof.Lookup("goroutine").WriteTo(out, 1)
				out.Close()
			}
		}()
	}
	var ru0 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	res, err := bench.Run(ctx, bench.Config{Nodes: nodes, Scenario: bench.Pairs, Publishers: pairs, Subscribers: pairs, Inflight: inflight,
		QoS: 1, Persistent: true, Duration: time.Duration(secs) * time.Second, Drain: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	t.Logf("%s; process CPU %v = %.1f µs per delivered message", res, cpu, float64(cpu.Microseconds())/float64(res.Delivered))
	for _, nd := range all {
		if nd.cl.store == nil {
			continue
		}
		st := &nd.cl.store.stats
		t.Logf("%s store: %d records applied, %d published in %d groups, answered in %v on average", nd.cl.cfg.NodeName, st.applied.Load(), st.published.Load(), st.groups.Load(), time.Duration(st.ackWait.Load()/max(1, st.groups.Load())))
	}
	if res.Lost() != 0 {
		t.Errorf("lost %d", res.Lost())
	}
}
