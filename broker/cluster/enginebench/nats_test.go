package enginebench

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsCluster is three embedded nats-servers on loopback, fully routed,
// with JetStream on (file storage in a temporary directory).
type natsCluster struct {
	t     *testing.T
	ports []int // cluster (route) ports, fixed so a node can be restarted
	dirs  []string
	nodes []*server.Server
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func newNATSCluster(t *testing.T, n int) *natsCluster {
	c := &natsCluster{t: t}
	for range n {
		c.ports = append(c.ports, freePort(t))
		c.dirs = append(c.dirs, t.TempDir())
	}
	c.nodes = make([]*server.Server, n)
	for i := range n {
		c.start(i)
	}
	for i := range n {
		if !c.nodes[i].ReadyForConnections(10 * time.Second) {
			t.Fatalf("node %d not ready", i)
		}
	}
	t.Cleanup(func() {
		for _, s := range c.nodes {
			if s != nil {
				s.Shutdown()
			}
		}
	})
	return c
}

func (c *natsCluster) start(i int) {
	var routes []*url.URL
	for j, p := range c.ports {
		if j != i {
			routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)})
		}
	}
	o := &server.Options{
		ServerName: fmt.Sprintf("n%d", i),
		Host:       "127.0.0.1",
		Port:       -1, // clients of the spike connect in-process anyway
		NoLog:      true,
		NoSigs:     true,
		JetStream:  true,
		StoreDir:   c.dirs[i],
		Cluster:    server.ClusterOpts{Name: "spike", Host: "127.0.0.1", Port: c.ports[i]},
		Routes:     routes,
	}
	s, err := server.NewServer(o)
	if err != nil {
		c.t.Fatal(err)
	}
	s.Start()
	c.nodes[i] = s
}

func (c *natsCluster) conn(i int, opts ...nats.Option) *nats.Conn {
	nc, err := nats.Connect("", append(opts, nats.InProcessServer(c.nodes[i]))...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(nc.Close)
	return nc
}

// waitRoutes waits until every node has a route to every other.
func (c *natsCluster) waitRoutes() {
	deadline := time.Now().Add(20 * time.Second)
	for _, s := range c.nodes {
		for s.NumRoutes() < len(c.nodes)-1 {
			if time.Now().After(deadline) {
				c.t.Fatalf("routes not formed: %s has %d", s.Name(), s.NumRoutes())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// TestNATSCrossNodePublish: core NATS, a subscriber on node 1, a publisher on
// node 0. Sequential latency (publish, wait for arrival) and one-way
// throughput of 64-byte messages.
func TestNATSCrossNodePublish(t *testing.T) {
	c := newNATSCluster(t, 3)
	c.waitRoutes()
	pub, sub := c.conn(0), c.conn(1)
	ch := make(chan *nats.Msg, 65536)
	s, err := sub.ChanSubscribe("m.bench.>", ch)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Unsubscribe()
	sub.Flush()
	// Interest reaches node 0 asynchronously: wait for it.
	waitInterest(t, pub, "m.bench.x", ch)

	const N = 5000
	lat := make([]time.Duration, 0, N)
	payload := make([]byte, 64)
	for range N {
		start := time.Now()
		pub.Publish("m.bench.lat", payload)
		recvMsg(t, ch)
		lat = append(lat, time.Since(start))
	}
	report(t, "nats core cross-node publish->deliver (sequential)", lat)

	const M = 200000
	var got atomic.Int64
	done := make(chan struct{})
	go func() {
		for range M {
			recvMsg(t, ch)
		}
		got.Store(M)
		close(done)
	}()
	start := time.Now()
	for i := range M {
		binary.BigEndian.PutUint64(payload, uint64(i))
		if err := pub.Publish("m.bench.tput", payload); err != nil {
			t.Fatal(err)
		}
	}
	pub.Flush()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("only part of %d arrived", M)
	}
	el := time.Since(start)
	t.Logf("nats core cross-node throughput: %d msgs of 64 B in %v = %.0f msg/s", M, el, float64(M)/el.Seconds())
}

func waitInterest(t *testing.T, pub *nats.Conn, subj string, ch chan *nats.Msg) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		pub.Publish(subj, nil)
		select {
		case <-ch:
			// drain the other probes
			for {
				select {
				case <-ch:
				case <-time.After(50 * time.Millisecond):
					return
				}
			}
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("interest never propagated")
		}
	}
}

func recvMsg(t *testing.T, ch chan *nats.Msg) *nats.Msg {
	select {
	case m := <-ch:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
	}
	return nil
}

// TestNATSReplicatedWrites: R3 KV put and R3 stream publish (PubAck means
// a quorum stored it), sequential, from a client on a node that is not
// necessarily the leader.
func TestNATSReplicatedWrites(t *testing.T) {
	c := newNATSCluster(t, 3)
	c.waitRoutes()
	js, _ := jetstream.New(c.conn(0))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	kv := createKV(t, ctx, js)
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "Q", Subjects: []string{"q.>"}, Replicas: 3, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	_ = st
	const N = 2000
	payload := make([]byte, 64)
	var lat []time.Duration
	for i := range N {
		start := time.Now()
		if _, err := kv.Put(ctx, fmt.Sprintf("retained.a.%d", i%100), payload); err != nil {
			t.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	report(t, "jetstream KV put R3 (sequential)", lat)
	lat = lat[:0]
	for range N {
		start := time.Now()
		if _, err := js.Publish(ctx, "q.session.x", payload); err != nil {
			t.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	report(t, "jetstream stream publish R3 -> PubAck (sequential)", lat)

	// Pipelined: many publishes in flight, as a broker with many
	// publishers would have.
	const M = 20000
	start := time.Now()
	for i := 0; i < M; i += 1000 {
		var futs []jetstream.PubAckFuture
		for range 1000 {
			f, err := js.PublishAsync("q.session.y", payload)
			if err != nil {
				t.Fatal(err)
			}
			futs = append(futs, f)
		}
		for _, f := range futs {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				t.Fatal(err)
			case <-ctx.Done():
				t.Fatal("timeout")
			}
		}
	}
	el := time.Since(start)
	t.Logf("jetstream stream publish R3 pipelined (1000 in flight): %d in %v = %.0f msg/s", M, el, float64(M)/el.Seconds())
}

func createKV(t *testing.T, ctx context.Context, js jetstream.JetStream) jetstream.KeyValue {
	deadline := time.Now().Add(30 * time.Second)
	for {
		cctx, cc := context.WithTimeout(ctx, 2*time.Second)
		kv, err := js.CreateKeyValue(cctx, jetstream.KeyValueConfig{Bucket: "retained", Replicas: 3, Storage: jetstream.FileStorage})
		cc()
		if err == nil {
			return kv
		}
		t.Log("create kv:", err)
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond) // JetStream meta leader not elected yet
	}
}

// TestNATSFailover kills the stream's leader node and measures how long
// until a publish through a surviving node is acknowledged again; then
// stops a second node and checks that the minority (one node of three)
// refuses to acknowledge.
func TestNATSFailover(t *testing.T) {
	c := newNATSCluster(t, 3)
	c.waitRoutes()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	js0, _ := jetstream.New(c.conn(0))
	kv := createKV(t, ctx, js0)
	if _, err := js0.CreateStream(ctx, jetstream.StreamConfig{Name: "Q", Subjects: []string{"q.>"}, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	kv.Put(ctx, "k", []byte("v0"))
	info, err := js0.Stream(ctx, "Q")
	if err != nil {
		t.Fatal(err)
	}
	si, _ := info.Info(ctx)
	leader := si.Cluster.Leader
	var li int
	for i, s := range c.nodes {
		if s.Name() == leader {
			li = i
		}
	}
	survivor := (li + 1) % 3
	js, _ := jetstream.New(c.conn(survivor, nats.MaxReconnects(-1)))
	if _, err := js.Publish(ctx, "q.x", []byte("before")); err != nil {
		t.Fatal(err)
	}
	t.Logf("stream leader %s (node %d); killing it", leader, li)
	c.nodes[li].Shutdown()
	c.nodes[li] = nil
	killed := time.Now()
	var failures int
	for {
		pctx, pc := context.WithTimeout(ctx, 500*time.Millisecond)
		_, err := js.Publish(pctx, "q.x", []byte("after"))
		pc()
		if err == nil {
			break
		}
		failures++
		if ctx.Err() != nil {
			t.Fatal("no recovery:", err)
		}
	}
	t.Logf("stream failover: first acknowledged publish %v after the leader died (%d failed attempts)", time.Since(killed), failures)
	kv, err = js.KeyValue(ctx, "retained")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		pctx, pc := context.WithTimeout(ctx, 500*time.Millisecond)
		_, err := kv.Put(pctx, "k", []byte("v1"))
		pc()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("kv no recovery:", err)
		}
	}
	t.Logf("kv put after failover: %v more", time.Since(start))

	// Minority: stop one more node; the survivor alone must refuse.
	other := 3 - li - survivor
	c.nodes[other].Shutdown()
	c.nodes[other] = nil
	start = time.Now()
	var refused, acked int
	for time.Since(start) < 5*time.Second {
		pctx, pc := context.WithTimeout(ctx, 500*time.Millisecond)
		_, err := js.Publish(pctx, "q.x", []byte("minority"))
		pc()
		if err == nil {
			acked++
		} else {
			refused++
		}
	}
	t.Logf("minority (1 of 3) for 5 s: %d publishes acknowledged, %d refused/timed out", acked, refused)
	if acked > 0 {
		t.Errorf("a minority acknowledged %d writes", acked)
	}
	// Core NATS on the minority still works locally (node-local delivery).
	nc := c.conn(survivor)
	ch := make(chan *nats.Msg, 1)
	nc.ChanSubscribe("m.local", ch)
	nc.Flush()
	nc.Publish("m.local", []byte("x"))
	recvMsg(t, ch)

	// Bring one node back: quorum returns and the stream catches up.
	c.start(other)
	back := time.Now()
	for {
		pctx, pc := context.WithTimeout(ctx, 500*time.Millisecond)
		_, err := js.Publish(pctx, "q.x", []byte("healed"))
		pc()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("no recovery after heal:", err)
		}
	}
	t.Logf("after a second node restarted: first acknowledged publish %v later", time.Since(back))
}
