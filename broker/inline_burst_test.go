package broker_test

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/packet"
)

// On the event loop with one processor (or one event at a time), a read
// burst runs on the poller's goroutine: one read that does not wait, the
// whole packets it brought (PUBLISH, acknowledgements, PINGREQ), and the
// rest handed on to the pool. These tests drive every hand-over with
// raw clients and check what the peers received. GOMAXPROCS is 1 for
// them, so every burst starts on the poller's goroutine.

// oneProc sets GOMAXPROCS to 1 for the test.
func oneProc(t *testing.T) {
	old := runtime.GOMAXPROCS(1)
	t.Cleanup(func() { runtime.GOMAXPROCS(old) })
}

// readUpTo waits (bounded) until the broker has read n bytes in all, so
// that what a test wrote so far is in a burst before it writes more.
func readUpTo(t *testing.T, s *broker.Server, n int64) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for s.Stats().BytesReceived < n {
		if time.Now().After(deadline) {
			t.Fatalf("the broker read %d bytes, want %d", s.Stats().BytesReceived, n)
		}
		time.Sleep(time.Millisecond) // polls a counter: no event says "read"
	}
}

func publishBytes(t *testing.T, p *packet.Publish) []byte {
	t.Helper()
	b, err := p.AppendTo(nil, packet.V5)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBurstStartsInsidePacket: a client's first write holds CONNECT and
// the first half of a PUBLISH; the second half comes once the broker has
// read the first. The burst that follows CONNECT starts inside that
// PUBLISH, so its first read must wait for the rest. Before, it did not:
// it found the socket empty, gave the half packet's bytes back with the
// buffer, and read the second half as a packet of its own (malformed),
// so the message was lost and the client disconnected.
func TestBurstStartsInsidePacket(t *testing.T) {
	for _, procs := range []int{1, 2} {
		t.Run(fmt.Sprint("procs=", procs), func(t *testing.T) {
			old := runtime.GOMAXPROCS(procs)
			t.Cleanup(func() { runtime.GOMAXPROCS(old) })
			s, addr := brokertest.StartServer(t, broker.Options{})
			sub := rawClient(t, addr, "s", packet.Properties{})
			sub.subscribe(1, packet.Properties{}, packet.Subscription{Filter: "split/#"})
			payload := bytes.Repeat([]byte("0123456789"), 20)
			pub := dialRaw(t, addr, packet.V5)
			cb, _ := (&packet.Connect{ProtocolVersion: packet.V5, ClientID: "p", CleanStart: true}).AppendTo(nil, packet.V5)
			pb := publishBytes(t, &packet.Publish{Topic: "split/1", Payload: payload})
			before := s.Stats().BytesReceived
			half := len(pb) / 2
			pub.write(append(cb, pb[:half]...))
			if _, ok := pub.recv().(*packet.Connack); !ok {
				t.Fatal("expected CONNACK")
			}
			readUpTo(t, s, before+int64(len(cb)+half))
			pub.write(pb[half:])
			if m := sub.recvPublish(); m.Topic != "split/1" || !bytes.Equal(m.Payload, payload) {
				t.Fatalf("got %q %q", m.Topic, m.Payload)
			}
			pub.nothingPending() // still connected, nothing left over
			sub.nothingPending()
		})
	}
}

// TestInlineBurstHandsOver: each way an inline burst hands on to the
// pool, seen from the peers.
func TestInlineBurstHandsOver(t *testing.T) {
	oneProc(t)
	s, addr := brokertest.StartServer(t, broker.Options{})
	sub := rawClient(t, addr, "s", packet.Properties{})
	sub.subscribe(1, packet.Properties{}, packet.Subscription{Filter: "h/#"})

	t.Run("inside a packet", func(t *testing.T) {
		pub := rawClient(t, addr, "p1", packet.Properties{})
		pub.nothingPending()
		payload := bytes.Repeat([]byte("x"), 300)
		pb := publishBytes(t, &packet.Publish{Topic: "h/split", Payload: payload})
		for _, cut := range []int{1, 2, 5, len(pb) - 1} { // in the fixed header, the topic, the payload
			before := s.Stats().BytesReceived
			pub.write(pb[:cut])
			readUpTo(t, s, before+int64(cut))
			pub.write(pb[cut:])
			if m := sub.recvPublish(); m.Topic != "h/split" || !bytes.Equal(m.Payload, payload) {
				t.Fatalf("cut at %d: got %q, %d bytes", cut, m.Topic, len(m.Payload))
			}
		}
		pub.nothingPending()
	})

	t.Run("other packets between messages", func(t *testing.T) {
		// PUBLISH (nobody subscribed yet), SUBSCRIBE (to the pool),
		// PUBLISH (now delivered to the publisher itself): in one write,
		// handled in order.
		c := rawClient(t, addr, "p2", packet.Properties{})
		var b []byte
		b = append(b, publishBytes(t, &packet.Publish{Topic: "self/1", Payload: []byte("before")})...)
		sb, _ := (&packet.Subscribe{PacketID: 7, Subscriptions: []packet.Subscription{{Filter: "self/1"}}}).AppendTo(nil, packet.V5)
		b = append(b, sb...)
		b = append(b, publishBytes(t, &packet.Publish{Topic: "self/1", Payload: []byte("after")})...)
		c.write(b)
		if ack, ok := c.recv().(*packet.Suback); !ok || ack.PacketID != 7 {
			t.Fatal("expected SUBACK 7 first")
		}
		if m := c.recvPublish(); string(m.Payload) != "after" {
			t.Fatalf("got %q, want only the message published after SUBSCRIBE", m.Payload)
		}
		c.nothingPending()
	})

	t.Run("more than one read", func(t *testing.T) {
		// 300 PUBLISHes in one write, 35 KB: the first read fills the
		// buffer, the pool reads the rest.
		pub := rawClient(t, addr, "p3", packet.Properties{})
		var b []byte
		for i := range 300 {
			b = append(b, publishBytes(t, &packet.Publish{Topic: "h/many", Payload: fmt.Appendf(nil, "%0100d", i)})...)
		}
		pub.write(b)
		for i := range 300 {
			if m := sub.recvPublish(); string(m.Payload) != fmt.Sprintf("%0100d", i) {
				t.Fatalf("message %d: got %.12q...", i, m.Payload)
			}
		}
		pub.nothingPending()
	})

	t.Run("larger than the buffer", func(t *testing.T) {
		pub := rawClient(t, addr, "p4", packet.Properties{})
		payload := bytes.Repeat([]byte("0123456789abcdef"), 20<<10/16)
		pub.write(publishBytes(t, &packet.Publish{Topic: "h/large", Payload: payload}))
		if m := sub.recvPublish(); !bytes.Equal(m.Payload, payload) {
			t.Fatalf("got %d bytes", len(m.Payload))
		}
		pub.nothingPending()
	})

	t.Run("acknowledgements", func(t *testing.T) {
		// QoS 1 both ways: the PUBACK to the publisher is written with
		// the poller's batch, the subscriber's PUBACK is read inline.
		q := rawClient(t, addr, "q", packet.Properties{})
		q.subscribe(1, packet.Properties{}, packet.Subscription{Filter: "h/q1", QoS: 1})
		pub := rawClient(t, addr, "p5", packet.Properties{})
		for i := range 3 {
			pub.publish(&packet.Publish{Topic: "h/q1", QoS: 1, PacketID: uint16(i + 1), Payload: []byte{byte(i)}})
			m := q.recvPublish()
			if m.QoS != 1 || m.Payload[0] != byte(i) {
				t.Fatalf("got QoS %d %v", m.QoS, m.Payload)
			}
			q.send(&packet.Puback{Ack: packet.Ack{PacketID: m.PacketID}})
			if sub.recvPublish().Payload[0] != byte(i) {
				t.Fatal("the QoS 0 subscriber missed a message")
			}
		}
		q.nothingPending()
	})

	t.Run("malformed", func(t *testing.T) {
		pub := rawClient(t, addr, "p6", packet.Properties{})
		pub.write([]byte{0x36, 0x05, 0x00, 0x01, 'x', 0x00, 0x01}) // QoS 3
		pub.expectDisconnect(packet.MalformedPacket)
	})

	t.Run("protocol error", func(t *testing.T) {
		pub := rawClient(t, addr, "p7", packet.Properties{})
		pub.send(&packet.Publish{Topic: "h/alias", Payload: []byte("x"), Props: packet.Properties{
			TopicAlias: 60000, Present: packet.Properties{}.Present.Add(packet.PropTopicAlias)}})
		pub.expectDisconnect(packet.TopicAliasInvalid)
	})

	t.Run("publish then close", func(t *testing.T) {
		pub := rawClient(t, addr, "p8", packet.Properties{})
		pub.write(publishBytes(t, &packet.Publish{Topic: "h/last", Payload: []byte("bye")}))
		pub.nc.Close()
		if m := sub.recvPublish(); m.Topic != "h/last" || string(m.Payload) != "bye" {
			t.Fatalf("got %q %q", m.Topic, m.Payload)
		}
	})
	sub.nothingPending()
}
