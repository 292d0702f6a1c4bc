package broker_test

import (
	"fmt"
	"testing"

	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/packet"
)

// TestUnsubscribeMoreThan64 is item 8 of issue 11: a 3.1.1 UNSUBSCRIBE with
// more than 64 filters got a plain UNSUBACK and removed nothing, so the
// client kept receiving. 3.1.1 has no per-filter codes: all are removed.
// 5.0 refuses each with 0x80 and keeps them, as it says.
func TestUnsubscribeMoreThan64(t *testing.T) {
	addr := brokertest.Start(t)
	pub := dialRaw(t, addr, packet.V5)
	pub.connect(&packet.Connect{ClientID: "pub", CleanStart: true})
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		c := dialRaw(t, addr, v)
		c.connect(&packet.Connect{ClientID: "u" + v.String(), CleanStart: true})
		var filters []string
		for i := range 70 {
			f := fmt.Sprintf("u/%d", i)
			filters = append(filters, f)
			c.send(&packet.Subscribe{PacketID: uint16(i + 1), Subscriptions: []packet.Subscription{{Filter: f}}})
			if _, ok := c.recv().(*packet.Suback); !ok {
				t.Fatal("want SUBACK")
			}
		}
		c.send(&packet.Subscribe{PacketID: 99, Subscriptions: []packet.Subscription{{Filter: "marker"}}})
		if _, ok := c.recv().(*packet.Suback); !ok {
			t.Fatal("want SUBACK")
		}
		c.send(&packet.Unsubscribe{PacketID: 100, Filters: filters})
		ack, ok := c.recv().(*packet.Unsuback)
		if !ok {
			t.Fatal("want UNSUBACK")
		}
		// One publisher's messages reach a subscriber in order: had u/69
		// still been subscribed, it would come before the marker.
		pub.publish(&packet.Publish{Topic: "u/69", QoS: 1, PacketID: 1, Payload: []byte("x")})
		pub.publish(&packet.Publish{Topic: "marker", QoS: 1, PacketID: 2, Payload: []byte("x")})
		if v == packet.V311 {
			if m := c.recvPublish(); m.Topic != "marker" {
				t.Fatalf("3.1.1: got %q after unsubscribing it", m.Topic)
			}
			continue
		}
		for i, code := range ack.ReasonCodes {
			if code != packet.UnspecifiedError {
				t.Fatalf("5.0 UNSUBACK code %d = %v, want 0x80", i, code)
			}
		}
		if m := c.recvPublish(); m.Topic != "u/69" {
			t.Fatalf("5.0: got %q, want u/69 (still subscribed, as 0x80 said)", m.Topic)
		}
	}
}
