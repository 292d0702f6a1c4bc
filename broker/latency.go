package broker

import (
	"sync/atomic"
	"time"
)

// routeSample is how often routing is timed: one PUBLISH in routeSample per
// connection. Timing every message would add a clock read and a histogram
// update to each; sampled, the message path pays one integer test per
// message (on a counter it keeps anyway) and the histogram still has
// thousands of samples a second under load.
const routeSample = 64

// LatencyBuckets are the upper bounds of the route latency histogram.
var LatencyBuckets = []time.Duration{
	time.Microsecond, 2500 * time.Nanosecond, 5 * time.Microsecond, 10 * time.Microsecond,
	25 * time.Microsecond, 50 * time.Microsecond, 100 * time.Microsecond, 250 * time.Microsecond,
	500 * time.Microsecond, time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond,
}

// latencyHistogram counts durations into LatencyBuckets (the last slot is
// +Inf) with atomics only.
type latencyHistogram struct {
	counts [17]atomic.Uint64 // len(LatencyBuckets)+1
	sum    atomic.Int64      // nanoseconds
}

func (h *latencyHistogram) observe(d time.Duration) {
	i := 0
	for i < len(LatencyBuckets) && d > LatencyBuckets[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

// LatencySnapshot is a histogram read: Counts[i] observations fell at or
// below LatencyBuckets[i] and above the previous bound (the last one: above
// every bound); Sum is their total.
type LatencySnapshot struct {
	Counts []uint64
	Sum    time.Duration
}

func (h *latencyHistogram) snapshot() LatencySnapshot {
	s := LatencySnapshot{Counts: make([]uint64, len(h.counts)), Sum: time.Duration(h.sum.Load())}
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
	}
	return s
}
