package restapi_test

import (
	"context"
	"net"
	"testing"

	"github.com/eclipse/paho.golang/paho"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/brokertest"
)

// TestLiveSessionCounters: GET /mqtt/sessions shows each connection's
// counters while it runs (what the peers observed: acknowledged publishes,
// a refused one, deliveries received), an offline session keeps its last
// connection's, and a resumed session keeps its creation time.
func TestLiveSessionCounters(t *testing.T) {
	opts, events := brokertest.Events(100)
	c := newClient(t, opts)
	get := func(id string) map[string]any {
		t.Helper()
		return one(t, c.ok("GET", "/mqtt/sessions/{selector}", map[string]string{"selector": id}, "", ""))
	}
	sub := dial(t, c.addr, "sub", true, 0)
	sub.sub(t, "c/#", 1)

	nc, err := net.Dial("tcp", c.addr)
	if err != nil {
		t.Fatal(err)
	}
	pub := paho.NewClient(paho.ClientConfig{Conn: nc})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	expiry := uint32(300)
	if _, err := pub.Connect(ctx, &paho.Connect{ClientID: "pub", CleanStart: true, KeepAlive: 30,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}}); err != nil {
		t.Fatal(err)
	}
	first := get("pub")
	if first["connected"] != true || first["published"] != 0.0 || first["bytes_in"].(float64) == 0 {
		t.Fatalf("pub after CONNECT: %v", first)
	}
	payload := make([]byte, 1000)
	for range 3 {
		if _, err := pub.Publish(ctx, &paho.Publish{Topic: "c/x", QoS: 1, Payload: payload}); err != nil {
			t.Fatal(err)
		}
	}
	// A topic under the reserved flespi/ prefix: PUBACK 0x90, counted as
	// rejected.
	if r, _ := pub.Publish(ctx, &paho.Publish{Topic: "flespi/x", QoS: 1, Payload: []byte("no")}); r == nil || r.ReasonCode != 0x90 {
		t.Fatalf("publish to flespi/x: %+v", r)
	}
	for range 3 {
		sub.recv(t)
	}
	p := get("pub")
	if p["published"] != 4.0 || p["rejected"] != 1.0 || p["received"] != 0.0 || p["bytes_in"].(float64) < 3000 || p["bytes_out"].(float64) == 0 {
		t.Fatalf("pub, live, after 4 publishes (1 refused): %v", p)
	}
	s := get("sub")
	if s["received"] != 3.0 || s["published"] != 0.0 || s["bytes_out"].(float64) < 3000 {
		t.Fatalf("sub, live, after 3 deliveries: %v", s)
	}

	// Offline: the last connection's counters and times stay.
	pub.Disconnect(&paho.Disconnect{})
	for e := range events {
		if e.Kind == broker.EventDisconnected && e.ClientID == "pub" {
			break
		}
	}
	off := get("pub")
	if off["connected"] != false || off["published"] != 4.0 || off["rejected"] != 1.0 || off["bytes_in"].(float64) < p["bytes_in"].(float64)+2 || // + DISCONNECT

		off["protocol"] != "5.0" || off["created"] != first["created"] || off["connected_at"] != first["connected_at"] || off["disconnected_at"] == 0.0 {
		t.Fatalf("pub offline: %v (live it was %v)", off, p)
	}

	// Resumed: counting starts again for the new connection; the session
	// is the same one, created when it was.
	dial(t, c.addr, "pub", false, 300)
	again := get("pub")
	if again["connected"] != true || again["published"] != 0.0 || again["created"] != first["created"] || again["connected_at"] == first["connected_at"] || again["disconnected_at"] != 0.0 {
		t.Fatalf("pub resumed: %v (first %v)", again, first)
	}
}
