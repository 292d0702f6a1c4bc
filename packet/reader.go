package packet

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
)

// Reader decodes packets from a buffered stream. It keeps one value of each
// packet type and returns it from every [Reader.ReadPacket] of that type (up
// to 4 KiB of body; larger packets, CONNECT and CONNACK get a value of their
// own), so a long-lived connection decodes without allocating packet
// structs; each packet's bytes are read into a buffer of their own, which the
// decoded strings and slices alias (see the package comment).
type Reader struct {
	br *bufio.Reader

	// Version selects the encoding. It is set from the protocol level of a
	// decoded CONNECT; a client-side reader sets it from the CONNECT it
	// sent. Zero means "not known yet": only CONNECT can be read.
	Version Version
	// MaxPacketSize, when non-zero, refuses a packet whose total size
	// exceeds it with PacketTooLarge before its body is read
	// [MQTT-3.1.2-24]. The stream is then not at a packet boundary and must
	// be closed.
	MaxPacketSize uint32
	// WildcardDelete accepts a PUBLISH to a topic with wildcards when its
	// payload is empty: the flespi broker's bulk deletion of retained
	// messages. Any other PUBLISH to a wildcard topic stays an error.
	WildcardDelete bool
	// RefuseControlChars makes a topic name or filter, client identifier,
	// user name or will topic containing a control character U+0001..U+001F
	// or U+007F..U+009F a MalformedPacket error (see [ControlChar]), as
	// mosquitto does; a broker sets it, a client reading what a broker
	// forwards does not.
	RefuseControlChars bool
	// Refused is a bit set (1<<Type) of packet types that are a
	// ProtocolError on this stream whatever their flags and body, decided
	// from the first byte. A broker refuses the types only servers send
	// (CONNACK, SUBACK, UNSUBACK, PINGRESP), the reserved type 0 and, with
	// no enhanced authentication, AUTH: mosquitto answers those with 0x82,
	// where decoding a malformed body first would call it 0x81.
	Refused uint32

	dec   decoder
	small [4]byte // body of short acknowledgements, which keep no references

	// values holds the reused packet of each type, made on first use: a
	// connection that only ever sees PUBLISH, PUBACK and PINGREQ keeps only
	// those (memory per idle connection matters to a broker).
	values [AUTH + 1]Packet
}

// NewReader returns a Reader decoding from br.
func NewReader(br *bufio.Reader) *Reader { return &Reader{br: br} }

// Buffered returns how many bytes are read from the stream but not decoded
// yet. A connection flushes its answers when it reaches 0: one write for all
// the packets that arrived together.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// Reset makes r read from br as if new, keeping its packet values.
func (r *Reader) Reset(br *bufio.Reader) {
	r.br = br
	r.Version = 0
}

func (r *Reader) packetOf(t Type) Packet {
	if p := r.values[t]; p != nil {
		return p
	}
	p := newPacket(t)
	r.values[t] = p
	return p
}

// newPacket returns a new zero packet of type t, nil for a reserved type.
func newPacket(t Type) Packet {
	switch t {
	case CONNECT:
		return new(Connect)
	case CONNACK:
		return new(Connack)
	case PUBLISH:
		return new(Publish)
	case PUBACK:
		return new(Puback)
	case PUBREC:
		return new(Pubrec)
	case PUBREL:
		return new(Pubrel)
	case PUBCOMP:
		return new(Pubcomp)
	case SUBSCRIBE:
		return new(Subscribe)
	case SUBACK:
		return new(Suback)
	case UNSUBSCRIBE:
		return new(Unsubscribe)
	case UNSUBACK:
		return new(Unsuback)
	case PINGREQ:
		return new(Pingreq)
	case PINGRESP:
		return new(Pingresp)
	case DISCONNECT:
		return new(Disconnect)
	case AUTH:
		return new(Auth)
	}
	return nil
}

// reuseLimit is the largest packet body decoded into a reused value.
const reuseLimit = 4 << 10

// chunk bounds how much is allocated ahead of data actually received, so a
// header declaring 256 MB on a stream that then stalls or ends costs little.
const chunk = 64 << 10

// ReadPacket reads and decodes the next packet. The returned value is reused
// by the next call for a packet of the same type. At a clean end of stream
// it returns io.EOF; a stream ending inside a packet gives
// io.ErrUnexpectedEOF. Protocol violations are *Error values.
func (r *Reader) ReadPacket() (Packet, error) {
	b0, err := r.br.ReadByte()
	if err != nil {
		return nil, err
	}
	t, flags := Type(b0>>4), b0&0x0f
	var rl uint32
	n := 0
	for {
		c, err := r.br.ReadByte()
		if err != nil {
			return nil, noEOF(err)
		}
		rl |= uint32(c&0x7f) << (7 * n)
		n++
		if c&0x80 == 0 {
			break
		}
		if n == 4 {
			return nil, &Error{Code: MalformedPacket, Packet: t, Field: "remaining length", Offset: 1, Msg: "longer than 4 bytes", Rule: "MQTT-1.5.5-1"}
		}
	}
	base := 1 + n
	if r.Refused&(1<<t) != 0 && r.Version != 0 {
		return nil, &Error{Code: ProtocolError, Packet: t, Field: "packet type", Offset: 0, Msg: t.String() + " is not accepted on this connection", Rule: "MQTT-2.1.2"}
	}
	if t == 0 || (t == AUTH && r.Version != V5 && r.Version != 0) {
		return nil, &Error{Code: MalformedPacket, Packet: 0, Field: "packet type", Offset: 0, Msg: fmt.Sprintf("type %d is reserved in MQTT %s", t, r.Version), Rule: "MQTT-2.1.2"}
	}
	if t != PUBLISH && t != CONNECT && flags != fixedFlags(t) {
		return nil, &Error{Code: MalformedPacket, Packet: t, Field: "fixed header flags", Offset: 0,
			Msg: fmt.Sprintf("flags are 0x%X, must be 0x%X", flags, fixedFlags(t)), Rule: "MQTT-2.1.3-1"}
	}
	if r.MaxPacketSize > 0 && uint64(base)+uint64(rl) > uint64(r.MaxPacketSize) {
		return nil, &Error{Code: PacketTooLarge, Packet: t, Field: "remaining length", Offset: 1,
			Msg: fmt.Sprintf("packet of %d bytes exceeds the maximum packet size %d", uint64(base)+uint64(rl), r.MaxPacketSize), Rule: "MQTT-3.1.2-24"}
	}
	if r.Version == 0 && t != CONNECT {
		return nil, &Error{Code: ProtocolError, Packet: t, Offset: 0, Msg: "protocol version unknown: the first packet must be CONNECT (or set Reader.Version)", Rule: "MQTT-3.1.0-1"}
	}
	body, err := r.readBody(t, int(rl))
	if err != nil {
		return nil, err
	}
	// A packet value is reused only for small, frequent packets: a reused
	// value keeps its last buffer reachable, and a connection gone idle
	// after a large PUBLISH (or after its one CONNECT) should not hold that
	// memory.
	var p Packet
	if t == CONNECT || t == CONNACK || rl > reuseLimit {
		p = newPacket(t)
	} else {
		p = r.packetOf(t)
	}
	// The decoder lives in the Reader: passed to an interface method, a
	// local one would escape to the heap on every packet.
	r.dec = decoder{b: body, base: base, typ: t, v: r.Version, wildcardDelete: r.WildcardDelete, refuseControl: r.RefuseControlChars}
	err = p.decode(&r.dec, flags)
	r.dec.b = nil
	if err != nil {
		return nil, err
	}
	if c, ok := p.(*Connect); ok {
		r.Version = c.ProtocolVersion
	}
	return p, nil
}

func (r *Reader) readBody(t Type, rl int) ([]byte, error) {
	if rl == 0 {
		return nil, nil
	}
	var body []byte
	switch {
	case rl <= len(r.small) && (t == PUBACK || t == PUBREC || t == PUBREL || t == PUBCOMP || t == UNSUBACK):
		// Acknowledgements this short hold no strings, so nothing keeps a
		// reference to the shared buffer.
		body = r.small[:rl]
	case rl <= chunk:
		body = make([]byte, rl)
	default:
		// Grow with the data actually received, doubling, so memory
		// follows bytes that arrived rather than the declared length.
		body = make([]byte, 0, chunk)
		for len(body) < rl {
			if len(body) == cap(body) {
				body = slices.Grow(body, min(cap(body), rl-len(body)))
			}
			m, err := r.br.Read(body[len(body):min(cap(body), rl)])
			body = body[:len(body)+m]
			if err != nil && len(body) < rl {
				return nil, noEOF(err)
			}
		}
		return body, nil
	}
	if _, err := io.ReadFull(r.br, body); err != nil {
		return nil, noEOF(err)
	}
	return body, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Decode decodes exactly one packet from b for version v (0 when b is a
// CONNECT whose level selects the version). The packet is new and owns
// nothing shared with later calls.
func Decode(b []byte, v Version) (Packet, error) {
	r := NewReader(bufio.NewReader(bytes.NewReader(b)))
	r.Version = v
	p, err := r.ReadPacket()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if rest, _ := r.br.Peek(1); len(rest) > 0 {
		return nil, &Error{Code: MalformedPacket, Packet: p.Type(), Field: "remaining length", Offset: -1, Msg: "bytes follow the packet", Rule: "MQTT-2.1.4"}
	}
	return p, nil
}
