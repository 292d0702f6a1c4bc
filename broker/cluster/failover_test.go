package cluster

import (
	"context"
	"sync"
	"testing"

	"github.com/eclipse/paho.golang/paho"
)

// TestClusterStoreFailoverRefusesOnlyLostInterest: while a lost node's
// sessions are taken over, the survivors refuse (0x97) only the QoS 1
// PUBLISHes that could reach one of them: topics matching the lost
// node's interest (a persistent subscriber's filter) or a $share
// member's filter. A topic only the survivors subscribe is acknowledged
// at once (it was refused like the others before). Node 1 adopts node
// 0's sessions and is held after its read, so the test publishes in
// the takeover itself; then every refused topic is acknowledged after
// the adoption, and the subscribers resume with what was acknowledged.
func TestClusterStoreFailoverRefusesOnlyLostInterest(t *testing.T) {
	d := startDurable(t, 3)
	x := dial(t, d.nodes[0].addr, "x", false)
	x.sub(t, "lost/#")
	x.Disconnect(&paho.Disconnect{})
	m := dial(t, d.nodes[0].addr, "m", false)
	m.sub(t, "$share/g/grp/#")
	m.Disconnect(&paho.Disconnect{})
	y := dial(t, d.nodes[2].addr, "y", false)
	y.sub(t, "kept/#")

	reached := make(chan struct{})
	release := make(chan struct{})
	var once, reach sync.Once
	let := func() { once.Do(func() { close(release) }) }
	t.Cleanup(let)
	c1 := d.nodes[1].cl
	hold := func() {
		reach.Do(func() { close(reached) })
		select {
		case <-release:
		case <-c1.closed:
		}
	}
	c1.adoptRead.Store(&hold)
	p := dial(t, d.nodes[1].addr, "p", true)
	d.crash(0)
	select {
	case <-reached:
	case <-c1.closed:
		t.Fatal("node 1 closed")
	}
	// In the takeover: node 1 read node 0's sessions and holds them back.
	if !c1.takingOver() {
		t.Fatal("node 1 is not taking over")
	}
	code := func(topic string) byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		pa, err := p.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(topic)})
		if pa == nil {
			t.Fatalf("publish %q: %v", topic, err)
		}
		return pa.ReasonCode
	}
	if rc := code("kept/1"); rc >= 0x80 {
		t.Fatalf("a topic only the survivors subscribe was refused during the takeover: %#x", rc)
	}
	for _, topic := range []string{"lost/1", "grp/1"} {
		if rc := code(topic); rc != 0x97 {
			t.Fatalf("%q, which node 0's sessions could receive, got %#x during the takeover, want 0x97", topic, rc)
		}
	}
	if got := y.recv(t); string(got.Payload) != "kept/1" {
		t.Fatalf("y got %q", got.Payload)
	}
	let()
	pubAcked(t, p, "lost/1", "lost/1")
	pubAcked(t, p, "grp/1", "grp/1")
	for _, c := range []struct{ id, want string }{{"x", "lost/1"}, {"m", "grp/1"}} {
		r := dialWithPresent(t, d.nodes[2].addr, c.id)
		if got := r.recv(t); string(got.Payload) != c.want {
			t.Fatalf("%s resumed with %q, want %q", c.id, got.Payload, c.want)
		}
	}
}
