package packet

import (
	"bufio"
	"bytes"
	"errors"
	"testing"
	"unicode/utf8"
)

func TestControlChar(t *testing.T) {
	for _, tc := range []struct {
		s   string
		off int
		r   rune
	}{
		{"abc", -1, 0}, {"", -1, 0}, {"a\x01", 1, 1}, {"\x1f", 0, 0x1f}, {"x\x7f", 1, 0x7f},
		{"é\u0080", 2, 0x80}, {"\u009f", 0, 0x9f}, {"\u00a0", -1, 0}, {"\u00c2", -1, 0}, {"€", -1, 0},
	} {
		if off, r := ControlChar(tc.s); off != tc.off || r != tc.r {
			t.Errorf("ControlChar(%q) = %d, %U; want %d, %U", tc.s, off, r, tc.off, tc.r)
		}
	}
	// Every rune: the byte scan agrees with the rune ranges.
	for r := rune(1); r < 0x800; r++ {
		s := string(r)
		want := r <= 0x1f || (r >= 0x7f && r <= 0x9f)
		if off, _ := ControlChar(s); (off >= 0) != want {
			t.Errorf("ControlChar(%U) = %d", r, off)
		}
		if !utf8.ValidString(s) {
			t.Fatal(s)
		}
	}
}

func TestReaderRefusesControlChars(t *testing.T) {
	b, err := (&Publish{Topic: "a\x01b", Payload: []byte("x")}).AppendTo(nil, V5)
	if err != nil {
		t.Fatal(err)
	}
	r := NewReader(bufio.NewReader(bytes.NewReader(b)))
	r.Version = V5
	if _, err := r.ReadPacket(); err != nil {
		t.Fatalf("a reader that allows them: %v", err)
	}
	r = NewReader(bufio.NewReader(bytes.NewReader(b)))
	r.Version, r.RefuseControlChars = V5, true
	_, err = r.ReadPacket()
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != MalformedPacket || pe.Offset != 5 {
		t.Fatalf("got %v, want MalformedPacket at offset 5", err)
	}
}

// TestConnect31Leniency: MQTT 3.1 fixed neither the CONNECT fixed header
// flags nor connect flag bit 0, so a 3.1 CONNECT with them set is accepted
// (mosquitto does); 3.1.1 and 5.0 refuse both [MQTT-2.1.3-1]
// [MQTT-3.1.2-3].
func TestConnect31Leniency(t *testing.T) {
	mqisdp := []byte{0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3}
	mqtt := []byte{0, 4, 'M', 'Q', 'T', 'T', 4}
	build := func(b0 byte, name []byte, flags byte) []byte {
		body := append(append([]byte(nil), name...), flags, 0, 10, 0, 1, 'p') // keep alive 10, client id "p"
		return append([]byte{b0, byte(len(body))}, body...)
	}
	for _, tc := range []struct {
		name string
		raw  []byte
		ok   bool
	}{
		{"3.1 reserved connect flag", build(0x10, mqisdp, 0x03), true},
		{"3.1 fixed header flags", build(0x14, mqisdp, 0x02), true},
		{"3.1.1 reserved connect flag", build(0x10, mqtt, 0x03), false},
		{"3.1.1 fixed header flags", build(0x14, mqtt, 0x02), false},
	} {
		p, err := Decode(tc.raw, 0)
		if tc.ok && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		var pe *Error
		if !tc.ok && (!errors.As(err, &pe) || pe.Code != MalformedPacket) {
			t.Errorf("%s: got %v, %v; want MalformedPacket", tc.name, p, err)
		}
	}
}
