package broker_test

import (
	"bytes"
	"fmt"
	"net"
	"testing"

	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/packet"
)

// TestInlineWriteKeepsOrder: one, then four publishers send 16 KB
// messages, in bursts of one to eight packets per write, to one
// subscriber that does not read until all were routed. On the event loop
// a lone publisher's burst writes to the subscriber's socket itself until
// the socket is full, then the subscriber's write task writes the rest,
// waiting for room, while later bursts keep enqueueing (with four, the
// bursts overlap and leave the writes to the write task); the subscriber
// must then read every message once, each publisher's in the order sent,
// byte for byte.
func TestInlineWriteKeepsOrder(t *testing.T) {
	for _, pubs := range []int{1, 4} {
		t.Run(fmt.Sprint(pubs), func(t *testing.T) { inlineWriteOrder(t, pubs) })
	}
}

func inlineWriteOrder(t *testing.T, pubs int) {
	addr := brokertest.Start(t)
	s := rawClient(t, addr, "s", packet.Properties{})
	s.nc.(*net.TCPConn).SetReadBuffer(64 << 10) // fill the sockets early
	s.subscribe(1, packet.Properties{}, packet.Subscription{Filter: "o/#"})
	const size = 16 << 10
	per := 600 / pubs // 9.6 MB in all: more than the sockets hold
	ps := make([]*raw, pubs)
	for i := range ps {
		ps[i] = rawClient(t, addr, fmt.Sprintf("p%d", i), packet.Properties{})
	}
	payload := func(p, n int) []byte {
		b := bytes.Repeat([]byte{byte(p*31 + n)}, size)
		b[0], b[1], b[2] = byte(p), byte(n>>8), byte(n)
		return b
	}
	sent := make([]int, pubs)
	for round := 0; ; round++ {
		busy := false
		for i, p := range ps {
			var b []byte
			for k := 0; k < 1+(round+i)%8 && sent[i] < per; k++ {
				b, _ = (&packet.Publish{Topic: fmt.Sprintf("o/%d", i), Payload: payload(i, sent[i])}).AppendTo(b, packet.V5)
				sent[i]++
			}
			if len(b) > 0 {
				p.write(b)
				busy = true
			}
		}
		if !busy {
			break
		}
	}
	for _, p := range ps {
		p.nothingPending() // everything it sent is routed
	}
	next := make([]int, pubs)
	for range pubs * per {
		m := s.recvPublish()
		i := int(m.Payload[0])
		n := int(m.Payload[1])<<8 | int(m.Payload[2])
		if i >= pubs || m.Topic != fmt.Sprintf("o/%d", i) || n != next[i] || !bytes.Equal(m.Payload, payload(i, n)) {
			t.Fatalf("got %s message %d of publisher %d, want message %d", m.Topic, n, i, next[i])
		}
		next[i]++
	}
	s.nothingPending()
}
