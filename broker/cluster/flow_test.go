package cluster

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/mqttboard/mqttboard/broker"
)

// flowInbox is the test nodes' inbox: small, so that two publishers
// overflow it quickly without flow control.
const flowInbox = 2048

// gatedCluster starts 3 nodes with small inboxes; node 0's inbox goroutine
// waits before each message until gate is closed (or the node closes).
func gatedCluster(t *testing.T, gate chan struct{}) []*node {
	t.Helper()
	small := func(c *Config) { c.inboxLen = flowInbox }
	gated := func(c *Config) {
		small(c)
		c.onHandle = func(n *Node) {
			select {
			case <-gate:
			case <-n.closed:
			}
		}
	}
	opts := broker.Options{NoStamp: true}
	n0 := startNode(t, "n0", "", opts, gated)
	seed := n0.cl.ClusterAddr().String()
	nodes := []*node{n0, startNode(t, "n1", seed, opts, small), startNode(t, "n2", seed, opts, small)}
	waitMembers(t, nodes, 3)
	return nodes
}

// publishSeq publishes count QoS 1 messages "0", "1", ... to topic from c
// and returns how many were acknowledged (it stops at the first failure).
func publishSeq(c *client, topic string, count int) int {
	for i := range count {
		ctx, cancel := context.WithTimeout(context.Background(), 2*wait)
		_, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(strconv.Itoa(i))})
		cancel()
		if err != nil {
			return i
		}
	}
	return count
}

// TestClusterFlowNoAckedLoss floods a subscriber on node 0 from QoS 1
// publishers on nodes 1 and 2 while node 0's inbox goroutine is held: the
// publishers' nodes must stop acknowledging (their windows to node 0 are
// used up) rather than overflow node 0's inbox, and once node 0 routes
// again every acknowledged message reaches the subscriber, once, in order.
func TestClusterFlowNoAckedLoss(t *testing.T) {
	const perPub = 3 * flowInbox / 2 // both together: 1.5 inboxes each
	gate := make(chan struct{})
	nodes := gatedCluster(t, gate)
	sub := dial(t, nodes[0].addr, "sub", true)
	sub.sub(t, "flow/#")

	pubs := []*client{dial(t, nodes[1].addr, "p1", true), dial(t, nodes[2].addr, "p2", true)}
	acked := make([]int, len(pubs))
	var wg sync.WaitGroup
	for i, p := range pubs {
		wg.Go(func() { acked[i] = publishSeq(p, "flow/"+strconv.Itoa(i), perPub) })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	// Hold node 0 until a sending node waits on its window, or (without
	// flow control) until the publishers have had everything acknowledged.
	deadline := time.Now().Add(2 * wait)
hold:
	for {
		select {
		case <-done:
			break hold
		default:
		}
		if nodes[1].cl.flowWaits() > 0 || nodes[2].cl.flowWaits() > 0 {
			break hold
		}
		if time.Now().After(deadline) {
			t.Fatal("the publishers neither finished nor were held back")
		}
		time.Sleep(time.Millisecond) // polls two counters; bounded by deadline
	}
	close(gate)
	select {
	case <-done:
	case <-time.After(4 * wait):
		t.Fatal("the publishers did not finish after node 0 routed again")
	}

	next := make([]int, len(pubs))
	total := acked[0] + acked[1]
	for got := 0; got < total; got++ {
		select {
		case p := <-sub.msgs:
			i, _ := strconv.Atoi(strings.TrimPrefix(p.Topic, "flow/"))
			seq, _ := strconv.Atoi(string(p.Payload))
			if i < 0 || i >= len(pubs) || seq != next[i] {
				t.Fatalf("publisher %d: got message %d, want %d (out of order, duplicated or one lost)", i, seq, next[i])
			}
			next[i]++
		case <-time.After(wait):
			t.Fatalf("received %v of %v acknowledged messages; node 0 dropped %d times", next, acked, nodes[0].cl.Dropped())
		}
	}
	if acked[0] != perPub || acked[1] != perPub {
		t.Errorf("acknowledged %v of %d each", acked, perPub)
	}
	if d := nodes[0].cl.Dropped(); d != 0 {
		t.Errorf("node 0 dropped messages %d times", d)
	}
}

// TestClusterFlowReleasedByPeerLoss: a publisher held back because node 0
// does not route (its window is used up) goes on once node 0 leaves the
// cluster, with nothing more to wait for.
func TestClusterFlowReleasedByPeerLoss(t *testing.T) {
	gate := make(chan struct{}) // never opened: node 0 routes nothing
	nodes := gatedCluster(t, gate)
	sub := dial(t, nodes[0].addr, "sub", true)
	sub.sub(t, "flow/#")
	p := dial(t, nodes[1].addr, "p", true)
	const count = flowInbox // many windows' worth
	acked := make(chan int, 1)
	go func() { acked <- publishSeq(p, "flow/0", count) }()

	deadline := time.Now().Add(2 * wait)
	for nodes[1].cl.flowWaits() == 0 {
		select {
		case n := <-acked:
			t.Fatalf("all %d of %d acknowledged without waiting for node 0's room", n, count)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the publisher was not held back")
		}
		time.Sleep(time.Millisecond) // polls a counter; bounded by deadline
	}
	nodes[0].cl.Close()
	select {
	case n := <-acked:
		if n != count {
			t.Fatalf("acknowledged %d of %d", n, count)
		}
	case <-time.After(4 * wait):
		t.Fatal("the publisher is still held back after node 0 left")
	}
}

// TestClusterFlowReleasedByClose: a publisher held back by a peer is let
// go when its own node closes.
func TestClusterFlowReleasedByClose(t *testing.T) {
	gate := make(chan struct{})
	nodes := gatedCluster(t, gate)
	sub := dial(t, nodes[0].addr, "sub", true)
	sub.sub(t, "flow/#")
	n1 := nodes[1].cl
	var released sync.WaitGroup
	released.Go(func() {
		m := make([]byte, 10)
		for n1.flowWaits() == 0 {
			select {
			case <-n1.closed:
				return
			default:
			}
			n1.send("m.flow.x", m, true) // what Publish sends, minus the envelope
		}
	})
	deadline := time.Now().Add(2 * wait)
	for n1.flowWaits() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the sender was not held back")
		}
		time.Sleep(time.Millisecond) // polls a counter; bounded by deadline
	}
	n1.Close()
	ch := make(chan struct{})
	go func() { released.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(wait):
		t.Fatal("the sender is still held back after its node closed")
	}
	close(gate)
}
