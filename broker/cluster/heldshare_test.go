package cluster

import (
	"context"
	"testing"

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
