package cluster

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// TestClusterStoreSharedHeldSurvivesNodeLoss: the only member of a $share
// group is a persistent session, offline, held by node 0; messages
// published on node 1 are picked for it and forwarded to node 0, which
// holds them for it (flespi's shared-group storage). Every PUBACK waits
// until node 0 replicated them, so when node 0 crashes right after the
// last PUBACK the member resumes on node 2 with all of them, once and in
// order. Then node 2's store stops: a message it cannot store for its
// held member is answered 0x97, not acknowledged.
func TestClusterStoreSharedHeldSurvivesNodeLoss(t *testing.T) {
	d := startDurable(t, 3)
	m := dial(t, d.nodes[0].addr, "m", false)
	m.sub(t, "$share/g/s/#")
	m.Disconnect(&paho.Disconnect{})
	p := dial(t, d.nodes[1].addr, "p", true)
	const n = 100
	for i := range n {
		p.pub(t, "s/x", 1, false, itoa(i))
	}
	d.crash(0)
	y := dialWithPresent(t, d.nodes[2].addr, "m")
	for i := range n {
		if got := y.recv(t); string(got.Payload) != itoa(i) {
			t.Fatalf("message %d: got %q", i, got.Payload)
		}
	}
	// Nothing more: the next message is a later one (published once the
	// survivors take QoS 1 again: 0x97 meanwhile).
	pubAcked(t, p, "s/x", "after")
	if got := y.recv(t); string(got.Payload) != "after" {
		t.Fatalf("extra delivery %q", got.Payload)
	}

	// The member, offline again, is held by node 2; node 2 can no longer
	// store: the publisher on node 1 is told.
	y.Disconnect(&paho.Disconnect{})
	d.nodes[2].cl.store.Close()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	pa, err := p.Publish(ctx, &paho.Publish{Topic: "s/x", QoS: 1, Payload: []byte("not stored")})
	if err == nil && pa.ReasonCode < 0x80 {
		t.Fatalf("a message the member's node could not store was acknowledged: %+v", pa)
	}
}

// pubAcked publishes at QoS 1 until the broker acknowledges it (a node
// taking a lost node's sessions over answers 0x97 meanwhile).
func pubAcked(t *testing.T, c *client, topic, payload string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 9*wait)
	defer cancel()
	for {
		pa, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(payload)})
		if err == nil && pa.ReasonCode < 0x80 {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("publish %q never acknowledged: %v %+v", topic, err, pa)
		}
	}
}

// TestClusterStoreSharedSecondHopConfirmed: a message the member's node
// passes on to a third node (the member moved there while the message
// travelled) is acknowledged to its publisher only once that third node
// stored it. The group's only member, a persistent session, is offline
// on node 0; node 1 is held at that view (its table updates are not
// applied, as for the moments a change travels) while the member moves
// to node 2 and goes offline there. Messages published on node 1 then go
// node 1 → node 0 → node 2. Node 2 holds the last one in its inbox until
// its publisher got an answer (or 2 s passed: the answer waits for node
// 2, as it must); node 2 crashes right after that answer, and the member,
// resuming on node 0 (which adopts it), must have every message that was
// acknowledged, counted by sequence number.
func TestClusterStoreSharedSecondHopConfirmed(t *testing.T) {
	d := startDurable(t, 3)
	m := dial(t, d.nodes[0].addr, "m", false)
	m.sub(t, "$share/g/s/#")
	m.Disconnect(&paho.Disconnect{})
	waitMember(t, d.nodes[1].cl, "m", "n0")
	d.nodes[1].cl.grp.hold.Store(true) // node 1 goes on forwarding to node 0

	moved := dialWithPresent(t, d.nodes[2].addr, "m")
	moved.Disconnect(&paho.Disconnect{})
	waitMember(t, d.nodes[0].cl, "m", "n2") // node 0 passes on to node 2

	p := dial(t, d.nodes[1].addr, "p", true)
	const n = 30
	acked := map[string]bool{}
	publish := func(i int) bool {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		pa, err := p.Publish(ctx, &paho.Publish{Topic: "s/x", QoS: 1, Payload: []byte(itoa(i))})
		ok := err == nil && pa.ReasonCode < 0x80
		if ok {
			acked[itoa(i)] = true
		}
		return ok
	}
	for i := range n - 1 {
		publish(i)
	}
	// The last one waits in node 2's inbox until its publisher is
	// answered, or for 2 s (then it is let through: the answer waits
	// for node 2 to store it).
	c2 := d.nodes[2].cl
	release := make(chan struct{})
	var once sync.Once
	let := func() { once.Do(func() { close(release) }) }
	t.Cleanup(let)
	reached := make(chan struct{})
	var reach sync.Once
	hook := func() {
		reach.Do(func() { close(reached) })
		select {
		case <-release:
		case <-c2.closed:
		}
	}
	c2.forwardHook.Store(&hook)
	answered := make(chan bool, 1)
	go func() { answered <- publish(n - 1) }()
	select {
	case <-answered:
	case <-reached:
		select {
		case <-answered:
		case <-time.After(2 * time.Second): // not answered while node 2 holds it: let it go
			let()
			<-answered
		}
	}
	d.crash(2)
	d.nodes[1].cl.grp.hold.Store(false)
	if len(acked) == 0 {
		t.Fatal("no message was acknowledged")
	}

	y := dialWithPresent(t, d.nodes[0].addr, "m")
	pubAcked(t, p, "s/x", "end")
	got := map[string]bool{}
	for {
		pb := y.recv(t)
		if string(pb.Payload) == "end" {
			break
		}
		got[string(pb.Payload)] = true
	}
	var lost []string
	for i := range n {
		if acked[itoa(i)] && !got[itoa(i)] {
			lost = append(lost, itoa(i))
		}
	}
	t.Logf("%d of %d acknowledged, %d received", len(acked), n, len(got))
	if len(lost) > 0 {
		t.Fatalf("acknowledged and lost (node 2 stored them after the PUBACK): %v", lost)
	}
}

// waitMember waits until cl holds client as a shared-group member of
// node (a table from that node; the change sends cl no event to wait on).
func waitMember(t *testing.T, cl *Node, client, node string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		cl.grp.pmu.Lock()
		pm := cl.grp.peers[node]
		ok := pm != nil && pm.clients[client] != nil && !pm.clients[client].Online()
		cl.grp.pmu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not hold %s as an offline member on %s", cl.cfg.NodeName, client, node)
		}
		time.Sleep(5 * time.Millisecond) // bounded by deadline
	}
}
