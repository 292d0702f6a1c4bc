package packet

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the Reader, whole and one byte at a
// time, for each protocol version. It checks that decoding never panics,
// that both feeds agree, that memory follows the bytes received rather than
// the declared length, and that decode -> encode -> decode is stable.
func FuzzDecode(f *testing.F) {
	for _, tc := range rawPackets {
		f.Add(byte(tc.v), tc.raw)
	}
	f.Fuzz(func(t *testing.T, v byte, data []byte) {
		ver := Version(v % 6) // 0 (CONNECT first), 3, 4, 5 and two invalid levels
		strict := v&0x80 != 0 // the broker's reader: control characters and server-only types refused
		whole, werr := readAll(bufio.NewReader(bytes.NewReader(data)), ver, strict)
		chunked, cerr := readAll(bufio.NewReaderSize(iotestOneByte(data), 16), ver, strict)
		if !sameErr(werr, cerr) || strings.Join(whole, "\n") != strings.Join(chunked, "\n") {
			t.Fatalf("whole and chunked feeds differ:\n%q %v\n%q %v", whole, werr, chunked, cerr)
		}

		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		p, err := Decode(data, ver)
		runtime.ReadMemStats(&after)
		// Memory follows the bytes that arrived: a small input declaring a
		// huge length costs at most one 64 KiB read chunk.
		if grew := after.TotalAlloc - before.TotalAlloc; grew > uint64(64*len(data)+chunk+16<<10) {
			t.Fatalf("decoding %d bytes allocated %d bytes", len(data), grew)
		}
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) && err != io.ErrUnexpectedEOF {
				t.Fatalf("decode error is neither *Error nor unexpected EOF: %T %v", err, err)
			}
			return
		}
		ev := ver
		if c, ok := p.(*Connect); ok {
			ev = c.ProtocolVersion
		}
		b1, err := Encode(p, ev)
		if err != nil {
			t.Fatalf("re-encoding %s: %v", p, err)
		}
		p2, err := Decode(b1, ver)
		if err != nil {
			t.Fatalf("decoding our own encoding of %s: %v\n% x", p, err, b1)
		}
		if p.String() != p2.String() {
			t.Fatalf("round trip changed the packet:\n%s\n%s", p, p2)
		}
		b2, err := Encode(p2, ev)
		if err != nil || !bytes.Equal(b1, b2) {
			t.Fatalf("encoding is not stable: %v\n% x\n% x", err, b1, b2)
		}
	})
}

func readAll(br *bufio.Reader, v Version, strict bool) ([]string, error) {
	r := NewReader(br)
	r.Version = v
	if strict {
		r.RefuseControlChars = true
		r.Refused = 1<<0 | 1<<CONNACK | 1<<SUBACK | 1<<UNSUBACK | 1<<PINGRESP | 1<<AUTH
	}
	var out []string
	for i := 0; i < 1000; i++ {
		p, err := r.ReadPacket()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, p.String())
	}
	return out, nil
}

func sameErr(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Error() == b.Error()
}

// FuzzTopics checks the topic name and filter rules never panic and agree:
// a valid topic name is a valid filter (it matches only itself), unless it
// starts with one of the special prefixes that filters give a meaning.
func FuzzTopics(f *testing.F) {
	for _, s := range []string{"a/b", "#", "+/+", "a/#", "$SYS/x", "$share/g/a", "$filter/cid=1/a", "t/a,b/c", "", "a\x00", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		nameErr, filterErr := ValidateTopicName(s), ValidateFilter(s)
		if nameErr == nil && filterErr != nil && !strings.HasPrefix(s, "$share/") && !strings.HasPrefix(s, "$filter/") {
			t.Fatalf("%q is a valid topic name but not a valid filter: %v", s, filterErr)
		}
		if nameErr == nil && HasWildcard(s) {
			t.Fatalf("%q has a wildcard but passed as a topic name", s)
		}
	})
}
