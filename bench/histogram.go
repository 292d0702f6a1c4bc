package bench

import (
	"math"
	"time"
)

// histogram counts latencies in logarithmic buckets, 16 per doubling (about
// 4% wide), from 1 µs to about 70 s: fixed memory however many messages a
// run delivers.
type histogram struct {
	counts [26 * 16]uint64
	n      uint64
	max    time.Duration
}

const perDoubling = 16

func bucketOf(d time.Duration) int {
	us := float64(d) / float64(time.Microsecond)
	if us <= 1 {
		return 0
	}
	return min(int(math.Log2(us)*perDoubling), len(histogram{}.counts)-1)
}

// upper is the largest latency bucket b holds.
func upper(b int) time.Duration {
	return time.Duration(math.Exp2(float64(b+1)/perDoubling) * float64(time.Microsecond))
}

func (h *histogram) add(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(d)]++
	h.n++
	h.max = max(h.max, d)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the upper bound of the bucket holding quantile q, capped
// at the largest latency seen.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(upper(b), h.max)
		}
	}
	return h.max
}
