package restapi_test

import (
	"context"
	"testing"

	"github.com/eclipse/paho.golang/paho"

	"github.com/mqttboard/mqttboard/broker"
)

// TestLogTopicsObeyACL: log records over MQTT reach only subscribers the
// ACL lets read them. An operator reads every client's; a device may read
// only its own (a rule with %c); a device's '+' over other clients' ids is
// refused at SUBSCRIBE.
func TestLogTopicsObeyACL(t *testing.T) {
	cfg, err := broker.ParseConfig("acl.yaml", []byte(`acl:
  default: deny
  rules:
    - {clientid: ops, action: subscribe, allow: true, topics: ["flespi/log/#"]}
    - {action: subscribe, allow: true, topics: ["flespi/log/mqtt/sessions/%c/#"]}
    - {action: all, allow: true, topics: ["dev/#"]}
`))
	if err != nil {
		t.Fatal(err)
	}
	var opts broker.Options
	cfg.Apply(&opts)
	c := newClient(t, opts)
	ops := dial(t, c.addr, "ops", true, 0)
	ops.sub(t, "flespi/log/#", 0)
	dev1 := dial(t, c.addr, "dev1", true, 0)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	sa, err := dev1.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "flespi/log/mqtt/sessions/+/+"}}})
	if sa == nil || len(sa.Reasons) != 1 || sa.Reasons[0] != 0x87 { // paho also returns an error for it
		t.Fatalf("dev1 subscribing to every client's logs: %+v %v", sa, err)
	}
	dev1.sub(t, "flespi/log/mqtt/sessions/dev1/#", 0)

	// ops sees every client's records: dev1's subscription, dev2 arriving
	// (after its own and dev1's earlier ones).
	seen := func(want string) {
		t.Helper()
		for range 20 {
			if m := ops.recv(t); m.Topic == "flespi/log/mqtt/sessions/"+want {
				return
			}
		}
		t.Fatalf("ops never got %s", want)
	}
	seen("dev1/subscribed")
	dial(t, c.addr, "dev2", true, 0)
	seen("dev2/connected")
	// dev1's next record is its own: dev2's, logged before it, never
	// reached dev1.
	dev1.sub(t, "dev/#", 0)
	if m := dev1.recv(t); m.Topic != "flespi/log/mqtt/sessions/dev1/subscribed" {
		t.Fatalf("dev1 got %s", m.Topic)
	}
}
