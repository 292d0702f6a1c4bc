package cluster

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/restapi"
)

const wait = 10 * time.Second

// node is one broker of a test cluster.
type node struct {
	srv  *broker.Server
	cl   *Node
	addr string // MQTT
}

// startCluster runs n brokers in this process, each with a cluster node on
// loopback; every node but the first names only the first as its peer, so
// the rest of the mesh is NATS's own doing. It returns once every node has
// a route to every other.
func startCluster(t *testing.T, n int, opts broker.Options) []*node {
	t.Helper()
	var nodes []*node
	for i := range n {
		seed := ""
		if i > 0 {
			seed = nodes[0].cl.ClusterAddr().String()
		}
		nodes = append(nodes, startNode(t, "n"+strconv.Itoa(i), seed, opts))
	}
	waitMembers(t, nodes, n)
	return nodes
}

// startNode runs one broker and its cluster node, joining seed ("": the
// first node); each of with may change the node's Config.
func startNode(t *testing.T, name, seed string, opts broker.Options, with ...func(*Config)) *node {
	t.Helper()
	o := opts
	o.Listen = "127.0.0.1:0"
	s := broker.New(o)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	cfg := Config{NodeName: name, Listen: "127.0.0.1:0"}
	if seed != "" {
		cfg.Peers = []string{seed}
	}
	for _, f := range with {
		f(&cfg)
	}
	cl, err := Start(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(ctx) }()
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		s.Shutdown(sctx)
		cancel()
		<-done
		cl.Close()
	})
	return &node{srv: s, cl: cl, addr: s.Addr().String()}
}

// waitMembers returns once every node has n-1 peers that answer.
func waitMembers(t *testing.T, nodes []*node, n int) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for _, nd := range nodes {
		for len(nd.cl.readyPeers()) < n-1 {
			if time.Now().After(deadline) {
				t.Fatalf("%s sees only %v", nd.cl.Name(), nd.cl.Members())
			}
			time.Sleep(5 * time.Millisecond) // no event for "route up"; bounded by deadline
		}
	}
}

// client is a paho.golang MQTT 5 client whose publishes arrive on msgs.
type client struct {
	*paho.Client
	nc   net.Conn
	msgs chan *paho.Publish
	disc chan *paho.Disconnect
}

func dial(t *testing.T, addr, id string, clean bool) *client {
	t.Helper()
	return dialWith(t, addr, &paho.Connect{ClientID: id, CleanStart: clean, KeepAlive: 30})
}

// dialWith connects with cp; a persistent session (CleanStart false
// without properties) gets a 600 s expiry.
func dialWith(t *testing.T, addr string, cp *paho.Connect) *client {
	t.Helper()
	id, clean := cp.ClientID, cp.CleanStart
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{nc: nc, msgs: make(chan *paho.Publish, 10000), disc: make(chan *paho.Disconnect, 1)}
	c.Client = paho.NewClient(paho.ClientConfig{
		Conn: nc,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			c.msgs <- pr.Packet
			return true, nil
		}},
		OnServerDisconnect: func(d *paho.Disconnect) { c.disc <- d },
	})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if !clean && cp.Properties == nil {
		se := uint32(600)
		cp.Properties = &paho.ConnectProperties{SessionExpiryInterval: &se}
	}
	ca, err := c.Connect(ctx, cp)
	if err != nil {
		t.Fatalf("connect %s to %s: %v (%+v)", id, addr, err, ca)
	}
	t.Cleanup(func() { c.Disconnect(&paho.Disconnect{}) })
	return c
}

func (c *client) sub(t *testing.T, filters ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var so []paho.SubscribeOptions
	for _, f := range filters {
		so = append(so, paho.SubscribeOptions{Topic: f, QoS: 1})
	}
	sa, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: so})
	if err != nil {
		t.Fatalf("subscribe %q: %v", filters, err)
	}
	for i, r := range sa.Reasons {
		if r >= 0x80 {
			t.Fatalf("subscribe %q: reason %#x", filters[i], r)
		}
	}
}

func (c *client) pub(t *testing.T, topic string, qos byte, retain bool, payload string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: qos, Retain: retain, Payload: []byte(payload)}); err != nil {
		t.Fatalf("publish %q: %v", topic, err)
	}
}

func (c *client) recv(t *testing.T) *paho.Publish {
	t.Helper()
	select {
	case p := <-c.msgs:
		return p
	case <-time.After(wait):
		t.Fatal("no message within", wait)
	}
	return nil
}

// quiet asserts nothing more arrives: a marker published after the
// messages under test, on a topic the client also subscribes, must be the
// next thing it receives.
func (c *client) quiet(t *testing.T, via *client, marker string) {
	t.Helper()
	via.pub(t, marker, 1, false, "marker")
	if p := c.recv(t); p.Topic != marker {
		t.Fatalf("extra delivery %q %q before the marker", p.Topic, p.Payload)
	}
}

// TestClusterPubSubOncePerSubscriptionInOrder: a publisher on node 0,
// subscribers on nodes 1 and 2 (one with overlapping filters, one with a
// selector and a '#' that must match its parent) and on node 0 itself:
// each gets every message once, in the order published.
func TestClusterPubSubOncePerSubscriptionInOrder(t *testing.T) {
	nodes := startCluster(t, 3, broker.Options{NoStamp: true})
	s1 := dial(t, nodes[1].addr, "s1", true)
	s1.sub(t, "a/+", "a/#", "end")
	s2 := dial(t, nodes[2].addr, "s2", true)
	s2.sub(t, "a/x,b", "end")
	s3 := dial(t, nodes[2].addr, "s3", true)
	s3.sub(t, "a/b/#", "end") // matches a/b itself [MQTT-4.7.1-2]
	s0 := dial(t, nodes[0].addr, "s0", true)
	s0.sub(t, "a/b", "end")
	p := dial(t, nodes[0].addr, "pub", true)
	const N = 200
	for i := range N {
		p.pub(t, "a/b", byte(i%2), false, itoa(i))
	}
	for _, c := range []*client{s0, s1, s2, s3} {
		for i := range N {
			m := c.recv(t)
			if m.Topic != "a/b" || string(m.Payload) != itoa(i) {
				t.Fatalf("got %q %q, want a/b %d", m.Topic, m.Payload, i)
			}
		}
		c.quiet(t, p, "end")
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestClusterEscapedTopics: topics with levels NATS cannot carry as they
// are (empty levels, '.', '*', '>', spaces, UTF-8, '%') cross nodes intact
// and match exactly.
func TestClusterEscapedTopics(t *testing.T) {
	nodes := startCluster(t, 2, broker.Options{NoStamp: true})
	topics := []string{"/", "a//b", "a.b/c", "*/>", "sp ace/é", "100%/%", "$dollar/x", "a/b/"}
	s := dial(t, nodes[1].addr, "s", true)
	s.sub(t, append(append([]string(nil), topics...), "end")...)
	p := dial(t, nodes[0].addr, "p", true)
	for _, tp := range topics {
		p.pub(t, tp, 1, false, tp)
	}
	for _, tp := range topics {
		m := s.recv(t)
		if m.Topic != tp || string(m.Payload) != tp {
			t.Fatalf("got %q %q, want %q", m.Topic, m.Payload, tp)
		}
	}
	s.quiet(t, p, "end")
}

// TestClusterRetained: retained messages set and replaced on one node are
// served by another node's store; a wildcard deletion on a third empties
// every node's store.
func TestClusterRetained(t *testing.T) {
	nodes := startCluster(t, 3, broker.Options{NoStamp: true})
	p := dial(t, nodes[0].addr, "p", true)
	p.pub(t, "r/1", 1, true, "one")
	p.pub(t, "r/2", 1, true, "two")
	p.pub(t, "r/1", 1, true, "one'") // replace
	// Published and acknowledged on node 0 before the subscriber exists:
	// a subscriber on node 2 gets the retained messages from its own
	// node's store, once the broadcast reached it. A live message after
	// them on the same path proves they arrived.
	w := dial(t, nodes[2].addr, "w", true)
	w.sub(t, "sync")
	p.pub(t, "sync", 1, false, "x")
	w.recv(t)
	s := dial(t, nodes[2].addr, "s", true)
	s.sub(t, "r/+")
	got := map[string]string{}
	for range 2 {
		m := s.recv(t)
		if !m.Retain {
			t.Fatalf("%q not retained", m.Topic)
		}
		got[m.Topic] = string(m.Payload)
	}
	if got["r/1"] != "one'" || got["r/2"] != "two" {
		t.Fatalf("retained on node 2: %v", got)
	}
	// flespi wildcard deletion from node 1 empties every node's store.
	// Each node handles another node's traffic in the order that node sent
	// it: a message from the deleting node received on every node proves
	// the deletion was applied there.
	var ws []*client
	for i, nd := range nodes {
		wi := dial(t, nd.addr, "w"+itoa(i), true)
		wi.sub(t, "sync2")
		ws = append(ws, wi)
	}
	d := dial(t, nodes[1].addr, "d", true)
	d.pub(t, "r/+", 1, false, "")
	d.pub(t, "sync2", 1, false, "y")
	for _, wi := range ws {
		wi.recv(t)
	}
	for _, nd := range nodes {
		ms, err := nd.srv.Retained("r/#")
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != 0 {
			t.Fatalf("%s still retains %d after the wildcard deletion", nd.cl.Name(), len(ms))
		}
	}
}

// TestClusterTakeover: the same client id connecting on another node takes
// the session over: the first connection gets DISCONNECT 0x8E.
func TestClusterTakeover(t *testing.T) {
	nodes := startCluster(t, 3, broker.Options{NoStamp: true})
	first := dial(t, nodes[0].addr, "dup", false)
	first.sub(t, "t")
	dial(t, nodes[2].addr, "dup", true)
	select {
	case d := <-first.disc:
		if d.ReasonCode != 0x8E {
			t.Fatalf("first connection got DISCONNECT %#x, want 0x8E", d.ReasonCode)
		}
	case <-time.After(wait):
		t.Fatal("the first connection was not taken over")
	}
	// Its session (persistent) is gone from node 0: messages to its
	// subscription are no longer queued there.
	if _, ok := nodes[0].srv.Session("dup"); ok {
		t.Fatal("node 0 still holds the taken-over session")
	}
	if _, ok := nodes[2].srv.Session("dup"); !ok {
		t.Fatal("node 2 has no session for the new connection")
	}
}

// TestClusterMembersInSys: $SYS/broker/cluster/members lists every node.
func TestClusterMembersInSys(t *testing.T) {
	nodes := startCluster(t, 3, broker.Options{NoStamp: true, SysInterval: 50 * time.Millisecond})
	c := dial(t, nodes[1].addr, "c", true)
	c.sub(t, "$SYS/broker/cluster/#")
	// The first rounds may predate the last node's joining: read rounds
	// until the members are all there (bounded by recv's timeout). A
	// round publishes node, members, size in that order.
	got := map[string]string{}
	for len(got) < 3 || got["$SYS/broker/cluster/size"] != "3" {
		m := c.recv(t)
		got[m.Topic] = string(m.Payload)
	}
	if got["$SYS/broker/cluster/members"] != "n0,n1,n2" || got["$SYS/broker/cluster/node"] != "n1" || got["$SYS/broker/cluster/size"] != "3" {
		t.Fatalf("$SYS: %v", got)
	}
}

// TestClusterMembersInREST: /healthz of a node names it and the members.
func TestClusterMembersInREST(t *testing.T) {
	nodes := startCluster(t, 3, broker.Options{NoStamp: true})
	hs := httptest.NewServer(restapi.New(nodes[2].srv, restapi.Options{}))
	defer hs.Close()
	resp, err := http.Get(hs.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Result []struct {
			Node    string   `json:"node"`
			Members []string `json:"cluster_members"`
		} `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || len(body.Result) != 1 {
		t.Fatalf("healthz: %v %+v", err, body)
	}
	if r := body.Result[0]; r.Node != "n2" || strings.Join(r.Members, ",") != "n0,n1,n2" {
		t.Fatalf("healthz: %+v", r)
	}
}

func willConnect(id string, delay uint32) *paho.Connect {
	se := uint32(600)
	return &paho.Connect{ClientID: id, CleanStart: false, KeepAlive: 30, WillMessage: &paho.WillMessage{Topic: "will/" + id, Payload: []byte("gone"), QoS: 1},
		WillProperties: &paho.WillProperties{WillDelayInterval: &delay},
		Properties:     &paho.ConnectProperties{SessionExpiryInterval: &se}}
}

// TestClusterWills: a will published on one node reaches a subscriber on
// another; a delayed will is sent at once when a connection on another
// node takes the session over with a clean start (the session ends
// [MQTT-3.1.2-8]), and cancelled when it resumes without [MQTT-3.1.3-9].
func TestClusterWills(t *testing.T) {
	nodes := startCluster(t, 3, broker.Options{NoStamp: true})
	s := dial(t, nodes[2].addr, "watcher", true)
	s.sub(t, "will/#", "end")
	p := dial(t, nodes[1].addr, "p", true)

	// Immediate will, across nodes.
	w := dialWith(t, nodes[0].addr, willConnect("a", 0))
	w.nc.Close() // no DISCONNECT: the will is due
	if m := s.recv(t); m.Topic != "will/a" || string(m.Payload) != "gone" {
		t.Fatalf("got %q %q, want will/a", m.Topic, m.Payload)
	}

	// Delayed will; the client comes back on node 1 with a clean start.
	w = dialWith(t, nodes[0].addr, willConnect("b", 3600))
	w.nc.Close()
	dial(t, nodes[1].addr, "b", true)
	if m := s.recv(t); m.Topic != "will/b" {
		t.Fatalf("got %q, want will/b at the takeover", m.Topic)
	}

	// Delayed will; the client resumes on node 2: no will, ever.
	w = dialWith(t, nodes[0].addr, willConnect("c", 3600))
	w.nc.Close()
	dial(t, nodes[2].addr, "c", false)
	if _, ok := nodes[0].srv.Session("c"); ok {
		t.Fatal("node 0 still holds c's session (and its will timer)")
	}
	s.quiet(t, p, "end")
}

// TestClusterNodeLoss: when a node stops, the others drop it from the
// membership and keep serving each other; its clients can reconnect to
// another node.
func TestClusterNodeLoss(t *testing.T) {
	nodes := startCluster(t, 3, broker.Options{NoStamp: true})
	s := dial(t, nodes[2].addr, "s", true)
	s.sub(t, "t")
	gone := dial(t, nodes[1].addr, "mover", true)
	nodes[1].srv.Close()
	nodes[1].cl.Close()
	select {
	case <-gone.disc:
	case <-gone.Done():
	case <-time.After(wait):
		t.Fatal("the lost node's client was not disconnected")
	}
	deadline := time.Now().Add(wait)
	for len(nodes[0].cl.Members()) != 2 || len(nodes[2].cl.Members()) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("members after the loss: %v and %v", nodes[0].cl.Members(), nodes[2].cl.Members())
		}
		time.Sleep(5 * time.Millisecond) // no event for "route down"; bounded by deadline
	}
	// The moved client comes back on node 0 and publishes to node 2.
	p := dial(t, nodes[0].addr, "mover", true)
	p.pub(t, "t", 1, false, "after")
	if m := s.recv(t); string(m.Payload) != "after" {
		t.Fatalf("got %q", m.Payload)
	}
	// A new subscription after the loss: SUBACK does not wait for the
	// dead node.
	s.sub(t, "u")
	p.pub(t, "u", 1, false, "u")
	if m := s.recv(t); m.Topic != "u" {
		t.Fatalf("got %q", m.Topic)
	}
}

// TestClusterRetainedCatchUp: a node that joins after retained messages
// were set (and one replaced, one deleted) gets them from a peer: its own
// store answers a subscriber connected to it.
func TestClusterRetainedCatchUp(t *testing.T) {
	nodes := startCluster(t, 2, broker.Options{NoStamp: true})
	w := dial(t, nodes[1].addr, "w", true)
	w.sub(t, "sync")
	p := dial(t, nodes[0].addr, "p", true)
	for i := range 300 {
		p.pub(t, "r/"+itoa(i), 1, true, "v"+itoa(i))
	}
	p.pub(t, "r/7", 1, true, "replaced")
	p.pub(t, "r/8", 1, true, "") // deleted
	p.pub(t, "sync", 1, false, "")
	w.recv(t) // node 1 has handled all of node 0's messages before it
	late := startNode(t, "late", nodes[1].cl.ClusterAddr().String(), broker.Options{NoStamp: true})
	select {
	case <-late.cl.CaughtUp():
	case <-time.After(wait):
		t.Fatal("no catch-up")
	}
	s := dial(t, late.addr, "s", true)
	s.sub(t, "r/+")
	got := map[string]string{}
	for range 299 {
		m := s.recv(t)
		got[m.Topic] = string(m.Payload)
	}
	if len(got) != 299 || got["r/7"] != "replaced" || got["r/0"] != "v0" || got["r/8"] != "" {
		t.Fatalf("late node retains %d: r/7=%q r/0=%q r/8=%q", len(got), got["r/7"], got["r/0"], got["r/8"])
	}
}

// TestClusterClaimWindow: a later claim from another node that arrives
// after this node's own claim for the id completed, but before its session
// was attached, evicts that session once it is attached (release), so the
// two never both stay.
func TestClusterClaimWindow(t *testing.T) {
	nodes := startCluster(t, 2, broker.Options{NoStamp: true})
	release, err := nodes[0].cl.Claim("x", true) // node 0's CONNECT, paused before attach
	if err != nil {
		t.Fatal(err)
	}
	dial(t, nodes[1].addr, "x", true) // a later CONNECT on node 1 wins
	// Node 0's CONNECT attaches its session now (as the API would), then
	// releases its claim: the session must go.
	if err := nodes[0].srv.CreateSession("x", 600); err != nil {
		t.Fatal(err)
	}
	release()
	deadline := time.Now().Add(wait)
	for {
		if _, ok := nodes[0].srv.Session("x"); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node 0 kept the session a later claim took")
		}
		time.Sleep(5 * time.Millisecond) // Evict runs in the node's goroutine; bounded by deadline
	}
	if _, ok := nodes[1].srv.Session("x"); !ok {
		t.Fatal("node 1 lost the winning session")
	}
}

// TestClusterCountSubscribers: count_subscribers counts the deliveries on
// every node, and PUBACK says "no matching subscribers" (0x10) only when
// no node has any.
func TestClusterCountSubscribers(t *testing.T) {
	nodes := startCluster(t, 3, broker.Options{NoStamp: true})
	a := dial(t, nodes[1].addr, "a", true)
	a.sub(t, "c/+", "c/#") // one session: one delivery
	b := dial(t, nodes[2].addr, "b", true)
	b.sub(t, "c/x")
	l := dial(t, nodes[0].addr, "l", true)
	l.sub(t, "c/x")
	p := dial(t, nodes[0].addr, "p", true)
	pub := func(topic string, count bool) *paho.PublishResponse {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		pb := &paho.Publish{Topic: topic, QoS: 1, Payload: []byte("x")}
		if count {
			pb.Properties = &paho.PublishProperties{User: paho.UserProperties{{Key: "count_subscribers", Value: "1"}}}
		}
		r, err := p.Publish(ctx, pb)
		if err != nil && r == nil {
			t.Fatalf("publish %s: %v", topic, err)
		}
		return r
	}
	r := pub("c/x", true)
	if got := r.Properties.User.Get("subscribers_count"); got != "3" {
		t.Fatalf("subscribers_count %q, want 3 (one per node)", got)
	}
	if r := pub("c/y", false); r.ReasonCode != 0 {
		t.Fatalf("a topic with a subscriber on another node only: PUBACK %#x, want 0", r.ReasonCode)
	}
	if r := pub("none/here", false); r.ReasonCode != 0x10 {
		t.Fatalf("a topic nobody subscribes: PUBACK %#x, want 0x10", r.ReasonCode)
	}
}

// TestClusterExistingSubscriptions: subscriptions the broker had before it
// joined (recovered from its store, or made through the API) receive
// messages published on other nodes.
func TestClusterExistingSubscriptions(t *testing.T) {
	first := startNode(t, "n0", "", broker.Options{NoStamp: true})
	s := broker.New(broker.Options{NoStamp: true, Listen: "127.0.0.1:0"})
	if err := s.CreateSession("kept", 600); err != nil {
		t.Fatal(err)
	}
	if err := s.Subscribe("kept", []broker.SubscriptionInfo{{Filter: "k/#", QoS: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	cl, err := Start(s, Config{NodeName: "n1", Listen: "127.0.0.1:0", Peers: []string{first.cl.ClusterAddr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(ctx) }()
	t.Cleanup(func() { s.Close(); cancel(); <-done; cl.Close() })
	second := &node{srv: s, cl: cl, addr: s.Addr().String()}
	waitMembers(t, []*node{first, second}, 2)
	p := dial(t, first.addr, "p", true)
	p.pub(t, "k/1", 1, false, "for the kept session")
	c := dial(t, second.addr, "kept", false) // resumes the session on its node
	if m := c.recv(t); m.Topic != "k/1" {
		t.Fatalf("got %q", m.Topic)
	}
}
