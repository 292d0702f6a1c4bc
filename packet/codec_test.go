package packet

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// normalize makes decoded and hand-built packets comparable: Present holds
// exactly the properties that are set, empty payloads are nil.
func normalize(p Packet) Packet {
	norm := func(pr *Properties) {
		var s PropSet
		for id := PropID(1); id <= maxPropID; id++ {
			if pr.Has(id) {
				s = s.Add(id)
			}
		}
		pr.Present = s
		if len(pr.User) == 0 {
			pr.User = nil
		}
		if len(pr.SubscriptionIDs) == 0 {
			pr.SubscriptionIDs = nil
		}
	}
	switch q := p.(type) {
	case *Connect:
		norm(&q.Props)
		norm(&q.Will.Props)
		if len(q.Will.Payload) == 0 {
			q.Will.Payload = nil
		}
	case *Connack:
		norm(&q.Props)
	case *Publish:
		norm(&q.Props)
		if len(q.Payload) == 0 {
			q.Payload = nil
		}
	case *Puback:
		norm(&q.Props)
	case *Pubrec:
		norm(&q.Props)
	case *Pubrel:
		norm(&q.Props)
	case *Pubcomp:
		norm(&q.Props)
	case *Subscribe:
		norm(&q.Props)
	case *Suback:
		norm(&q.Props)
	case *Unsubscribe:
		norm(&q.Props)
	case *Unsuback:
		norm(&q.Props)
		if len(q.ReasonCodes) == 0 {
			q.ReasonCodes = nil
		}
	case *Disconnect:
		norm(&q.Props)
	case *Auth:
		norm(&q.Props)
	}
	return p
}

func TestDecodeTable(t *testing.T) {
	for _, tc := range rawPackets {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(tc.raw, tc.v)
			if tc.pkt == nil {
				var pe *Error
				if !errors.As(err, &pe) {
					t.Fatalf("decode succeeded or failed without *Error: %v (%v)", err, got)
				}
				if pe.Code != tc.wantErr {
					t.Fatalf("reason code %s, want %s: %v", pe.Code.Error(), tc.wantErr.Error(), err)
				}
				if tc.rule != "" && pe.Rule != tc.rule {
					t.Fatalf("rule %q, want %q: %v", pe.Rule, tc.rule, err)
				}
				if pe.Offset > len(tc.raw) {
					t.Fatalf("offset %d beyond the packet's %d bytes: %v", pe.Offset, len(tc.raw), err)
				}
				if !strings.Contains(err.Error(), "at byte") || pe.Msg == "" {
					t.Fatalf("error does not say where and what: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			want := normalize(clonePacket(t, tc.pkt, tc.v))
			if !reflect.DeepEqual(normalize(got), want) {
				t.Fatalf("decoded\n %#v\nwant\n %#v", got, want)
			}
		})
	}
}

func TestEncodeTable(t *testing.T) {
	for _, tc := range rawPackets {
		if tc.pkt == nil {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			v := tc.v
			if v == 0 {
				v = tc.pkt.(*Connect).ProtocolVersion
			}
			got, err := Encode(tc.pkt, v)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if !bytes.Equal(got, tc.raw) {
				t.Fatalf("encoded\n % x\nwant\n % x", got, tc.raw)
			}
			// Encoding into a buffer with room must not allocate.
			buf := make([]byte, 0, 1024)
			if n := testing.AllocsPerRun(10, func() { buf, _ = tc.pkt.AppendTo(buf[:0], v) }); n != 0 {
				t.Errorf("AppendTo allocates %.0f times into a buffer with room", n)
			}
		})
	}
}

// clonePacket returns an independent copy of p by encoding and decoding it,
// so tests never mutate the table.
func clonePacket(t *testing.T, p Packet, v Version) Packet {
	t.Helper()
	if v == 0 {
		v = p.(*Connect).ProtocolVersion
	}
	b, err := Encode(p, v)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	q, err := Decode(b, v)
	if err != nil {
		t.Fatalf("decode own encoding: %v", err)
	}
	if !reflect.DeepEqual(normalize(q), normalize(shallow(p))) {
		t.Fatalf("own round trip differs:\n %#v\n %#v", q, p)
	}
	return q
}

// shallow copies the top-level struct so normalize does not touch the table.
func shallow(p Packet) Packet {
	v := reflect.New(reflect.TypeOf(p).Elem())
	v.Elem().Set(reflect.ValueOf(p).Elem())
	return v.Interface().(Packet)
}

// TestStream reads every valid packet of one version back to back from one
// stream, as a connection does, fed one byte at a time.
func TestStream(t *testing.T) {
	for _, v := range []Version{V31, V311, V5} {
		var stream []byte
		var want []string
		for _, tc := range rawPackets {
			if tc.pkt == nil || tc.v == 0 || (tc.v == V5) != (v == V5) {
				continue
			}
			if c, ok := tc.pkt.(*Connack); ok && c.SessionPresent && v == V31 {
				continue // 3.1 has no session present flag
			}
			stream = append(stream, tc.raw...)
			want = append(want, tc.pkt.String())
		}
		r := NewReader(bufio.NewReaderSize(iotestOneByte(stream), 16))
		r.Version = v
		for i := 0; ; i++ {
			p, err := r.ReadPacket()
			if err == io.EOF {
				if i != len(want) {
					t.Fatalf("v%s: read %d packets, want %d", v, i, len(want))
				}
				break
			}
			if err != nil {
				t.Fatalf("v%s packet %d: %v", v, i, err)
			}
			if p.String() != want[i] {
				t.Fatalf("v%s packet %d: %s, want %s", v, i, p, want[i])
			}
		}
	}
}

type oneByteReader struct{ b []byte }

func (r *oneByteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = r.b[0]
	r.b = r.b[1:]
	return 1, nil
}

func iotestOneByte(b []byte) io.Reader { return &oneByteReader{b} }

func TestMaxPacketSizeCheckedBeforeBody(t *testing.T) {
	// A PUBLISH declaring 200 MB with only its header sent: the reader must
	// refuse it at once instead of waiting for (or allocating) the body.
	hdr := AppendVarint([]byte{0x30}, 200<<20)
	r := NewReader(bufio.NewReader(bytes.NewReader(hdr)))
	r.Version = V311
	r.MaxPacketSize = 1 << 20
	_, err := r.ReadPacket()
	if CodeOf(err) != PacketTooLarge {
		t.Fatalf("got %v, want packet too large", err)
	}
}

func TestLargeDeclaredLengthShortStream(t *testing.T) {
	hdr := AppendVarint([]byte{0x30}, MaxRemainingLength)
	hdr = append(hdr, 0, 1, 't')
	r := NewReader(bufio.NewReader(bytes.NewReader(hdr)))
	r.Version = V311
	if _, err := r.ReadPacket(); err != io.ErrUnexpectedEOF {
		t.Fatalf("got %v, want unexpected EOF", err)
	}
}

func TestLargePublishRoundTrip(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 300_000) // 4.8 MB, several chunks
	p := &Publish{Topic: "big", QoS: 1, PacketID: 9, Payload: payload}
	b, err := Encode(p, V5)
	if err != nil {
		t.Fatal(err)
	}
	q, err := Decode(b, V5)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(q.(*Publish).Payload, payload) {
		t.Fatal("payload differs")
	}
}

func TestWildcardDelete(t *testing.T) {
	raw := []byte{0x31, 6, 0, 3, 'a', '/', '#', 0} // retained, no properties, empty payload, topic a/#
	r := NewReader(bufio.NewReader(bytes.NewReader(raw)))
	r.Version = V5
	if _, err := r.ReadPacket(); CodeOf(err) != TopicNameInvalid {
		t.Fatalf("without WildcardDelete: %v, want topic name invalid", err)
	}
	for _, tc := range []struct {
		raw  []byte
		want ReasonCode
	}{
		{[]byte{0x31, 6, 0, 3, 'a', '/', '#', 0}, Success},               // empty payload: accepted
		{[]byte{0x30, 6, 0, 3, '+', '/', 'b', 0}, Success},               // retain flag not required
		{[]byte{0x30, 7, 0, 3, 'a', '/', '#', 0, 'x'}, TopicNameInvalid}, // non-empty payload
		{[]byte{0x30, 7, 0, 4, 'a', '#', '/', 'b', 0}, TopicNameInvalid}, // not a valid filter
	} {
		r := NewReader(bufio.NewReader(bytes.NewReader(tc.raw)))
		r.Version, r.WildcardDelete = V5, true
		_, err := r.ReadPacket()
		if CodeOf(err) != tc.want {
			t.Errorf("% x: %v, want %s", tc.raw, err, tc.want)
		}
	}
}

func TestValidateFilter(t *testing.T) {
	for f, ok := range map[string]bool{
		"#": true, "+": true, "a/+/b": true, "a/#": true, "/": true, "+/+": true, "t/a,b/e,f/x": true,
		"$share/g/a/#": true, "$share/g:1:2/a": true, "$share/g:3/a/+": true, "$filter/cid=1/a/#": true,
		"$share/g/$filter/payload=a%2Bb/x": true,
		"":                                 false, "a#": false, "a/#/b": false, "a+": false, "+a/b": false, "$share//a": false,
		"$share/g": false, "$share/g/": false, "$share/g+/a": false, "$filter/cid=1": false, "a\x00b": false,
	} {
		if err := ValidateFilter(f); (err == nil) != ok {
			t.Errorf("ValidateFilter(%q) = %v, want ok=%t", f, err, ok)
		}
	}
}

func TestErrorsAreReasonCodes(t *testing.T) {
	_, err := Decode([]byte{0x30, 5, 0, 3, 'a', '/', '+'}, V311)
	if !errors.Is(err, TopicNameInvalid) {
		t.Fatalf("errors.Is(%v, TopicNameInvalid) = false", err)
	}
	want := "topic name invalid: PUBLISH topic name at byte 2: contains a wildcard (+ or #); wildcards are for subscriptions only [MQTT-3.3.2-2]"
	if err.Error() != want {
		t.Fatalf("error text\n %s\nwant\n %s", err, want)
	}
}
