package broker_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/packet"
)

const aclConfig = `{
  "limits": {"max_keep_alive": 120},
  "acl": {
    "default": "deny",
    "rules": [
      {"username": "reader", "action": "subscribe", "allow": false, "topics": ["secret/#"]},
      {"username": "reader", "action": "subscribe", "allow": true, "topics": ["#"]},
      {"username": "writer", "action": "publish", "allow": true, "topics": ["data/%c/#"]}
    ]
  }
}`

func aclServer(t *testing.T, hide bool) string {
	cfg, err := broker.ParseConfig("test.json", []byte(aclConfig))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ACL.HideDenied = hide
	var o broker.Options
	cfg.Apply(&o)
	_, addr := brokertest.StartServer(t, o)
	return addr
}

func TestACL(t *testing.T) {
	addr := aclServer(t, false)
	r := dialRaw(t, addr, packet.V5)
	r.connect(&packet.Connect{ClientID: "r", CleanStart: true, UsernameFlag: true, Username: "reader"})
	ack := r.subscribe(1, packet.Properties{},
		packet.Subscription{Filter: "data/#", QoS: 1},
		packet.Subscription{Filter: "#"},          // granted: deny secret/# does not match the filter "#"
		packet.Subscription{Filter: "secret/a/b"}) // inside secret/#
	if ack.ReasonCodes[0] != 1 || ack.ReasonCodes[1] != 0 || ack.ReasonCodes[2] != packet.NotAuthorized {
		t.Fatalf("SUBACK %v", ack.ReasonCodes)
	}
	w := dialRaw(t, addr, packet.V5)
	w.connect(&packet.Connect{ClientID: "w1", CleanStart: true, UsernameFlag: true, Username: "writer"})
	w.send(&packet.Publish{Topic: "data/w2/x", QoS: 1, PacketID: 1, Payload: []byte("no")})
	if a, ok := w.recv().(*packet.Puback); !ok || a.ReasonCode != packet.NotAuthorized {
		t.Fatalf("PUBACK %v", a)
	}
	w.publish(&packet.Publish{Topic: "data/w1/x", QoS: 1, PacketID: 2, Payload: []byte("yes")})
	if m := r.recvPublish(); string(m.Payload) != "yes" {
		t.Fatalf("got %v", &m)
	}

	// 3.1.1: a denied SUBSCRIBE is 0x80, a denied PUBLISH acknowledged and dropped.
	r3 := dialRaw(t, addr, packet.V311)
	r3.connect(&packet.Connect{ClientID: "w2", CleanStart: true, UsernameFlag: true, Username: "writer"})
	r3.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "x"}}})
	if a, ok := r3.recv().(*packet.Suback); !ok || a.ReasonCodes[0] != packet.UnspecifiedError {
		t.Fatalf("3.1.1 SUBACK %v", a)
	}
	r3.send(&packet.Publish{Topic: "data/w1/x", QoS: 1, PacketID: 2, Payload: []byte("dropped")})
	if a, ok := r3.recv().(*packet.Puback); !ok || a.ReasonCode != 0 {
		t.Fatalf("3.1.1 PUBACK %v", a)
	}
	r.nothingPending()
}

func TestACLHideDenied(t *testing.T) {
	addr := aclServer(t, true)
	r := dialRaw(t, addr, packet.V5)
	r.connect(&packet.Connect{ClientID: "r", CleanStart: true, UsernameFlag: true, Username: "reader"})
	if ack := r.subscribe(1, packet.Properties{}, packet.Subscription{Filter: "secret/x"}); ack.ReasonCodes[0] != packet.UnspecifiedError {
		t.Fatalf("SUBACK %v", ack.ReasonCodes)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"{\n  \"limits\": {\n    \"max_payload\": \"big\"\n  }\n}", "c.json:3:"},
		{"{\n  \"limts\": {}\n}", "c.json:2:"},
		{"{\"acl\": {\"rules\": [{\"action\": \"read\", \"topics\": [\"a\"]}]}}", "acl.rules[0].action"},
		{"{\"acl\": {\"rules\": [{\"action\": \"publish\", \"topics\": [\"a/#/b\"]}]}}", "acl.rules[0].topics[0]"},
		{"{\n\n  oops\n}", "c.json:3:"},
	}
	for _, tt := range tests {
		_, err := broker.ParseConfig("c.json", []byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseConfig(%q) = %v, want it to mention %q", tt.in, err, tt.want)
		}
	}
}

// readmeACL is the configuration README documents for refusing one filter
// with 0x80 while allowing '#'.
const readmeACL = `
acl:
  hide_denied: true      # refuse with 0x80, not 0x87
  default: allow
  rules:
    - action: subscribe
      allow: false
      topics: ["secret/#"]
`

// TestACLRefusesOneFilterAllowsHash is item 10 of issue 11: a SUBSCRIBE is
// decided on its filter as written (also the inner filter of $share and
// $filter subscriptions, and each alternative of a selector), and each
// delivery, live or retained, is checked against the subscriber's read
// rights, so a '#' subscriber never receives secret/x.
func TestACLRefusesOneFilterAllowsHash(t *testing.T) {
	cfg, err := broker.ParseConfig("readme.yaml", []byte(readmeACL))
	if err != nil {
		t.Fatal(err)
	}
	var o broker.Options
	cfg.Apply(&o)
	_, addr := brokertest.StartServer(t, o)

	p := dialRaw(t, addr, packet.V5)
	p.connect(&packet.Connect{ClientID: "pub", CleanStart: true})
	p.publish(&packet.Publish{Topic: "secret/r", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("hidden retained")})
	p.publish(&packet.Publish{Topic: "public/r", QoS: 1, PacketID: 2, Retain: true, Payload: []byte("retained")})

	r := dialRaw(t, addr, packet.V5)
	r.connect(&packet.Connect{ClientID: "r", CleanStart: true})
	ack := r.subscribe(1, packet.Properties{},
		packet.Subscription{Filter: "#", QoS: 1},
		packet.Subscription{Filter: "secret/x"},
		packet.Subscription{Filter: "secret/#"},
		packet.Subscription{Filter: "$share/g/secret/#"},
		packet.Subscription{Filter: "$filter/cid=0/secret/#"},
		packet.Subscription{Filter: "a,secret/x"},
		packet.Subscription{Filter: "+/x", QoS: 1},
	)
	want := []packet.ReasonCode{1, 0x80, 0x80, 0x80, 0x80, 0x80, 1}
	if !slices.Equal(ack.ReasonCodes, want) {
		t.Fatalf("SUBACK %v, want %v", ack.ReasonCodes, want)
	}
	if m := r.recvPublish(); m.Topic != "public/r" || !m.Retain {
		t.Fatalf("first retained message %q (retain %v), want public/r only", m.Topic, m.Retain)
	}
	// A shared '#' subscriber is checked the same way.
	s := dialRaw(t, addr, packet.V5)
	s.connect(&packet.Connect{ClientID: "s", CleanStart: true})
	if ack := s.subscribe(1, packet.Properties{}, packet.Subscription{Filter: "$share/g/#", QoS: 1}); ack.ReasonCodes[0] != 1 {
		t.Fatalf("$share/g/# SUBACK %v", ack.ReasonCodes)
	}
	// Live: secret/x goes first; a subscriber that got it would see it
	// before public/x (one session's messages keep their order).
	p.publish(&packet.Publish{Topic: "secret/x", QoS: 1, PacketID: 3, Payload: []byte("hidden")})
	p.publish(&packet.Publish{Topic: "public/x", QoS: 1, PacketID: 4, Payload: []byte("visible")})
	for _, c := range []*raw{r, s} {
		m := c.recvPublish()
		if m.Topic != "public/x" {
			t.Fatalf("received %q, want public/x: the read rights were not checked", m.Topic)
		}
		c.send(&packet.Puback{Ack: packet.Ack{PacketID: m.PacketID}})
		c.nothingPending() // one delivery for "#" and "+/x" together, and nothing else
	}
}

// conformanceConfig is README's configuration for conformance suites.
const conformanceConfig = `
stamp: false
reason_strings: false
limits:
  max_keep_alive: 60
  receive_maximum: 20
  topic_alias_maximum: 10
  max_packet_size: 268435460
acl:
  hide_denied: true
  default: allow
  rules:
    - {action: subscribe, allow: false, topics: ["test/nosubscribe"]}
`

// oldConfig is a configuration written for the broker before issue 11
// (README's example then): it must keep loading and meaning the same, the
// ACL semantics of item 10 apart.
const oldConfig = `
stamp: true
limits:
  max_payload: 1048576
  max_keep_alive: 300
  receive_maximum: 100
  max_packet_size: 2097152
  max_queue_bytes: 67108864
acl:
  default: deny
  hide_denied: false
  rules:
    - {username: reader, action: subscribe, allow: false, topics: ["secret/#"]}
    - {username: reader, action: subscribe, allow: true, topics: ["#"]}
    - {clientid: "sensor-*", action: publish, allow: true, topics: ["sensors/%c/#"]}
`

func TestConfigsKeepLoading(t *testing.T) {
	old, err := broker.ParseConfig("old.yaml", []byte(oldConfig))
	if err != nil {
		t.Fatal(err)
	}
	var o broker.Options
	old.Apply(&o)
	if o.NoStamp || o.MaxPayload != 1048576 || o.MaxKeepAlive != 300 || o.ReceiveMaximum != 100 || o.MaxPacketSize != 2097152 ||
		o.MaxQueueBytes != 67108864 || o.ACL == nil || o.ACL.Default != "deny" || o.ACL.HideDenied || len(o.ACL.Rules) != 3 {
		t.Fatalf("old config read as %+v", o)
	}
	_, addr := brokertest.StartServer(t, o)
	r := dialRaw(t, addr, packet.V5)
	r.connect(&packet.Connect{ClientID: "r", CleanStart: true, UsernameFlag: true, Username: "reader"})
	ack := r.subscribe(1, packet.Properties{}, packet.Subscription{Filter: "sensors/#"}, packet.Subscription{Filter: "secret/x"})
	if !slices.Equal(ack.ReasonCodes, []packet.ReasonCode{0, packet.NotAuthorized}) {
		t.Fatalf("reader SUBACK %v", ack.ReasonCodes)
	}
	w := dialRaw(t, addr, packet.V5)
	w.connect(&packet.Connect{ClientID: "sensor-7", CleanStart: true})
	w.publish(&packet.Publish{Topic: "sensors/sensor-7/t", QoS: 1, PacketID: 1, Payload: []byte("ok")})
	w.send(&packet.Publish{Topic: "sensors/sensor-8/t", QoS: 1, PacketID: 2, Payload: []byte("no")})
	if a, ok := w.recv().(*packet.Puback); !ok || a.ReasonCode != packet.NotAuthorized {
		t.Fatalf("PUBACK %v", a)
	}
	if m := r.recvPublish(); m.Topic != "sensors/sensor-7/t" {
		t.Fatalf("reader got %q", m.Topic)
	}

	c, err := broker.ParseConfig("conformance.yaml", []byte(conformanceConfig))
	if err != nil {
		t.Fatal(err)
	}
	var co broker.Options
	c.Apply(&co)
	_, addr = brokertest.StartServer(t, co)
	s := dialRaw(t, addr, packet.V5)
	if ca := s.connect(&packet.Connect{ClientID: "s", CleanStart: true}); ca.Props.ReceiveMaximum != 20 || len(ca.Props.User) != 0 {
		t.Fatalf("CONNACK %+v", ca.Props)
	}
	ack = s.subscribe(1, packet.Properties{}, packet.Subscription{Filter: "#"}, packet.Subscription{Filter: "test/nosubscribe"})
	if !slices.Equal(ack.ReasonCodes, []packet.ReasonCode{0, packet.UnspecifiedError}) {
		t.Fatalf("SUBACK %v, want [0 0x80]", ack.ReasonCodes)
	}
}
