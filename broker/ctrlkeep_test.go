package broker

import (
	"bufio"
	"context"
	"net"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/packet"
)

// TestIdleConnectionKeepsNoBurstBuffer: after a burst of 2,000 QoS 1
// PUBLISHes (8 KB of PUBACKs gathered between writes) and a quiet moment,
// the connection holds at most keptCtrl bytes of room for control
// packets. Before, prepare handed it the writer's previous buffer
// whatever its size (up to 64 KB), kept for the connection's idle life.
func TestIdleConnectionKeepsNoBurstBuffer(t *testing.T) {
	s := New(Options{Listen: "127.0.0.1:0"})
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	nc, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	r := packet.NewReader(bufio.NewReader(nc))
	r.Version = packet.V5
	b, _ := (&packet.Connect{ProtocolVersion: packet.V5, ClientID: "burst", CleanStart: true}).AppendTo(nil, packet.V5)
	const n = 2000
	for i := 1; i <= n; i++ {
		b, _ = (&packet.Publish{Topic: "t", QoS: 1, PacketID: uint16(i), Payload: []byte("x")}).AppendTo(b, packet.V5)
	}
	b, _ = (&packet.Pingreq{}).AppendTo(b, packet.V5)
	if _, err := nc.Write(b); err != nil {
		t.Fatal(err)
	}
	acks := 0
	for pinged := false; !pinged; {
		p, err := r.ReadPacket()
		if err != nil {
			t.Fatalf("after %d PUBACKs: %v", acks, err)
		}
		switch p.(type) {
		case *packet.Puback:
			acks++
		case *packet.Pingresp:
			pinged = true
		}
	}
	if acks != n {
		t.Fatalf("%d PUBACKs, want %d", acks, n)
	}
	// One more round trip on the now quiet connection, then look.
	b, _ = (&packet.Pingreq{}).AppendTo(nil, packet.V5)
	nc.Write(b)
	if p, err := r.ReadPacket(); err != nil || p.Type() != packet.PINGRESP {
		t.Fatalf("PINGREQ: %v %v", p, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		var room, conns int
		for c := range s.conns {
			c.mu.Lock()
			room, conns = max(room, cap(c.ctrl)), conns+1
			c.mu.Unlock()
		}
		s.mu.Unlock()
		if conns == 1 && room <= keptCtrl {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections; the idle one keeps %d bytes of room for control packets, want at most %d", conns, room, keptCtrl)
		}
		time.Sleep(10 * time.Millisecond) // the write side settles after the client read: no event says so
	}
}
