package broker_test

import (
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/packet"
)

// stillWorks checks that the broker serves a fresh client after another
// one misbehaved.
func stillWorks(t *testing.T, addr string) {
	t.Helper()
	c, _ := dial5(t, addr, "bystander")
	c.sub(t, "still/works", 1)
	c.pub(t, "still/works", 1, false, "yes")
	if m := brokertest.Recv(t, c.msgs, wait); string(m.Payload) != "yes" {
		t.Fatalf("bystander got %v", m)
	}
}

func TestEdgeCases(t *testing.T) {
	addr := brokertest.Start(t)
	bystander, _ := dial5(t, addr, "watcher")
	bystander.sub(t, "w", 1)

	tests := []struct {
		name string
		v    packet.Version
		do   func(c *raw)
		want packet.ReasonCode
	}{
		{"malformed remaining length", packet.V5, func(c *raw) {
			c.write([]byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01}) // five length bytes
		}, packet.MalformedPacket},
		{"reserved flags on SUBSCRIBE", packet.V5, func(c *raw) {
			c.write([]byte{0x80, 6, 0, 1, 0, 1, 'a', 0}) // flags must be 0x2
		}, packet.MalformedPacket},
		{"second CONNECT", packet.V5, func(c *raw) {
			c.send(&packet.Connect{ProtocolVersion: packet.V5, ClientID: "again", CleanStart: true})
		}, packet.ProtocolError},
		{"wildcard in topic name", packet.V5, func(c *raw) {
			// topic "a/+" with a payload: only an empty payload (flespi's
			// bulk retained deletion) may name a wildcard topic
			c.write([]byte{0x30, 7, 0, 3, 'a', '/', '+', 0, 'x'})
		}, packet.TopicNameInvalid},
		{"invalid UTF-8 topic", packet.V5, func(c *raw) {
			c.write([]byte{0x30, 5, 0, 2, 0xc3, 0x28, 0}) // bad 2-byte sequence
		}, packet.MalformedPacket},
		{"topic alias 0", packet.V5, func(c *raw) {
			c.write([]byte{0x30, 7, 0, 1, 'a', 3, 0x23, 0, 0}) // Topic Alias = 0
		}, packet.ProtocolError},
		{"topic alias over maximum", packet.V5, func(c *raw) {
			c.send(&packet.Publish{Topic: "a", Props: packet.Properties{TopicAlias: 60000}})
		}, packet.TopicAliasInvalid},
		{"unknown topic alias", packet.V5, func(c *raw) {
			c.send(&packet.Publish{Props: packet.Properties{TopicAlias: 7}})
		}, packet.ProtocolError},
		{"AUTH without method", packet.V5, func(c *raw) {
			c.send(&packet.Auth{ReasonCode: packet.ReAuthenticate})
		}, packet.ProtocolError},
		{"server packet from client", packet.V5, func(c *raw) {
			c.send(&packet.Pingresp{})
		}, packet.ProtocolError},
		{"3.1.1 malformed", packet.V311, func(c *raw) {
			c.write([]byte{0x62, 3, 0, 1, 0}) // PUBREL with a stray byte before 5.0
		}, packet.MalformedPacket},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialRaw(t, addr, tt.v)
			if ack := c.connect(&packet.Connect{ClientID: "edge", CleanStart: true}); ack.ReasonCode != 0 {
				t.Fatalf("CONNACK %v", ack.ReasonCode)
			}
			tt.do(c)
			c.expectDisconnect(tt.want)
			stillWorks(t, addr)
		})
	}
	bystander.pub(t, "w", 1, false, "after")
	if m := brokertest.Recv(t, bystander.msgs, wait); string(m.Payload) != "after" {
		t.Fatalf("bystander got %v", m)
	}
}

func TestPacketBeforeConnect(t *testing.T) {
	addr := brokertest.Start(t)
	c := dialRaw(t, addr, packet.V5)
	c.write([]byte{0xc0, 0}) // PINGREQ
	c.expectDisconnect(0)
	stillWorks(t, addr)
}

func TestUnsupportedVersion(t *testing.T) {
	addr := brokertest.Start(t)
	c := dialRaw(t, addr, packet.V311)
	c.write([]byte{0x10, 10, 0, 4, 'M', 'Q', 'T', 'T', 9, 2, 0, 0, 0, 0}) // level 9
	ack, ok := c.recv().(*packet.Connack)
	if !ok || ack.ReasonCode != packet.UnsupportedProtocolVersion {
		t.Fatalf("got %v", ack)
	}
}

// TestPubrelUnknownID: a PUBREL for an identifier the broker holds no
// PUBLISH for (a resend after the flow completed) gets PUBCOMP 0, as from
// mosquitto (see conn.handleAck).
func TestPubrelUnknownID(t *testing.T) {
	addr := brokertest.Start(t)
	c := dialRaw(t, addr, packet.V5)
	c.connect(&packet.Connect{ClientID: "x", CleanStart: true})
	c.send(&packet.Pubrel{Ack: packet.Ack{PacketID: 77}})
	pc, ok := c.recv().(*packet.Pubcomp)
	if !ok || pc.PacketID != 77 || pc.ReasonCode != 0 {
		t.Fatalf("got %v", pc)
	}
}

// TestQoS2PacketIDReuse checks that a resent QoS 2 PUBLISH (same id,
// before PUBREL) is acknowledged again but delivered once.
func TestQoS2PacketIDReuse(t *testing.T) {
	addr := brokertest.Start(t)
	sub, _ := dial5(t, addr, "sub")
	sub.sub(t, "q2", 2)
	c := dialRaw(t, addr, packet.V5)
	c.connect(&packet.Connect{ClientID: "p", CleanStart: true})
	for range 2 {
		c.send(&packet.Publish{Topic: "q2", QoS: 2, PacketID: 5, Payload: []byte("once")})
		if rec, ok := c.recv().(*packet.Pubrec); !ok || rec.PacketID != 5 || rec.ReasonCode.IsError() {
			t.Fatalf("got %v", rec)
		}
	}
	c.send(&packet.Pubrel{Ack: packet.Ack{PacketID: 5}})
	if pc, ok := c.recv().(*packet.Pubcomp); !ok || pc.ReasonCode != 0 {
		t.Fatalf("got %v", pc)
	}
	brokertest.Recv(t, sub.msgs, wait)
	c.send(&packet.Pingreq{})
	c.recv() // PINGRESP: everything before it was processed
	select {
	case m := <-sub.msgs:
		t.Fatalf("delivered twice: %v", m)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestKeepAlive(t *testing.T) {
	addr := brokertest.Start(t)
	c := dialRaw(t, addr, packet.V5)
	c.connect(&packet.Connect{ClientID: "ka", CleanStart: true, KeepAlive: 1})
	start := time.Now()
	c.expectDisconnect(packet.KeepAliveTimeout)
	if d := time.Since(start); d < 1400*time.Millisecond {
		t.Fatalf("closed after %v, before 1.5 × keep alive", d)
	}
}

func TestOversizedPacket(t *testing.T) {
	opts, _ := brokertest.Events(10)
	opts.MaxPacketSize = 100
	_, addr := brokertest.StartServer(t, opts)
	c := dialRaw(t, addr, packet.V5)
	if ack := c.connect(&packet.Connect{ClientID: "big", CleanStart: true}); ack.Props.MaximumPacketSize != 100 {
		t.Fatalf("CONNACK maximum packet size %d", ack.Props.MaximumPacketSize)
	}
	c.send(&packet.Publish{Topic: "t", Payload: make([]byte, 200)})
	c.expectDisconnect(packet.PacketTooLarge)
}

func TestEnhancedAuthRefused(t *testing.T) {
	addr := brokertest.Start(t)
	c := dialRaw(t, addr, packet.V5)
	ack := c.connect(&packet.Connect{ClientID: "a", CleanStart: true, Props: packet.Properties{AuthMethod: "SCRAM-SHA-1"}})
	if ack.ReasonCode != packet.BadAuthenticationMethod {
		t.Fatalf("CONNACK %v", ack.ReasonCode)
	}
}

func TestAssignedClientIDAndServerKeepAlive(t *testing.T) {
	opts, _ := brokertest.Events(10)
	opts.MaxKeepAlive = 60
	_, addr := brokertest.StartServer(t, opts)
	c := dialRaw(t, addr, packet.V5)
	ack := c.connect(&packet.Connect{CleanStart: true, KeepAlive: 600, Props: packet.Properties{RequestResponseInfo: 1}})
	if ack.Props.AssignedClientID == "" || ack.Props.ServerKeepAlive != 60 || ack.Props.ResponseInfo == "" {
		t.Fatalf("CONNACK %v", ack)
	}
	c3 := dialRaw(t, addr, packet.V311)
	if ack := c3.connect(&packet.Connect{CleanStart: false}); ack.ReasonCode != packet.ClientIdentifierNotValid {
		t.Fatalf("3.1.1 empty id with persistent session: %v", ack.ReasonCode)
	}
}
