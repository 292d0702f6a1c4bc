package cluster

import (
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestJetStreamWriteCost (MQTTBOARD_STORE_BENCH set) measures what a
// replicated write costs the three nodes in CPU per record, written one
// publish per record, as atomic batches of 25 and 100 records (what the
// store does), and as one message holding 25 or 100 records' bytes (a
// possible log format): JetStream's cost is per stored message, so only
// the last cuts it by the batch size. A measurement, not a test.
func TestJetStreamWriteCost(t *testing.T) {
	if os.Getenv("MQTTBOARD_STORE_BENCH") == "" {
		t.Skip("a measurement: set MQTTBOARD_STORE_BENCH=1 to run it")
	}
	d := startDurable(t, 3)
	st := d.nodes[0].cl.store
	js := st.js
	nc := d.nodes[0].cl.nc
	payload := make([]byte, 100)
	n := 6000
	for _, size := range []int{1, 25, 100} {
		for _, mode := range []string{"atomic batch", "one message"} {
			if size == 1 && mode == "one message" {
				continue
			}
			c0, w0 := cpuNow(), time.Now()
			var futs []jetstream.PubAckFuture
			for b := range n / size {
				if mode == "one message" {
					m := nats.NewMsg("x.g" + strconv.Itoa(size) + "." + strconv.Itoa(b))
					m.Data = make([]byte, 100*size)
					f, _ := js.PublishMsgAsync(m)
					futs = append(futs, f)
					continue
				}
				id := nuid.Next()
				for i := range size {
					m := nats.NewMsg("x.a" + strconv.Itoa(size) + ".q." + strconv.Itoa(b*size+i))
					m.Data = payload
					if size == 1 {
						f, _ := js.PublishMsgAsync(m)
						futs = append(futs, f)
						continue
					}
					m.Header.Set(hdrBatchID, id)
					m.Header.Set(hdrBatchSeq, strconv.Itoa(i+1))
					if i < size-1 {
						nc.PublishMsg(m)
						continue
					}
					m.Header.Set(hdrBatchEnd, "1")
					f, _ := js.PublishMsgAsync(m)
					futs = append(futs, f)
				}
				if len(futs) >= 40 {
					for _, f := range futs {
						select {
						case <-f.Ok():
						case err := <-f.Err():
							t.Fatal(err)
						}
					}
					futs = futs[:0]
				}
			}
			for _, f := range futs {
				select {
				case <-f.Ok():
				case err := <-f.Err():
					t.Fatal(err)
				}
			}
			cpu, wall := cpuNow()-c0, time.Since(w0)
			t.Logf("%s %d: %d records in %v, CPU %.1f µs per record", mode, size, n, wall.Round(time.Millisecond), float64(cpu.Microseconds())/float64(n))
		}
	}
}
