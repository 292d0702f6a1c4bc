package packet

import (
	"bufio"
	"bytes"
	"testing"
)

// loop replays the same bytes forever, so a decode benchmark measures the
// codec and not the test's I/O.
type loop struct {
	b   []byte
	off int
}

func (l *loop) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], l.b[l.off:])
		n += c
		l.off = (l.off + c) % len(l.b)
	}
	return n, nil
}

func benchPublish(size int, v Version) *Publish {
	p := &Publish{Topic: "devices/1234/telemetry", QoS: 1, PacketID: 77, Payload: bytes.Repeat([]byte{'x'}, size)}
	if v == V5 {
		p.Props = Properties{ContentType: "application/json", MessageExpiry: 60,
			User: []UserProperty{{"timestamp", "1700000000.123"}, {"cid", "1"}}}
	}
	return p
}

var benchCases = []struct {
	name string
	v    Version
	pkt  func(Version) Packet
}{
	{"publish-64B-v311", V311, func(v Version) Packet { return benchPublish(64, v) }},
	{"publish-64B-v5", V5, func(v Version) Packet { return benchPublish(64, v) }},
	{"publish-1KiB-v311", V311, func(v Version) Packet { return benchPublish(1024, v) }},
	{"publish-1KiB-v5", V5, func(v Version) Packet { return benchPublish(1024, v) }},
	{"subscribe-v5", V5, func(Version) Packet {
		return &Subscribe{PacketID: 1, Props: Properties{SubscriptionIDs: []uint32{5}},
			Subscriptions: []Subscription{{Filter: "devices/+/telemetry", QoS: 1}, {Filter: "alerts/#", QoS: 2, NoLocal: true}}}
	}},
	{"connect-v5", V5, func(Version) Packet {
		return &Connect{ProtocolVersion: V5, CleanStart: true, KeepAlive: 60, ClientID: "bench-client",
			UsernameFlag: true, Username: "token", Props: Properties{SessionExpiry: 3600, ReceiveMaximum: 100}}
	}},
	{"connect-v311", V311, func(Version) Packet {
		return &Connect{ProtocolVersion: V311, CleanStart: true, KeepAlive: 60, ClientID: "bench-client", UsernameFlag: true, Username: "token"}
	}},
}

func BenchmarkEncode(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			p := bc.pkt(bc.v)
			buf, _ := p.AppendTo(nil, bc.v)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = p.AppendTo(buf[:0], bc.v)
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			raw, _ := Encode(bc.pkt(bc.v), bc.v)
			r := NewReader(bufio.NewReaderSize(&loop{b: raw}, 64<<10))
			r.Version = bc.v
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.ReadPacket(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
