package broker_test

import (
	"bytes"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/packet"
)

// TestMaxKeepAliveEveryVersion: with max_keep_alive configured, a 3.1.1
// client asking for no keep alive (or a longer one) cannot be told, but is
// still disconnected when idle for 1.5 × the maximum; a 5.0 client is told
// with Server Keep Alive and disconnected with 0x8D.
func TestMaxKeepAliveEveryVersion(t *testing.T) {
	_, addr := brokertest.StartServer(t, broker.Options{MaxKeepAlive: 1})
	for _, ka := range []uint16{0, 600} {
		c := dialRaw(t, addr, packet.V311)
		if ack := c.connect(&packet.Connect{ClientID: "old", CleanStart: true, KeepAlive: ka}); ack.ReasonCode != 0 {
			t.Fatalf("CONNACK %v", ack.ReasonCode)
		}
		c.expectClosedSilently("3.1.1 client idle past max_keep_alive")
	}
	c := dialRaw(t, addr, packet.V5)
	ack := c.connect(&packet.Connect{ClientID: "new", CleanStart: true})
	if ack.Props.ServerKeepAlive != 1 {
		t.Fatalf("Server Keep Alive %d, want 1", ack.Props.ServerKeepAlive)
	}
	c.expectDisconnect(packet.KeepAliveTimeout)
}

// TestPartialPacketTimeout: a client that sends half a packet after
// CONNECT and stops is disconnected after PacketTimeout (0x8D in 5.0)
// instead of holding its buffers for ever.
func TestPartialPacketTimeout(t *testing.T) {
	_, addr := brokertest.StartServer(t, broker.Options{PacketTimeout: 200 * time.Millisecond})
	half := []byte{0x30, 100, 0, 3, 'a', '/', 'b', 'x', 'y'} // PUBLISH announcing 100 bytes, 7 sent
	c := rawClient(t, addr, "half5", packet.Properties{})
	c.write(half)
	c.expectDisconnect(packet.KeepAliveTimeout)

	c = dialRaw(t, addr, packet.V311)
	c.connect(&packet.Connect{ClientID: "half3", CleanStart: true})
	c.write(half)
	c.expectClosedSilently("3.1.1 client with half a packet")

	// A packet that keeps coming, slowly, is not cut: its deadline moves
	// with every read that brings bytes.
	c = rawClient(t, addr, "slow", packet.Properties{})
	c.subscribe(1, packet.Properties{}, packet.Subscription{Filter: "a/b"})
	pub, _ := (&packet.Publish{Topic: "a/b", Payload: bytes.Repeat([]byte("x"), 50)}).AppendTo(nil, packet.V5)
	for i := range pub {
		c.write(pub[i : i+1])
		// Each byte after the broker read the previous one: a PINGREQ
		// cannot be interleaved inside a packet, so pace by time, well
		// under PacketTimeout/2 per byte.
		time.Sleep(5 * time.Millisecond)
	}
	if m := c.recvPublish(); len(m.Payload) != 50 {
		t.Fatalf("payload of %d bytes", len(m.Payload))
	}
}

// TestConnectLimits: CONNECT has its own, smaller size limit, and the
// bytes of all connections still in CONNECT are bounded together.
func TestConnectLimits(t *testing.T) {
	_, addr := brokertest.StartServer(t, broker.Options{
		MaxConnectSize:     8 << 10,
		MaxConnectingBytes: 48 << 10,
		ConnectTimeout:     time.Minute, // the limits close these, not the timeout
	})
	// A CONNECT announcing more than MaxConnectSize is closed at its
	// header, before its body is buffered.
	big := dialRaw(t, addr, packet.V5)
	big.write([]byte{0x10, 0x80, 0x80, 0x10, 0, 4, 'M', 'Q', 'T', 'T', 5}) // 262,144 bytes announced
	big.expectClosedSilently("CONNECT larger than max_connect_size")

	// Unauthenticated connections streaming CONNECTs under the size limit
	// but never finishing them: together they may hold 48 KB; the ones
	// past the budget are closed.
	hdr := []byte{0x10, 0xc0, 0x3e, 0, 4, 'M', 'Q', 'T', 'T', 5, 2, 0, 0} // 8,000 bytes announced
	chunk := make([]byte, 7000)
	var conns []*raw
	for range 10 {
		c := dialRaw(t, addr, packet.V5)
		c.nc.Write(hdr)
		c.nc.Write(chunk) // errors once the broker closed it
		conns = append(conns, c)
	}
	// The ones within the budget stay open: each read ends at its
	// deadline, which bounds the test.
	results := make(chan bool, len(conns))
	for _, c := range conns {
		go func() {
			c.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
			_, err := c.nc.Read(make([]byte, 1))
			var ne net.Error
			results <- !(errors.As(err, &ne) && ne.Timeout())
		}()
	}
	closed := 0
	for range conns {
		if brokertest.Recv(t, results, wait) {
			closed++
		}
	}
	// 7 connections of 7,013 bytes fit in 48 KB: at least the 8th is
	// closed (a closed one gives its bytes back, so which and how many
	// depends on the order the broker reads them).
	if closed < 1 || closed > 3 {
		t.Fatalf("%d of 10 connections streaming 7 KB each closed, want 1 to 3", closed)
	}
	for _, c := range conns {
		c.nc.Close()
	}
	// The budget is given back: a normal client connects.
	if ack := dialRaw(t, addr, packet.V5).connect(&packet.Connect{ClientID: "after", CleanStart: true}); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %v", ack.ReasonCode)
	}
}
