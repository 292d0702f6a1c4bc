package cluster

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/restapi"
)

// TestClusterSecret: with a cluster secret, a node that has it joins and
// its messages cross; a node without it, and one with another secret, are
// refused (each warns that it joined no peer, the member logs why) and
// the member's members stay the two that share the secret.
func TestClusterSecret(t *testing.T) {
	const secret = "0123456789abcdef-shared"
	member := newLogWatch("tried to join and was refused")
	a := startNode(t, "a", "", broker.Options{NoStamp: true}, func(c *Config) {
		c.Secret = secret
		c.Logger = slog.New(slog.NewTextHandler(member, nil))
	})
	b := startNode(t, "b", a.cl.ClusterAddr().String(), broker.Options{NoStamp: true}, func(c *Config) { c.Secret = secret })
	waitMembers(t, []*node{a, b}, 2)
	s := dial(t, b.addr, "s", true)
	s.sub(t, "t")
	dial(t, a.addr, "p", true).pub(t, "t", 1, false, "across")
	if m := s.recv(t); string(m.Payload) != "across" {
		t.Fatalf("got %q", m.Payload)
	}

	for _, other := range []string{"", "another-secret-0123"} {
		refused := newLogWatch("has joined none of its peers")
		startNode(t, "x", a.cl.ClusterAddr().String(), broker.Options{NoStamp: true}, func(c *Config) {
			c.Secret = other
			c.JoinWarnAfter = 300 * time.Millisecond
			c.Logger = slog.New(slog.NewTextHandler(refused, nil))
		})
		refused.wait(t, "the node with secret "+other)
		if m := a.cl.Members(); len(m) != 2 {
			t.Fatalf("a node with secret %q joined: members %v", other, m)
		}
	}
	member.wait(t, "the member")
}

// TestValidSecret: what a secret may be.
func TestValidSecret(t *testing.T) {
	for _, s := range []string{"", "0123456789abcdef", "ünïcödé-sëcrët-16+"} {
		if err := ValidSecret(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"short", "has a space in it!", "tab\there-0123456789", "\xff\xfe0123456789abcdef"} {
		if ValidSecret(s) == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

// TestClusterMembersInSysOnChange: $SYS/broker/cluster/members follows a
// node that leaves and one that comes back (restarted with its name and
// address) at once, not at the next $SYS interval (an hour here; before,
// ten seconds by default, so a restart showed stale members).
func TestClusterMembersInSysOnChange(t *testing.T) {
	opts := broker.Options{NoStamp: true, SysInterval: time.Hour}
	a := startNode(t, "n0", "", opts)
	b := startNode(t, "n1", a.cl.ClusterAddr().String(), opts)
	waitMembers(t, []*node{a, b}, 2)
	c := dial(t, a.addr, "c", true)
	c.sub(t, "$SYS/broker/cluster/members")
	until := func(want string) {
		t.Helper()
		for {
			if m := c.recv(t); string(m.Payload) == want {
				return
			}
		}
	}
	until("n0,n1")
	addr := b.cl.ClusterAddr().String()
	b.srv.Close()
	b.cl.Close()
	until("n0")
	startNode(t, "n1", a.cl.ClusterAddr().String(), opts, func(c *Config) { c.Listen = addr })
	until("n0,n1")
}

// TestClusterSessionsNode: the REST API's session listing names the node
// holding each session, and "node=NAME" selects by it.
func TestClusterSessionsNode(t *testing.T) {
	nodes := startCluster(t, 2, broker.Options{NoStamp: true})
	dial(t, nodes[1].addr, "here", true)
	hs := httptest.NewServer(restapi.New(nodes[1].srv, restapi.Options{}))
	defer hs.Close()
	cl := &restapi.Client{Base: hs.URL}
	for _, sel := range []string{"all", "node=n1"} {
		got, err := cl.Sessions(context.Background(), sel)
		if err != nil || len(got) != 1 || got[0].ClientID != "here" || got[0].Node != "n1" {
			t.Fatalf("sessions %s: %+v %v", sel, got, err)
		}
	}
	if got, err := cl.Sessions(context.Background(), "node=n0"); err == nil && len(got) != 0 {
		t.Fatalf("node=n0 on n1's API: %+v", got)
	}
}
