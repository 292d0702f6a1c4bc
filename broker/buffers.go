package broker

import (
	"bufio"
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/mqttboard/mqttboard/packet"
)

// Idle connections are the common case, so a connection holds its read
// buffer, its packet.Reader (4 KB of reusable packet values) and its write
// loop's scratch only while it is busy: an idle read loop waits for one byte
// with nothing but a one-byte array, then borrows from these pools until
// its buffer is empty again at a packet boundary. This is nats' "grow under
// load, give back when idle", done with pools instead of resizing.
var (
	readBufPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, busyReadBuffer) }}
	readerPool  = sync.Pool{New: func() any { return packet.NewReader(nil) }}
	writerPool  = sync.Pool{New: func() any { return new(writer) }}
)

// busyReadBuffer is the read buffer of a connection with traffic: large
// enough that a burst of small PUBLISHes costs one read system call per few
// dozen packets.
const busyReadBuffer = 4096

// input is what a read loop reads from: the connection, counted for Stats,
// after the byte the idle wait already took.
type input struct {
	// read counts this connection's bytes (the inspection API's bytes in).
	read  atomic.Uint64
	first [1]byte
	has   bool
	// Event-loop transport (transport.go): the first read of a burst does
	// not wait (nonblock, through rc); short records that the last read
	// left room in the buffer, so the socket was emptied.
	nonblock bool
	short    bool
	// Until CONNECT is read (held >= 0), every byte received counts
	// against the server's budget of unauthenticated connections
	// (Server.connecting); held is this connection's share. Then
	// heldConnected, and heldTimed once the connection is accepted: from
	// then on a pause inside a packet is bounded (see [input.partial]).
	held int32

	deadline int64 // the read deadline last set, Unix nanoseconds; 0: none
}

// The values of input.held after CONNECT.
const (
	heldConnected = -1 // CONNECT read: its deadline was fixed
	heldTimed     = -2 // accepted: pauses inside a packet are bounded
)

// partial bounds a pause inside a packet: [Options.PacketTimeout], and
// within the keep alive as well; 0 (none) until the connection is
// accepted, while CONNECT is read with its own fixed deadline.
func (in *input) partial() time.Duration {
	if in.held != heldTimed {
		return 0
	}
	p := in.conn().s.opts.PacketTimeout
	if in.conn().keepAlive > 0 {
		p = min(p, in.conn().keepAliveIdle())
	}
	return p
}

// conn is the connection whose input this is: input lives only as
// conn.in, so the connection is found from its address (one pointer less
// per connection than a field): its nc, its sock (event loop) and the
// server's byte counter.
func (in *input) conn() *conn {
	return (*conn)(unsafe.Add(unsafe.Pointer(in), -int(unsafe.Offsetof(conn{}.in))))
}

// connectBudget is the bytes held by all connections whose CONNECT is not
// read yet, and their limit (Options.MaxConnectingBytes).
type connectBudget struct {
	held atomic.Int64
	max  int64
}

// errConnectBudget ends a connection whose CONNECT would take the bytes
// held by all unauthenticated connections past MaxConnectingBytes.
var errConnectBudget = errors.New("too many bytes held by connections still in CONNECT")

func (in *input) Read(p []byte) (int, error) {
	if in.has {
		if len(p) == 0 {
			return 0, nil
		}
		p[0] = in.first[0]
		in.has = false
		return 1, nil
	}
	if partial := in.partial(); partial > 0 {
		// Inside a packet: the client must make progress. The deadline
		// moves only when half of it is used, so a busy connection sets
		// it rarely; a stall ends the connection after between half and
		// all of partial.
		if now := time.Now(); in.deadline-now.UnixNano() < int64(partial/2) {
			d := now.Add(partial)
			in.deadline = d.UnixNano()
			in.conn().nc.SetReadDeadline(d)
		}
	}
	var n int
	var err error
	if in.nonblock {
		in.nonblock = false
		n, err = in.conn().sock.ReadNow(p)
	} else {
		n, err = in.conn().nc.Read(p)
	}
	if err == nil {
		in.short = n < len(p)
	}
	in.conn().s.ctr.bytesIn.Add(int64(n))
	in.read.Add(uint64(n))
	if in.held >= 0 && err == nil && !in.hold(n) {
		err = errConnectBudget
	}
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		err = errPartialTimeout
	}
	return n, err
}

// hold counts n more unauthenticated bytes; false past the budget. A
// refused connection gives back everything it held at once, not when its
// close runs (on another goroutine, later): connections read meanwhile are
// judged by the bytes of connections that stay.
func (in *input) hold(n int) bool {
	b := &in.conn().s.connecting
	if b.held.Add(int64(n)) <= b.max {
		in.held += int32(n) // at most a CONNECT and a buffer: bounded by MaxConnectSize
		return true
	}
	b.held.Add(-int64(n) - int64(in.held))
	in.held = heldConnected
	return false
}

// connected ends the CONNECT phase: its bytes no longer count against the
// budget. Idempotent.
func (in *input) connected() {
	if in.held >= 0 {
		in.conn().s.connecting.held.Add(-int64(in.held))
		in.held = heldConnected
	}
}

// waitIdle blocks until the client sends something, holding no buffers.
// idle is the deadline for it (zero: none).
func (in *input) waitIdle(idle time.Time) error {
	if d := unixNano(idle); d != in.deadline {
		in.conn().nc.SetReadDeadline(idle)
		in.deadline = d
	}
	for {
		n, err := in.conn().nc.Read(in.first[:])
		if n == 1 {
			in.conn().s.ctr.bytesIn.Add(1)
			in.read.Add(1)
			in.has = true
			if in.held >= 0 && !in.hold(1) {
				return errConnectBudget
			}
			if in.held == heldTimed {
				in.deadline = 0 // the packet's own deadline is set by the next Read
			}
			return nil
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return errIdleTimeout
			}
			return err
		}
	}
}

// unixNano is t as Unix nanoseconds, 0 for the zero Time (no deadline):
// deadlines are kept as int64, 16 bytes less per connection than a Time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// timeOfNano is the inverse of unixNano.
func timeOfNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Read deadlines, told apart because they end a connection differently.
var (
	// errIdleTimeout: no packet started within 1.5 × keep alive (or, before
	// CONNECT, within ConnectTimeout).
	errIdleTimeout = errors.New("no packet within the keep alive")
	// errPartialTimeout: a packet was started and not continued within
	// PacketTimeout.
	errPartialTimeout = errors.New("packet not completed in time")
)

// borrow gives the read loop a buffer, a packet reader and routing
// scratch.
func (c *conn) borrow() {
	r := routerPool.Get().(*router)
	r.deferWakes = c.evMode // see readLoop
	r.br = readBufPool.Get().(*bufio.Reader)
	r.br.Reset(&c.in)
	r.pr = readerPool.Get().(*packet.Reader)
	r.pr.Reset(r.br)
	r.pr.Version = c.v
	r.pr.MaxPacketSize = c.s.opts.MaxPacketSize
	if c.v == 0 {
		r.pr.MaxPacketSize = c.s.opts.MaxConnectSize // before authentication, a smaller limit
	}
	r.pr.WildcardDelete = true // flespi: an empty PUBLISH to a wildcard topic deletes retained messages
	r.pr.RefuseControlChars = !c.s.opts.AllowControlChars
	r.pr.Refused = clientRefusedTypes // reason.go
	c.route = r
}

// giveBack returns them when nothing is buffered, i.e. at a packet
// boundary with no data waiting. Nothing decoded is referenced after the
// packet was handled (kept strings alias the packet's own buffer; kept
// slices were copied), so another connection may reuse the Reader.
func (c *conn) giveBack() (idle bool) {
	if c.route == nil || c.route.br.Buffered() > 0 || c.in.has {
		return false
	}
	c.release()
	return true
}

// giveBackAll returns the buffers whatever they hold: the connection ends.
func (c *conn) giveBackAll() {
	if c.route == nil {
		return
	}
	c.release()
}

func (c *conn) release() {
	r := c.route
	r.br.Reset(nil)
	readBufPool.Put(r.br)
	r.pr.Reset(nil)
	readerPool.Put(r.pr)
	r.br, r.pr = nil, nil
	// Routing left matches, message and commits behind: nothing of this
	// connection's may stay reachable from the pool.
	r.flushWakes() // done already by readLoop, which ends each burst
	r.deferWakes, r.sink = false, nil
	clear(r.matches[:cap(r.matches)])
	r.matches = r.matches[:0]
	r.msg, r.fm, r.batch = nil, nil, nil
	r.puback, r.pubrec = packet.Puback{}, packet.Pubrec{} // a reason string, user properties
	r.resetCommits()
	routerPool.Put(r)
	c.route = nil
}

// readPacket reads the next packet, waiting idle without buffers. Waiting
// for a packet to start is bounded by the keep alive, 1.5 times the
// interval [MQTT-3.1.2-24]; during CONNECT, the deadline serve set stays.
func (c *conn) readPacket() (packet.Packet, error) {
	if c.route == nil && !c.registered {
		idle := timeOfNano(c.in.deadline)
		if c.v != 0 {
			idle = time.Time{}
			if c.keepAlive > 0 {
				idle = time.Now().Add(c.keepAliveIdle())
			}
		}
		if err := c.in.waitIdle(idle); err != nil {
			return nil, err
		}
	}
	if c.route == nil {
		// On the event loop, bytes have arrived (or the first read finds
		// none and the burst parks): no idle wait.
		c.borrow()
	}
	return c.route.pr.ReadPacket()
}

// drainInput discards what the client still sends.
func (c *conn) drainInput() {
	if c.route != nil {
		io.Copy(io.Discard, c.route.br)
		return
	}
	io.Copy(io.Discard, &c.in)
}
