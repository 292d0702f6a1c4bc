package client

import (
	"fmt"
	"testing"

	"github.com/mqttboard/mqttboard/packet"
)

// traced feeds b to a trace stream in chunks of size n and returns what it
// emitted, one line per packet.
func traced(b []byte, n int) []string {
	var out []string
	s := traceStream{version: packet.V5, emit: func(tp TracePacket) {
		switch {
		case tp.Err != nil:
			out = append(out, fmt.Sprintf("err %d %v", tp.Size, tp.Err))
		default:
			out = append(out, fmt.Sprintf("%d %s", tp.Size, tp.Packet))
		}
	}}
	for len(b) > 0 {
		k := min(n, len(b))
		// A copy, as a read buffer that is reused by the caller would be.
		s.feed(append([]byte(nil), b[:k]...))
		b = b[k:]
	}
	return out
}

// FuzzTraceStream feeds a byte stream whole and in chunks: the packets
// traced must be the same, whatever the reads' boundaries (the stream keeps
// its buffer across reads and moves a partial packet to its front).
func FuzzTraceStream(f *testing.F) {
	var stream []byte
	for i := range 5 {
		p := &packet.Publish{Topic: fmt.Sprintf("a/%d", i), QoS: 1, PacketID: uint16(i + 1), Payload: make([]byte, 100*i)}
		p.Props.User = []packet.UserProperty{{Key: "k", Value: "v"}}
		b, err := packet.Encode(p, packet.V5)
		if err != nil {
			f.Fatal(err)
		}
		stream = append(stream, b...)
	}
	f.Add(stream, 1)
	f.Add(stream, 7)
	f.Add(stream, 300)
	f.Add([]byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x7f}, 2) // malformed remaining length
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		if n <= 0 || n > 1<<16 {
			return
		}
		whole, chunked := traced(b, len(b)+1), traced(b, n)
		if fmt.Sprint(whole) != fmt.Sprint(chunked) {
			t.Fatalf("whole:\n%q\nin chunks of %d:\n%q", whole, n, chunked)
		}
	})
}
