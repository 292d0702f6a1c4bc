package broker_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/mqttboard/mqttboard/broker/brokertest"
)

// TestManyClients runs 200 paho clients that all publish and subscribe at
// once, and checks that every QoS 1 message reached every subscriber it
// should exactly once.
func TestManyClients(t *testing.T) {
	const clients, groups, perClient = 200, 10, 10
	if testing.Short() {
		t.Skip("load test")
	}
	addr := brokertest.Start(t)
	start := time.Now()
	defer func() { t.Logf("done after %v", time.Since(start)) }()
	type rec struct {
		mu   sync.Mutex
		seen map[string]int
		n    int
		all  chan struct{}
	}
	want := clients / groups * perClient // messages each subscriber receives
	recs := make([]*rec, clients)
	cs := make([]*paho.Client, clients)
	// The bound is the test binary's own deadline (less a margin for the
	// report), not a fixed minute: under -race on a busy 2-core machine the
	// 40,000 deliveries take CPU time the test cannot have in a minute, and
	// that is load, not a stall.
	deadline := time.Now().Add(5 * time.Minute)
	if d, ok := t.Deadline(); ok {
		deadline = d.Add(-30 * time.Second)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	for i := range clients {
		r := &rec{seen: make(map[string]int), all: make(chan struct{})}
		recs[i] = r
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c := paho.NewClient(paho.ClientConfig{Conn: nc, PacketTimeout: time.Until(deadline), OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) {
				r.mu.Lock()
				r.seen[string(pr.Packet.Payload)]++
				r.n++
				if r.n == want {
					close(r.all)
				}
				r.mu.Unlock()
				return true, nil
			}}})
		if _, err := c.Connect(ctx, &paho.Connect{ClientID: fmt.Sprint("load-", i), CleanStart: true, KeepAlive: 30}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: fmt.Sprintf("load/%d/#", i%groups), QoS: 1}}}); err != nil {
			t.Fatal(err)
		}
		cs[i] = c
		defer c.Disconnect(&paho.Disconnect{})
	}
	t.Logf("connected after %v", time.Since(start))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() {
			for j := range perClient {
				_, err := c.Publish(ctx, &paho.Publish{Topic: fmt.Sprintf("load/%d/%d", (i+1)%groups, i), QoS: 1, Payload: fmt.Appendf(nil, "%d-%d", i, j)})
				if err != nil {
					t.Errorf("publish %d-%d: %v", i, j, err)
					return
				}
			}
		})
	}
	wg.Wait()
	t.Logf("published after %v", time.Since(start))
	for i, r := range recs {
		select {
		case <-r.all:
		case <-ctx.Done():
			r.mu.Lock()
			n := r.n
			r.mu.Unlock()
			t.Fatalf("client %d received %d of %d", i, n, want)
		}
	}
	for i, r := range recs {
		r.mu.Lock()
		for p, n := range r.seen {
			if n != 1 {
				t.Errorf("client %d got %q %d times", i, p, n)
			}
		}
		if len(r.seen) != want {
			t.Errorf("client %d got %d distinct messages, want %d", i, len(r.seen), want)
		}
		r.mu.Unlock()
	}
}
