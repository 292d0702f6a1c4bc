package cluster

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// TestClusterStoreAdoptionExclusive: a persistent session is held offline
// by node 0 with 10 messages queued; node 0 crashes and both survivors
// try to adopt its sessions (as two survivors that disagree on which of
// them adopts would). Exactly one of them holds the session afterwards;
// messages published on both survivors queue once; the client comes back
// on the survivor that does not hold it and gets every message once, in
// order per publisher. Before the adoption was a compare-and-set, both
// survivors held the session ("both survivors hold the session").
func TestClusterStoreAdoptionExclusive(t *testing.T) {
	d := startDurable(t, 3)
	x := dial(t, d.nodes[0].addr, "x", false)
	x.sub(t, "q/#")
	x.Disconnect(&paho.Disconnect{})
	p0 := dial(t, d.nodes[0].addr, "p0", true)
	for i := range 10 {
		p0.pub(t, "q/before", 1, false, itoa(i))
	}
	// Both read the lost node's sessions before either takes one: the
	// race the compare-and-set decides.
	var read sync.WaitGroup
	read.Add(2)
	both := func() {
		read.Done()
		read.Wait()
	}
	for _, i := range []int{1, 2} {
		d.nodes[i].cl.adoptAlways.Store(true)
		d.nodes[i].cl.adoptRead.Store(&both)
	}
	d.crash(0)

	// Both survivors end their takeover (they acknowledge QoS 1 again).
	deadline := time.Now().Add(90 * time.Second)
	for _, i := range []int{1, 2} {
		for d.nodes[i].cl.takingOver() {
			if time.Now().After(deadline) {
				t.Fatalf("n%d still taking over", i)
			}
			time.Sleep(20 * time.Millisecond) // no event for the adoption's end; bounded
		}
	}
	holder := -1
	for _, i := range []int{1, 2} {
		if _, ok := d.nodes[i].srv.Session("x"); ok {
			if holder >= 0 {
				t.Fatalf("both survivors hold the session")
			}
			holder = i
		}
	}
	if holder < 0 {
		t.Fatal("no survivor holds the session")
	}
	other := 3 - holder

	ctx, cancel := context.WithTimeout(context.Background(), 6*wait)
	defer cancel()
	for _, i := range []int{1, 2} {
		p := dial(t, d.nodes[i].addr, "p"+itoa(i), true)
		for k := 0; k < 20; {
			pa, err := p.Publish(ctx, &paho.Publish{Topic: "q/n" + itoa(i), QoS: 1, Payload: []byte(itoa(k))})
			if err == nil && pa.ReasonCode < 0x80 {
				k++
				continue
			}
			if ctx.Err() != nil {
				t.Fatalf("n%d: message %d never acknowledged: %v %+v", i, k, err, pa)
			}
		}
	}

	y := dialWithPresent(t, d.nodes[other].addr, "x")
	next := map[string]int{}
	for got := 0; got < 50; got++ {
		m := y.recv(t)
		if want := itoa(next[m.Topic]); string(m.Payload) != want {
			t.Fatalf("%s: got %q, want %q (a duplicate or a gap)", m.Topic, m.Payload, want)
		}
		next[m.Topic]++
	}
	if next["q/before"] != 10 || next["q/n1"] != 20 || next["q/n2"] != 20 {
		t.Fatalf("got %v", next)
	}
	p := dial(t, d.nodes[holder].addr, "pq", true)
	y.quiet(t, p, "q/marker")
	if _, ok := d.nodes[holder].srv.Session("x"); ok {
		t.Errorf("n%d still holds the session its client resumed on n%d", holder, other)
	}
}
