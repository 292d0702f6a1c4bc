package broker_test

import (
	"testing"

	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/packet"
)

// TestWrongAckType is item 11 of issue 11: a client acknowledging a
// delivery with the wrong packet type for its flow gets DISCONNECT 0x82
// (5.0) or is closed (3.1.1); the right types, and a repeated PUBREC, keep
// the connection.
func TestWrongAckType(t *testing.T) {
	addr := brokertest.Start(t)
	pub := dialRaw(t, addr, packet.V5)
	pub.connect(&packet.Connect{ClientID: "pub", CleanStart: true})
	ack := func(id uint16) packet.Ack { return packet.Ack{PacketID: id} }
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		for _, tc := range []struct {
			name  string
			qos   packet.QoS
			steps func(c *raw, id uint16) // after the PUBLISH arrived
			bad   bool
		}{
			{"QoS 1 PUBACK", 1, func(c *raw, id uint16) { c.send(&packet.Puback{Ack: ack(id)}) }, false},
			{"QoS 1 PUBREC", 1, func(c *raw, id uint16) { c.send(&packet.Pubrec{Ack: ack(id)}) }, true},
			{"QoS 1 PUBCOMP", 1, func(c *raw, id uint16) { c.send(&packet.Pubcomp{Ack: ack(id)}) }, true},
			{"QoS 2 PUBACK", 2, func(c *raw, id uint16) { c.send(&packet.Puback{Ack: ack(id)}) }, true},
			{"QoS 2 PUBCOMP before PUBREC", 2, func(c *raw, id uint16) { c.send(&packet.Pubcomp{Ack: ack(id)}) }, true},
			{"QoS 2 PUBREC PUBREL PUBACK", 2, func(c *raw, id uint16) {
				c.send(&packet.Pubrec{Ack: ack(id)})
				if r, ok := c.recv().(*packet.Pubrel); !ok || r.PacketID != id {
					c.t.Fatalf("want PUBREL %d, got %v", id, r)
				}
				c.send(&packet.Puback{Ack: ack(id)})
			}, true},
			{"QoS 2 PUBREC PUBREL PUBREC PUBREL PUBCOMP", 2, func(c *raw, id uint16) {
				for range 2 {
					c.send(&packet.Pubrec{Ack: ack(id)})
					if r, ok := c.recv().(*packet.Pubrel); !ok || r.PacketID != id {
						c.t.Fatalf("want PUBREL %d, got %v", id, r)
					}
				}
				c.send(&packet.Pubcomp{Ack: ack(id)})
			}, false},
		} {
			t.Run(v.String()+" "+tc.name, func(t *testing.T) {
				c := dialRaw(t, addr, v)
				c.connect(&packet.Connect{ClientID: "sub", CleanStart: true})
				c.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "flow", QoS: 2}}})
				if _, ok := c.recv().(*packet.Suback); !ok {
					t.Fatal("want SUBACK")
				}
				pub.publish(&packet.Publish{Topic: "flow", QoS: 1, PacketID: 1, Payload: []byte("x")})
				m := c.recvPublish()
				// The publisher sends QoS 1: to get a QoS 2 delivery it sends
				// QoS 2 instead.
				if tc.qos == 2 {
					c.send(&packet.Puback{Ack: ack(m.PacketID)})
					pub.send(&packet.Publish{Topic: "flow", QoS: 2, PacketID: 2, Payload: []byte("x")})
					if _, ok := pub.recv().(*packet.Pubrec); !ok {
						t.Fatal("publisher: want PUBREC")
					}
					pub.send(&packet.Pubrel{Ack: ack(2)})
					if _, ok := pub.recv().(*packet.Pubcomp); !ok {
						t.Fatal("publisher: want PUBCOMP")
					}
					m = c.recvPublish()
				}
				if m.QoS != tc.qos {
					t.Fatalf("delivered at QoS %d, want %d", m.QoS, tc.qos)
				}
				tc.steps(c, m.PacketID)
				if tc.bad {
					c.expectDisconnect(packet.ProtocolError)
				} else {
					c.nothingPending()
				}
			})
		}
	}
}
