package auth_test

import (
	"context"
	"encoding/json"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/auth"
	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/broker/storage"
)

const wait = 5 * time.Second

// sandbox is a broker with --auth token and its registry.
type sandbox struct {
	srv    *broker.Server
	addr   string
	reg    *auth.Registry
	master string
}

func start(t *testing.T) *sandbox {
	t.Helper()
	reg, master, err := auth.Open(storage.NewMem(), auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	srv, addr := brokertest.StartServer(t, broker.Options{Auth: reg})
	return &sandbox{srv: srv, addr: addr, reg: reg, master: master}
}

func ptr[T any](v T) *T { return &v }

// token creates a token in account cid with access a (nil: standard).
func (s *sandbox) token(t *testing.T, cid uint64, a *auth.Access) auth.Token {
	t.Helper()
	tk, err := s.reg.CreateToken(cid, auth.TokenSpec{TTL: ptr[int64](3600), Access: a})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func grant(topic string, actions ...string) *auth.Access {
	return &auth.Access{Type: auth.ACL, ACL: []auth.ACLEntry{{URI: "mqtt", Topic: topic, Actions: actions}}}
}

// client is a paho.golang MQTT 5 client; what it receives arrives on msgs.
type client struct {
	*paho.Client
	msgs chan *paho.Publish
	disc chan *paho.Disconnect
	ack  *paho.Connack
}

// dial connects with the CONNECT cp; err is paho's for a refused CONNECT.
func dial(t *testing.T, addr string, cp *paho.Connect) (*client, error) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{msgs: make(chan *paho.Publish, 100), disc: make(chan *paho.Disconnect, 1)}
	c.Client = paho.NewClient(paho.ClientConfig{
		Conn: nc,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			c.msgs <- pr.Packet
			return true, nil
		}},
		OnServerDisconnect: func(d *paho.Disconnect) { c.disc <- d },
	})
	cp.KeepAlive = 30
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c.ack, err = c.Connect(ctx, cp)
	if err != nil {
		nc.Close()
		return c, err
	}
	t.Cleanup(func() { c.Disconnect(&paho.Disconnect{}) })
	return c, nil
}

func mustDial(t *testing.T, addr, id, user string) *client {
	t.Helper()
	c, err := dial(t, addr, &paho.Connect{ClientID: id, Username: user, UsernameFlag: user != "", CleanStart: true})
	if err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	return c
}

func (c *client) sub(t *testing.T, filter string) byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	sa, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}})
	if err != nil && sa == nil {
		t.Fatalf("subscribe %q: %v", filter, err)
	}
	return sa.Reasons[0]
}

func (c *client) pub(t *testing.T, topic, payload string, retain bool, user ...paho.UserProperty) byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	r, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Retain: retain, Payload: []byte(payload),
		Properties: &paho.PublishProperties{User: user}})
	if r == nil {
		t.Fatalf("publish %q: %v", topic, err)
	}
	return r.ReasonCode
}

func (c *client) recv(t *testing.T) *paho.Publish {
	t.Helper()
	return brokertest.Recv(t, c.msgs, wait)
}

// none checks that nothing is queued for c: a marker published after the
// unwanted message, on a topic c receives, arrives first.
func (c *client) nothingBefore(t *testing.T, marker string) {
	t.Helper()
	if p := c.recv(t); string(p.Payload) != marker {
		t.Fatalf("received %s %q before the marker", p.Topic, p.Payload)
	}
}

// TestConnectForms: each way of presenting a token, seen by paho, and the
// refusals: no token, unknown, disabled, expired.
func TestConnectForms(t *testing.T) {
	s := start(t)
	tk := s.token(t, 1, grant("a/#", "subscribe"))
	id := strconv.FormatUint(tk.ID, 10)
	for _, c := range []struct {
		name string
		cp   paho.Connect
	}{
		{"username", paho.Connect{Username: tk.Key, UsernameFlag: true}},
		{"password", paho.Connect{Username: "me", UsernameFlag: true, Password: []byte(tk.Key), PasswordFlag: true}},
		{"FlespiToken", paho.Connect{Username: "FlespiToken " + tk.Key, UsernameFlag: true}},
		{"16-byte", paho.Connect{Username: id, UsernameFlag: true, Password: []byte(tk.Key[:16]), PasswordFlag: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cp := c.cp
			cp.ClientID = "form-" + c.name
			cp.CleanStart = true
			cl, err := dial(t, s.addr, &cp)
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				ID     uint64      `json:"id"`
				CID    uint64      `json:"cid"`
				Key    string      `json:"key"`
				Access auth.Access `json:"access"`
			}
			if err := json.Unmarshal([]byte(cl.ack.Properties.User.Get("token")), &got); err != nil {
				t.Fatalf("CONNACK token property: %v (%q)", err, cl.ack.Properties.User.Get("token"))
			}
			if got.ID != tk.ID || got.CID != 1 || got.Key != "" || got.Access.Type != auth.ACL || len(got.Access.ACL) != 1 {
				t.Fatalf("CONNACK token %+v", got)
			}
		})
	}
	off := s.token(t, 1, nil)
	s.reg.UpdateTokens(1, strconv.FormatUint(off.ID, 10), auth.TokenSpec{Enabled: ptr(false)})
	expired, _ := s.reg.CreateToken(1, auth.TokenSpec{Expire: ptr(time.Now().Unix() - 1)})
	for _, c := range []struct {
		name string
		user string
		code byte
	}{
		{"no token", "", 0x86},
		{"unknown token", "FlespiToken nope", 0x86},
		{"disabled", off.Key, 0x87},
		{"expired", expired.Key, 0x87},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl, err := dial(t, s.addr, &paho.Connect{ClientID: "refused", Username: c.user, UsernameFlag: c.user != "", CleanStart: true})
			if err == nil {
				t.Fatal("connected")
			}
			if cl.ack != nil && c.name == "expired" && cl.ack.ReasonCode == 0x86 {
				return // expired tokens are deleted, as on flespi: already unknown
			}
			if cl.ack == nil || cl.ack.ReasonCode != c.code {
				t.Fatalf("CONNACK %+v, want %#x (%v)", cl.ack, c.code, err)
			}
		})
	}
}

// TestACLAtThePeer: an ACL token's denials as the client sees them.
func TestACLAtThePeer(t *testing.T) {
	s := start(t)
	acl := &auth.Access{Type: auth.ACL, ACL: []auth.ACLEntry{
		{URI: "mqtt", Topic: "pub/#", Actions: []string{"publish", "subscribe"}},
		{URI: "mqtt", Topic: "ro/#", Actions: []string{"subscribe"}},
	}}
	c := mustDial(t, s.addr, "acl", s.token(t, 1, acl).Key)
	for _, f := range []struct {
		filter string
		code   byte
	}{
		{"pub/#", 1}, {"ro/x", 1}, {"#", 0x87}, {"+/#", 0x87}, {"$share/g/#", 0x87}, {"$share/g/pub/x", 1},
		{"$filter/cid=1/secret/#", 0x87}, {"pub,secret/x", 0x87}, {"pub,ro/x", 1}, {"$SYS/#", 0x87}, {"flespi/log/#", 0x87},
	} {
		if got := c.sub(t, f.filter); got != f.code {
			t.Errorf("SUBSCRIBE %s: %#x, want %#x", f.filter, got, f.code)
		}
	}
	for _, p := range []struct {
		topic string
		code  byte
	}{{"pub/x", 0}, {"ro/x", 0x87}, {"secret/x", 0x87}, {"flespi/x", 0x90}} { // flespi/ is reserved before any ACL
		if got := c.pub(t, p.topic, "m", false); got != p.code {
			t.Errorf("PUBLISH %s: %#x, want %#x", p.topic, got, p.code)
		}
	}
}

// TestNamespaces: two subaccounts never meet, retained included; the
// parent sees both with cid and token_id stamped by the broker; cid
// narrows.
func TestNamespaces(t *testing.T) {
	s := start(t)
	a, _ := s.reg.CreateAccount(1, "a")
	b, _ := s.reg.CreateAccount(1, "b")
	ta, tb := s.token(t, a.ID, nil), s.token(t, b.ID, nil)
	pa := mustDial(t, s.addr, "pa", ta.Key)
	pb := mustDial(t, s.addr, "pb", tb.Key)
	pb.pub(t, "same/t", "b-retained", true)
	sa := mustDial(t, s.addr, "sa", ta.Key)
	sb := mustDial(t, s.addr, "sb", tb.Key)
	parent := mustDial(t, s.addr, "parent", s.master)
	sa.sub(t, "same/#")
	sb.sub(t, "same/#")
	if p := sb.recv(t); string(p.Payload) != "b-retained" {
		t.Fatalf("b's retained: %q", p.Payload)
	}
	parent.sub(t, "same/#")
	if p := parent.recv(t); string(p.Payload) != "b-retained" {
		t.Fatalf("parent's retained: %q", p.Payload)
	}
	parentA, _ := dial(t, s.addr, &paho.Connect{ClientID: "parent-a", Username: s.master, UsernameFlag: true, CleanStart: true})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := parentA.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "$filter/cid=" + strconv.FormatUint(a.ID, 10) + "/same/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}

	pa.pub(t, "same/t", "from a", false, paho.UserProperty{Key: "token_id", Value: "999"}, paho.UserProperty{Key: "cid", Value: "1"})
	got := sa.recv(t)
	if string(got.Payload) != "from a" || got.Properties.User.Get("token_id") != strconv.FormatUint(ta.ID, 10) ||
		got.Properties.User.Get("cid") != strconv.FormatUint(a.ID, 10) {
		t.Fatalf("a received %q %+v", got.Payload, got.Properties.User)
	}
	n := 0
	for _, u := range got.Properties.User {
		if u.Key == "token_id" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d token_id properties: %+v", n, got.Properties.User)
	}
	if p := parent.recv(t); string(p.Payload) != "from a" {
		t.Fatalf("parent: %q", p.Payload)
	}
	if p := brokertest.Recv(t, parentA.msgs, wait); string(p.Payload) != "from a" {
		t.Fatalf("parent with cid filter: %q", p.Payload)
	}
	pb.pub(t, "same/t", "from b", false)
	if p := parent.recv(t); string(p.Payload) != "from b" {
		t.Fatalf("parent: %q", p.Payload)
	}
	// a's subscriber never saw b's live message; the parent-a filter
	// neither: the next message each gets is a's marker.
	pa.pub(t, "same/marker", "marker", false)
	sa.nothingBefore(t, "marker")
	if p := brokertest.Recv(t, parentA.msgs, wait); string(p.Payload) != "marker" {
		t.Fatalf("parent with cid filter got %q before the marker", p.Payload)
	}
	// b's subscriber: its own live message, then not a's marker.
	if p := sb.recv(t); string(p.Payload) != "from b" {
		t.Fatalf("b: %q", p.Payload)
	}
	pb.pub(t, "same/marker", "b-marker", false)
	sb.nothingBefore(t, "b-marker")
	// A wildcard deletion in a leaves b's retained message.
	pa.pub(t, "same/#", "", false)
	late := mustDial(t, s.addr, "late-b", tb.Key)
	late.sub(t, "same/t")
	if p := late.recv(t); string(p.Payload) != "b-retained" {
		t.Fatalf("b's retained after a's deletion: %q", p.Payload)
	}
	// A child does not see its parent's messages.
	parent.pub(t, "same/t", "from parent", false)
	pa.pub(t, "same/marker", "marker2", false)
	sa.nothingBefore(t, "marker2")
}

// TestSharedGroupsPerAccount: one group name in two accounts is two groups.
func TestSharedGroupsPerAccount(t *testing.T) {
	s := start(t)
	a, _ := s.reg.CreateAccount(1, "a")
	b, _ := s.reg.CreateAccount(1, "b")
	ta, tb := s.token(t, a.ID, nil), s.token(t, b.ID, nil)
	ma := mustDial(t, s.addr, "ma", ta.Key)
	mb := mustDial(t, s.addr, "mb", tb.Key)
	ma.sub(t, "$share/g/job")
	mb.sub(t, "$share/g/job")
	pa := mustDial(t, s.addr, "pa", ta.Key)
	for i := range 10 {
		pa.pub(t, "job", strconv.Itoa(i), false)
	}
	for i := range 10 {
		if p := ma.recv(t); string(p.Payload) != strconv.Itoa(i) {
			t.Fatalf("a's member got %q", p.Payload)
		}
	}
	pb := mustDial(t, s.addr, "pb", tb.Key)
	pb.pub(t, "job", "b", false)
	mb.nothingBefore(t, "b")
}

// TestExpiryDisconnects: a session whose token expires gets DISCONNECT
// 0x87; deleting a token ends its sessions too.
func TestExpiryDisconnects(t *testing.T) {
	s := start(t)
	tk, err := s.reg.CreateToken(1, auth.TokenSpec{Expire: ptr(time.Now().Unix() + 1)})
	if err != nil {
		t.Fatal(err)
	}
	c := mustDial(t, s.addr, "short", tk.Key)
	if d := brokertest.Recv(t, c.disc, 5*time.Second); d.ReasonCode != 0x87 {
		t.Fatalf("DISCONNECT %#x", d.ReasonCode)
	}
	tk2 := s.token(t, 1, nil)
	c2 := mustDial(t, s.addr, "deleted", tk2.Key)
	if _, err := s.reg.DeleteTokens(1, strconv.FormatUint(tk2.ID, 10)); err != nil {
		t.Fatal(err)
	}
	if d := brokertest.Recv(t, c2.disc, wait); d.ReasonCode != 0x87 {
		t.Fatalf("DISCONNECT %#x", d.ReasonCode)
	}
}

// TestResumeRegrants: a persistent session resumed with another token keeps
// only what that token may subscribe to; the token's key never shows as a
// user name.
func TestResumeRegrants(t *testing.T) {
	s := start(t)
	wide := s.token(t, 1, grant("s/#", "subscribe"))
	narrow := s.token(t, 1, grant("o/#", "subscribe"))
	exp := uint32(300)
	c, err := dial(t, s.addr, &paho.Connect{ClientID: "keep", Username: wide.Key, UsernameFlag: true,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &exp}})
	if err != nil {
		t.Fatal(err)
	}
	c.sub(t, "s/#")
	if info, _ := s.srv.Session("keep"); info.Username != "FlespiToken #"+strconv.FormatUint(wide.ID, 10) {
		t.Fatalf("user name shown %q", info.Username)
	}
	c.Disconnect(&paho.Disconnect{})
	c2, err := dial(t, s.addr, &paho.Connect{ClientID: "keep", Username: narrow.Key, UsernameFlag: true,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &exp}})
	if err != nil {
		t.Fatal(err)
	}
	if !c2.ack.SessionPresent || c2.ack.Properties.User.Get("subscriptions") != "[]" {
		t.Fatalf("resumed: present %v, subscriptions %s", c2.ack.SessionPresent, c2.ack.Properties.User.Get("subscriptions"))
	}
	c2.sub(t, "o/#")
	m := mustDial(t, s.addr, "m", s.master)
	m.pub(t, "s/x", "secret", false)
	m.pub(t, "o/x", "marker", false)
	c2.nothingBefore(t, "marker")
}

// TestTTLAtThePeer: a ttl token stays valid while a session uses it, and
// lapses ttl seconds after its last use (the registry's clock is moved,
// not waited for).
func TestTTLAtThePeer(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	reg, _, err := auth.Open(storage.NewMem(), auth.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	evOpts, events := brokertest.Events(100)
	evOpts.Auth = reg
	_, addr := brokertest.StartServer(t, evOpts)
	tk, _ := reg.CreateToken(1, auth.TokenSpec{TTL: ptr[int64](60)})

	first := mustDial(t, addr, "first", tk.Key)
	advance(2 * time.Minute) // in use all along: still valid
	second := mustDial(t, addr, "second", tk.Key)
	second.Disconnect(&paho.Disconnect{})
	first.Disconnect(&paho.Disconnect{})
	for n := 0; n < 2; {
		if e := brokertest.Recv(t, events, wait); e.Kind == broker.EventDisconnected {
			n++
		}
	}
	advance(59 * time.Second)
	mustDial(t, addr, "within", tk.Key).Disconnect(&paho.Disconnect{})
	brokertest.WaitEvent(t, events, wait, func(e broker.Event) bool { return e.Kind == broker.EventDisconnected && e.ClientID == "within" })
	advance(61 * time.Second)
	c, err := dial(t, addr, &paho.Connect{ClientID: "lapsed", Username: tk.Key, UsernameFlag: true, CleanStart: true})
	if err == nil || c.ack == nil || c.ack.ReasonCode != 0x87 {
		t.Fatalf("ttl lapsed: %v %+v", err, c.ack)
	}
}

// TestClientIDAcrossAccounts: a client id held by another account's
// session is refused (0x85) instead of taking that session over.
func TestClientIDAcrossAccounts(t *testing.T) {
	s := start(t)
	a, _ := s.reg.CreateAccount(1, "a")
	b, _ := s.reg.CreateAccount(1, "b")
	holder := mustDial(t, s.addr, "shared-id", s.token(t, a.ID, nil).Key)
	c, err := dial(t, s.addr, &paho.Connect{ClientID: "shared-id", Username: s.token(t, b.ID, nil).Key, UsernameFlag: true, CleanStart: true})
	if err == nil || c.ack == nil || c.ack.ReasonCode != 0x85 {
		t.Fatalf("another account's client id: %v %+v", err, c.ack)
	}
	select {
	case d := <-holder.disc:
		t.Fatalf("the holder was disconnected: %#x", d.ReasonCode)
	default:
	}
	holder.pub(t, "still/here", "x", false) // the holder's connection works
}
