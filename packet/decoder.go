package packet

import (
	"bytes"
	"encoding/binary"
	"unicode/utf8"
	"unsafe"
)

// decoder walks the remaining-length bytes of one packet. Offsets in errors
// count from the first byte of the packet: base is the fixed header length.
type decoder struct {
	b    []byte
	off  int
	base int
	typ  Type
	v    Version
	// wildcardDelete accepts a PUBLISH to a wildcard topic with an empty
	// payload (flespi's bulk deletion of retained messages).
	wildcardDelete bool
	// refuseControl refuses control characters in names (see
	// [Reader.RefuseControlChars] and [decoder.name]).
	refuseControl bool
}

func (d *decoder) fail(code ReasonCode, field, msg, rule string) *Error {
	return &Error{Code: code, Packet: d.typ, Field: field, Offset: d.base + d.off, Msg: msg, Rule: rule}
}

func (d *decoder) failAt(off int, code ReasonCode, field, msg, rule string) *Error {
	return &Error{Code: code, Packet: d.typ, Field: field, Offset: d.base + off, Msg: msg, Rule: rule}
}

func (d *decoder) short(field string, need int) *Error {
	return d.fail(MalformedPacket, field, "packet ends early: need "+itoa(need)+" bytes, have "+itoa(len(d.b)-d.off), "MQTT-1.5")
}

func (d *decoder) remaining() int { return len(d.b) - d.off }

func (d *decoder) byte1(field string) (byte, error) {
	if d.off >= len(d.b) {
		return 0, d.short(field, 1)
	}
	c := d.b[d.off]
	d.off++
	return c, nil
}

func (d *decoder) u16(field string) (uint16, error) {
	if d.remaining() < 2 {
		return 0, d.short(field, 2)
	}
	n := binary.BigEndian.Uint16(d.b[d.off:])
	d.off += 2
	return n, nil
}

func (d *decoder) u32(field string) (uint32, error) {
	if d.remaining() < 4 {
		return 0, d.short(field, 4)
	}
	n := binary.BigEndian.Uint32(d.b[d.off:])
	d.off += 4
	return n, nil
}

// varint reads a Variable Byte Integer: at most four bytes [MQTT-1.5.5-1].
func (d *decoder) varint(field string) (uint32, error) {
	start := d.off
	var n uint32
	for i := 0; i < 4; i++ {
		if d.off >= len(d.b) {
			return 0, d.short(field, 1)
		}
		c := d.b[d.off]
		d.off++
		n |= uint32(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			return n, nil
		}
	}
	return 0, d.failAt(start, MalformedPacket, field, "variable byte integer longer than 4 bytes", "MQTT-1.5.5-1")
}

// binary reads Binary Data: a two-byte length and that many bytes. The slice
// aliases the packet buffer.
func (d *decoder) binary(field string) ([]byte, error) {
	if d.remaining() < 2 {
		return nil, d.short(field+" length", 2)
	}
	n := binary.BigEndian.Uint16(d.b[d.off:])
	d.off += 2
	if d.remaining() < int(n) {
		return nil, d.short(field, int(n))
	}
	b := d.b[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	return b, nil
}

// str reads a UTF-8 Encoded String and checks it is well-formed, without
// surrogates [MQTT-1.5.4-1] and without U+0000 [MQTT-1.5.4-2]. The string
// aliases the packet buffer, which is never written after decoding.
func (d *decoder) str(field string) (string, error) {
	start := d.off
	b, err := d.binary(field)
	if err != nil {
		return "", err
	}
	if err := checkUTF8(b); err != "" {
		return "", d.failAt(start, MalformedPacket, field, err, utf8Rule(err))
	}
	return aliasString(b), nil
}

// name reads a string that names something — a topic name or filter, a
// client identifier, a user name, a will topic — and, when the reader
// refuses them, fails on control characters U+0001..U+001F and
// U+007F..U+009F: the spec says they SHOULD NOT be sent and lets a receiver
// close the connection [MQTT-1.5.4-1]; mosquitto does.
func (d *decoder) name(field string) (string, error) {
	start := d.off
	s, err := d.str(field)
	if err != nil || !d.refuseControl {
		return s, err
	}
	if i, r := ControlChar(s); i >= 0 {
		return "", d.failAt(start+2+i, MalformedPacket, field, "contains the control character "+runeName(r), "MQTT-1.5.4-1")
	}
	return s, nil
}

// ControlChar returns the byte offset and value of the first control
// character U+0001..U+001F or U+007F..U+009F in s, or -1. (U+0000 is
// refused everywhere by the UTF-8 rules.) It allocates nothing.
func ControlChar(s string) (int, rune) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 0x01 && c <= 0x1F, c == 0x7F:
			return i, rune(c)
		case c == 0xC2 && i+1 < len(s) && s[i+1] >= 0x80 && s[i+1] <= 0x9F:
			return i, rune(s[i+1])
		}
	}
	return -1, 0
}

func runeName(r rune) string {
	const hex = "0123456789ABCDEF"
	return "U+00" + string([]byte{hex[r>>4], hex[r&15]})
}

// checkUTF8 returns what is wrong with b as an MQTT string, or "".
// utf8.Valid rejects encoded surrogates (U+D800..U+DFFF) and overlong forms.
func checkUTF8(b []byte) string {
	if !utf8.Valid(b) {
		return "not well-formed UTF-8"
	}
	if bytes.IndexByte(b, 0) >= 0 {
		return "contains U+0000"
	}
	return ""
}

func utf8Rule(msg string) string {
	if msg == "contains U+0000" {
		return "MQTT-1.5.4-2"
	}
	return "MQTT-1.5.4-1"
}

// aliasString returns b as a string without copying. Safe because decoded
// packet buffers are never modified after decoding.
func aliasString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// rest returns the unread bytes (a PUBLISH payload).
func (d *decoder) rest() []byte {
	b := d.b[d.off:len(d.b):len(d.b)]
	d.off = len(d.b)
	return b
}

func itoa(n int) string {
	var buf [20]byte
	i := len(buf)
	neg := n < 0
	if neg {
		n = -n
	}
	for {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	if neg {
		i--
		buf[i] = '-'
	}
	return string(buf[i:])
}

// Encoding helpers: each appends to dst.

func appendU16(dst []byte, n uint16) []byte { return append(dst, byte(n>>8), byte(n)) }

func appendU32(dst []byte, n uint32) []byte {
	return append(dst, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// AppendVarint appends n as a Variable Byte Integer.
func AppendVarint(dst []byte, n uint32) []byte {
	for {
		c := byte(n & 0x7f)
		n >>= 7
		if n > 0 {
			c |= 0x80
		}
		dst = append(dst, c)
		if n == 0 {
			return dst
		}
	}
}

func varintSize(n uint32) int {
	switch {
	case n < 1<<7:
		return 1
	case n < 1<<14:
		return 2
	case n < 1<<21:
		return 3
	}
	return 4
}

func appendString(dst []byte, s string) []byte {
	dst = appendU16(dst, uint16(len(s)))
	return append(dst, s...)
}

func appendBinary(dst []byte, b []byte) []byte {
	dst = appendU16(dst, uint16(len(b)))
	return append(dst, b...)
}

// appendHeader appends the fixed header: type and flags, then the remaining
// length. It fails when the remaining length cannot be encoded.
func appendHeader(dst []byte, t Type, flags byte, remaining int) ([]byte, error) {
	if remaining > MaxRemainingLength {
		return dst, &Error{Code: PacketTooLarge, Packet: t, Field: "remaining length", Offset: -1,
			Msg: "packet of " + itoa(remaining) + " bytes exceeds the 268435455-byte maximum", Rule: "MQTT-1.5.5"}
	}
	dst = append(dst, byte(t)<<4|flags)
	return AppendVarint(dst, uint32(remaining)), nil
}

// encodeErr reports a field that cannot be encoded.
func encodeErr(t Type, field, msg string) *Error {
	return &Error{Code: ProtocolError, Packet: t, Field: field, Offset: -1, Msg: msg}
}

// checkLen16 reports a string or binary field too long for its two-byte
// length prefix.
func checkLen16(t Type, field string, n int) error {
	if n > 0xffff {
		return encodeErr(t, field, "length "+itoa(n)+" exceeds 65535 bytes")
	}
	return nil
}

// packetID reads a packet identifier, which is never 0 [MQTT-2.2.1-3]: a
// well-formed packet breaking that rule is a protocol error (0x82), as
// mosquitto answers it.
func (d *decoder) packetID() (uint16, error) {
	at := d.off
	id, err := d.u16("packet identifier")
	if err == nil && id == 0 {
		err = d.failAt(at, ProtocolError, "packet identifier", "is 0", "MQTT-2.2.1-3")
	}
	return id, err
}

// idAndProps reads a packet identifier and, in 5.0, the properties after
// it: the start of SUBSCRIBE, UNSUBSCRIBE, SUBACK and UNSUBACK.
func (d *decoder) idAndProps(props *Properties) (uint16, error) {
	id, err := d.packetID()
	if err == nil && d.v == V5 {
		err = props.decode(d, d.typ)
	}
	return id, err
}

// filter reads a topic filter of SUBSCRIBE or UNSUBSCRIBE and checks it
// (see [ValidateFilter]).
func (d *decoder) filter() (string, error) {
	at := d.off
	f, err := d.name("topic filter")
	if err != nil {
		return "", err
	}
	if msg, rule := checkFilter(f); msg != "" {
		return "", d.failAt(at, TopicFilterInvalid, "topic filter "+quote(f), msg, rule)
	}
	return f, nil
}
