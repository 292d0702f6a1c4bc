package broker_test

import (
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
		packet.Subscription{Filter: "#"},          // overlaps secret/#
		packet.Subscription{Filter: "secret/a/b"}) // inside secret/#
	if ack.ReasonCodes[0] != 1 || ack.ReasonCodes[1] != packet.NotAuthorized || ack.ReasonCodes[2] != packet.NotAuthorized {
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
