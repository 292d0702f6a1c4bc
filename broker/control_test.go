package broker_test

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/packet"
)

// TestControlCharacters is item 12 of issue 11: control characters
// U+0001..U+001F and U+007F..U+009F in topic names, topic filters, client
// ids, user names and will topics are refused by default as malformed
// (DISCONNECT 0x81 in 5.0, the connection closed in 3.1.1, a CONNECT closed
// without CONNACK), and accepted with Options.AllowControlChars.
func TestControlCharacters(t *testing.T) {
	addr := brokertest.Start(t)
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		for _, bad := range []string{"a\x01b", "a\x1fb", "a\x7fb", "a\u0085b", "a\u009fb"} {
			// In CONNECT: closed without CONNACK.
			for name, cp := range map[string]*packet.Connect{
				"client id":  {ClientID: bad, CleanStart: true},
				"user name":  {ClientID: "c", CleanStart: true, UsernameFlag: true, Username: bad},
				"will topic": {ClientID: "c", CleanStart: true, WillFlag: true, Will: packet.Will{Topic: bad, Payload: []byte("x")}},
			} {
				c := dialRaw(t, addr, v)
				cp.ProtocolVersion = v
				c.send(cp)
				c.expectClosedSilently(v.String() + " CONNECT with a control character in the " + name)
			}
			// After CONNECT.
			for name, p := range map[string]packet.Packet{
				"PUBLISH":     &packet.Publish{Topic: bad, Payload: []byte("x")},
				"SUBSCRIBE":   &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: bad}}},
				"UNSUBSCRIBE": &packet.Unsubscribe{PacketID: 1, Filters: []string{bad}},
			} {
				c := dialRaw(t, addr, v)
				c.connect(&packet.Connect{ClientID: "c", CleanStart: true})
				c.send(p)
				c.expectDisconnect(packet.MalformedPacket)
				_ = name
			}
		}
	}

	// Allowed by configuration: delivered as sent.
	_, addr = brokertest.StartServer(t, broker.Options{AllowControlChars: true})
	s := dialRaw(t, addr, packet.V5)
	s.connect(&packet.Connect{ClientID: "s\x01", CleanStart: true})
	if ack := s.subscribe(1, packet.Properties{}, packet.Subscription{Filter: "a\x01/#"}); ack.ReasonCodes[0] != 0 {
		t.Fatalf("SUBACK %v", ack.ReasonCodes)
	}
	p := dialRaw(t, addr, packet.V311)
	p.connect(&packet.Connect{ClientID: "p", CleanStart: true})
	p.send(&packet.Publish{Topic: "a\x01/\u0085", Payload: []byte("x")})
	if m := s.recvPublish(); m.Topic != "a\x01/\u0085" {
		t.Fatalf("got %q", m.Topic)
	}
}

// expectClosedSilently checks the broker closes the connection without
// sending anything (no CONNACK).
func (c *raw) expectClosedSilently(what string) {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(wait))
	p, err := c.r.ReadPacket()
	if err == nil {
		c.t.Fatalf("%s: got %v, want the connection closed", what, p)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatalf("%s: connection not closed within %v", what, wait)
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !isReset(err) {
		c.t.Fatalf("%s: %v", what, err)
	}
}
