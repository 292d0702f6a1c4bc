//go:build linux

package main

import (
	"strings"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/broker/brokertest"
)

// TestInStepCountsEveryDelivery: against a real broker, every burst's
// deliveries all arrive and each is counted once, in order of arrival.
func TestInStepCountsEveryDelivery(t *testing.T) {
	addr := brokertest.Start(t)
	r, err := run(config{addr: addr, pairs: 10, bursts: 5, interval: 10 * time.Millisecond, size: 64})
	if err != nil {
		t.Fatal(err)
	}
	if r.lost != 0 {
		t.Fatalf("%d bursts lost deliveries", r.lost)
	}
	if len(r.lat) != 50 {
		t.Fatalf("%d deliveries, want 50", len(r.lat))
	}
	for k := range r.kth {
		if len(r.kth[k]) != 5 {
			t.Fatalf("delivery %d seen in %d bursts, want 5", k+1, len(r.kth[k]))
		}
	}
	for b := range 5 {
		if r.kth[0][b] > r.kth[9][b] {
			t.Fatalf("burst %d: 1st delivery at %v after the 10th at %v", b, r.kth[0][b], r.kth[9][b])
		}
	}
	if s := r.String(); !strings.Contains(s, "5-th") || !strings.Contains(s, "lost bursts 0") {
		t.Fatalf("report %q", s)
	}
}
