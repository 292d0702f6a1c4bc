package client

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/mqttboard/mqttboard/packet"
)

// TracePacket is one packet seen on the wire, decoded by package packet.
type TracePacket struct {
	Time time.Time
	Out  bool // sent by us; false: received
	// Packet is the decoded packet; nil when Err is set. It is not reused
	// and may be kept.
	Packet packet.Packet
	// Size is the packet's length on the wire.
	Size int
	// Err is a decode failure: the bytes did not parse as version's packet.
	Err error
}

// traceConn tees the bytes a paho client reads and writes into a decoder
// per direction. Decoding the bytes (rather than hooking paho) shows the
// packets exactly as they crossed the wire, from either paho library.
type traceConn struct {
	net.Conn
	in, out traceStream
}

func newTraceConn(c net.Conn, v packet.Version, f func(TracePacket)) *traceConn {
	t := &traceConn{Conn: c}
	t.in = traceStream{out: false, version: v, emit: f}
	t.out = traceStream{out: true, version: v, emit: f}
	return t
}

func (c *traceConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.in.feed(p[:n])
	}
	return n, err
}

// Write traces before writing: the answer can be read (and traced) before
// Write returns, and the trace must show the request first.
func (c *traceConn) Write(p []byte) (int, error) {
	c.out.feed(p)
	return c.Conn.Write(p)
}

// traceStream reassembles one direction's bytes into whole packets.
type traceStream struct {
	mu      sync.Mutex
	out     bool
	version packet.Version
	buf     []byte
	store   []byte // buf's backing array, kept across feeds
	broken  bool   // a framing error: stop decoding this direction
	emit    func(TracePacket)
}

func (s *traceStream) feed(b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken {
		return
	}
	if len(s.buf) == 0 {
		s.buf = s.store[:0]
	}
	s.buf = append(s.buf, b...)
	for {
		n, ok, bad := frameLen(s.buf)
		if bad {
			s.broken = true
			s.emit(TracePacket{Time: time.Now(), Out: s.out, Err: errBadFrame})
			return
		}
		if !ok {
			break
		}
		frame := s.buf[:n]
		p, err := decodeFrame(frame, s.version)
		tp := TracePacket{Time: time.Now(), Out: s.out, Packet: p, Size: n, Err: err}
		if err != nil {
			tp.Packet = nil
		}
		s.emit(tp)
		s.buf = s.buf[n:]
	}
	// Keep the backing array for the next feed (the decoded packets own
	// their bytes); move a partial packet to its front so appends reuse
	// it, rather than growing a new array on every read at 10,000
	// messages/s. A large packet's buffer is let go.
	switch {
	case cap(s.buf) > 1<<20 || cap(s.store) > 1<<20:
		s.buf, s.store = append([]byte(nil), s.buf...), nil
	case len(s.buf) == 0:
		s.store, s.buf = s.store[:0], nil
	default:
		s.store = append(s.store[:0], s.buf...)
		s.buf = s.store
	}
}

// decodeFrame is packet.Decode with a read buffer the size of the frame
// (Decode's bufio.Reader clears 4 KiB per packet, which the always-on
// trace of a board at 10,000 messages/s paid for every message).
func decodeFrame(b []byte, v packet.Version) (packet.Packet, error) {
	r := packet.NewReader(bufio.NewReaderSize(bytes.NewReader(b), max(len(b), 16)))
	r.Version = v
	p, err := r.ReadPacket()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if r.Buffered() > 0 {
		return nil, &packet.Error{Code: packet.MalformedPacket, Packet: p.Type(), Field: "remaining length", Offset: -1, Msg: "bytes follow the packet", Rule: "MQTT-2.1.4"}
	}
	return p, nil
}

type traceError string

func (e traceError) Error() string { return string(e) }

const errBadFrame = traceError("malformed remaining length: packet trace stopped for this direction")

// frameLen returns the total length of the packet at the start of b, ok
// false when b does not hold all of it yet, bad when the remaining length
// is malformed.
func frameLen(b []byte) (n int, ok, bad bool) {
	if len(b) < 2 {
		return 0, false, false
	}
	var rl, mul int = 0, 1
	for i := 1; ; i++ {
		if i > 4 {
			return 0, false, true
		}
		if i >= len(b) {
			return 0, false, false
		}
		rl += int(b[i]&0x7f) * mul
		mul <<= 7
		if b[i]&0x80 == 0 {
			n = i + 1 + rl
			return n, len(b) >= n, false
		}
	}
}
