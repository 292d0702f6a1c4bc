package auth_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/mqttboard/mqttboard/broker/auth"
	"github.com/mqttboard/mqttboard/broker/brokertest"
)

// TestACLOtherWays: the ways of reaching a topic beyond SUBSCRIBE and
// PUBLISH: a will to a secret topic, a topic alias mapped to one, an empty
// retained publish to a secret pattern; each observed by a master-token
// subscriber that would receive what got through.
func TestACLOtherWays(t *testing.T) {
	s := start(t)
	acl := &auth.Access{Type: auth.ACL, ACL: []auth.ACLEntry{{URI: "mqtt", Topic: "pub/#", Actions: []string{"publish", "subscribe"}}}}
	tk := s.token(t, 1, acl)
	watch := mustDial(t, s.addr, "watch", s.master)
	watch.sub(t, "#")
	admin := mustDial(t, s.addr, "admin", s.master)
	admin.pub(t, "secret/kept", "kept", true)
	if p := watch.recv(t); string(p.Payload) != "kept" {
		t.Fatalf("watch: %q", p.Payload)
	}

	// A will to secret/x is dropped at CONNECT: the connection then dies
	// without DISCONNECT and nothing is published.
	w, err := dial(t, s.addr, &paho.Connect{ClientID: "will", Username: tk.Key, UsernameFlag: true, CleanStart: true,
		WillMessage: &paho.WillMessage{Topic: "secret/x", Payload: []byte("will"), QoS: 1}})
	if err != nil {
		t.Fatal(err)
	}
	// paho.golang has no "drop the connection" call: close the socket.
	w.Client.Disconnect(&paho.Disconnect{ReasonCode: 0x04}) // 0x04: disconnect with will message
	// An alias set on an allowed topic and reused is fine; mapping one to
	// a secret topic is refused like the topic itself.
	c := mustDial(t, s.addr, "alias", tk.Key)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	alias := uint16(1)
	r, err := c.Publish(ctx, &paho.Publish{Topic: "secret/y", QoS: 1, Payload: []byte("via alias"), Properties: &paho.PublishProperties{TopicAlias: &alias}})
	if r == nil || r.ReasonCode != 0x87 {
		t.Fatalf("alias to a secret topic: %+v %v", r, err)
	}
	// Wildcard deletion of secret/#: refused; the retained message stays.
	if code := c.pub(t, "secret/#", "", false); code != 0x87 {
		t.Fatalf("wildcard deletion of secret/#: %#x", code)
	}
	admin.pub(t, "pub/marker", "marker", false)
	watch.nothingBefore(t, "marker")
	late := mustDial(t, s.addr, "late", s.master)
	late.sub(t, "secret/#")
	if p := late.recv(t); string(p.Payload) != "kept" {
		t.Fatalf("after the refused deletion: %q", p.Payload)
	}
}

// TestV311Behaviour: what a 3.1.1 client (paho.mqtt.golang) sees: CONNACK
// 4 for an unknown token and 5 for a disabled one, SUBACK 0x80 for a
// denied filter, a denied publish acknowledged and dropped, and the
// connection closed when its token expires.
func TestV311Behaviour(t *testing.T) {
	s := start(t)
	connect := func(id, user string, lost chan error) (mqtt.Client, error) {
		o := mqtt.NewClientOptions().AddBroker("tcp://" + s.addr).SetClientID(id).SetUsername(user).
			SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false)
		if lost != nil {
			o.SetConnectionLostHandler(func(_ mqtt.Client, err error) { lost <- err })
		}
		c := mqtt.NewClient(o)
		tok := c.Connect()
		if !tok.WaitTimeout(wait) {
			t.Fatal("connect timed out")
		}
		if tok.Error() == nil {
			t.Cleanup(func() { c.Disconnect(100) })
		}
		return c, tok.Error()
	}
	if _, err := connect("bad", "FlespiToken nope", nil); !errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword) {
		t.Fatalf("unknown token: %v", err)
	}
	off := s.token(t, 1, nil)
	s.reg.UpdateTokens(1, strconv.FormatUint(off.ID, 10), auth.TokenSpec{Enabled: ptr(false)})
	if _, err := connect("off", off.Key, nil); !errors.Is(err, packets.ErrorRefusedNotAuthorised) {
		t.Fatalf("disabled token: %v", err)
	}
	tk := s.token(t, 1, grant("pub/#", "publish", "subscribe"))
	c, err := connect("v3", tk.Key, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 10)
	st := c.SubscribeMultiple(map[string]byte{"pub/#": 1, "secret/#": 1}, func(_ mqtt.Client, m mqtt.Message) { got <- string(m.Payload()) })
	if !st.WaitTimeout(wait) || st.Error() != nil {
		t.Fatal(st.Error())
	}
	if codes := st.(*mqtt.SubscribeToken).Result(); codes["pub/#"] != 1 || codes["secret/#"] != 0x80 {
		t.Fatalf("SUBACK %v", codes)
	}
	if pt := c.Publish("secret/x", 1, false, "dropped"); !pt.WaitTimeout(wait) || pt.Error() != nil {
		t.Fatalf("denied publish: %v", pt.Error())
	}
	if pt := c.Publish("pub/x", 1, false, "delivered"); !pt.WaitTimeout(wait) || pt.Error() != nil {
		t.Fatal(pt.Error())
	}
	if m := brokertest.Recv(t, got, wait); m != "delivered" {
		t.Fatalf("received %q first", m)
	}
	// Expiry: 3.1.1 has no DISCONNECT from the server; the connection is
	// closed.
	short, _ := s.reg.CreateToken(1, auth.TokenSpec{Expire: ptr(time.Now().Unix() + 2)})
	lost := make(chan error, 1)
	if _, err := connect("short", short.Key, lost); err != nil {
		t.Fatal(err)
	}
	brokertest.Recv(t, lost, 5*time.Second)
}

// TestGrantAllStillNotFlespi: an ACL token granted "#" may subscribe to
// "#" but not to flespi/log/... (no ACL grants flespi/ topics), while a
// master token may.
func TestGrantAllStillNotFlespi(t *testing.T) {
	s := start(t)
	acl := mustDial(t, s.addr, "acl-all", s.token(t, 1, grant("#", "subscribe", "publish")).Key)
	for _, f := range []struct {
		filter string
		code   byte
	}{{"#", 1}, {"flespi/log/#", 0x87}, {"flespi,other/#", 0x87}, {"other/#", 1}} {
		if code := acl.sub(t, f.filter); code != f.code {
			t.Errorf("SUBSCRIBE %s with a # grant: %#x, want %#x", f.filter, code, f.code)
		}
	}
	master := mustDial(t, s.addr, "master-all", s.master)
	if code := master.sub(t, "flespi/log/#"); code != 1 {
		t.Fatalf("master: %#x", code)
	}
	if _, err := s.reg.CreateToken(1, auth.TokenSpec{TTL: ptr[int64](60), Access: grant("flespi,other/#", "subscribe")}); err == nil {
		t.Fatal("a selector reaching flespi/ was granted")
	}
}

// TestLogsPerAccount: a subaccount's master token reads the logs of its own
// sessions on flespi/log/mqtt/..., not another account's; the root's
// master reads both.
func TestLogsPerAccount(t *testing.T) {
	s := start(t)
	a, _ := s.reg.CreateAccount(1, "a")
	b, _ := s.reg.CreateAccount(1, "b")
	watchA := mustDial(t, s.addr, "watch-a", s.token(t, a.ID, &auth.Access{Type: auth.Master}).Key)
	watchA.sub(t, "flespi/log/mqtt/sessions/+/connected")
	root := mustDial(t, s.addr, "watch-root", s.master)
	root.sub(t, "flespi/log/mqtt/sessions/+/connected")
	mustDial(t, s.addr, "in-b", s.token(t, b.ID, nil).Key)
	mustDial(t, s.addr, "in-a", s.token(t, a.ID, nil).Key)
	if p := watchA.recv(t); p.Topic != "flespi/log/mqtt/sessions/in-a/connected" {
		t.Fatalf("a's master read %s first", p.Topic)
	}
	for _, want := range []string{"in-b", "in-a"} {
		if p := root.recv(t); p.Topic != "flespi/log/mqtt/sessions/"+want+"/connected" {
			t.Fatalf("root read %s, want %s", p.Topic, want)
		}
	}
}
