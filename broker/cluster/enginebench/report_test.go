package enginebench

import (
	"slices"
	"testing"
	"time"
)

func report(t *testing.T, what string, lat []time.Duration) {
	s := slices.Clone(lat)
	slices.Sort(s)
	q := func(p float64) time.Duration { return s[int(p*float64(len(s)-1))] }
	t.Logf("%s: n=%d p50=%v p90=%v p99=%v max=%v", what, len(s), q(.5), q(.9), q(.99), s[len(s)-1])
}
