package broker

import (
	"bufio"
	"io"
	"net"
	"sync"
	"sync/atomic"

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
	nc    net.Conn
	n     *atomic.Int64
	first [1]byte
	has   bool
}

func (in *input) Read(p []byte) (int, error) {
	if in.has {
		if len(p) == 0 {
			return 0, nil
		}
		p[0] = in.first[0]
		in.has = false
		return 1, nil
	}
	n, err := in.nc.Read(p)
	in.n.Add(int64(n))
	return n, err
}

// waitIdle blocks until the client sends something, holding no buffers.
func (in *input) waitIdle() error {
	for {
		n, err := in.nc.Read(in.first[:])
		if n == 1 {
			in.n.Add(1)
			in.has = true
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// borrow gives the read loop a buffer and a packet reader.
func (c *conn) borrow() {
	c.br = readBufPool.Get().(*bufio.Reader)
	c.br.Reset(&c.in)
	c.r = readerPool.Get().(*packet.Reader)
	c.r.Reset(c.br)
	c.r.Version = c.v
	c.r.MaxPacketSize = c.s.opts.MaxPacketSize
	c.r.WildcardDelete = true // flespi: an empty PUBLISH to a wildcard topic deletes retained messages
	c.r.RefuseControlChars = !c.s.opts.AllowControlChars
}

// giveBack returns them when nothing is buffered, i.e. at a packet
// boundary with no data waiting. Nothing decoded is referenced after the
// packet was handled (kept strings alias the packet's own buffer; kept
// slices were copied), so another connection may reuse the Reader.
func (c *conn) giveBack() (idle bool) {
	if c.br == nil || c.br.Buffered() > 0 || c.in.has {
		return false
	}
	c.br.Reset(nil)
	readBufPool.Put(c.br)
	c.r.Reset(nil)
	readerPool.Put(c.r)
	c.br, c.r = nil, nil
	return true
}

// readPacket reads the next packet, waiting idle without buffers.
func (c *conn) readPacket() (packet.Packet, error) {
	if c.br == nil {
		if err := c.in.waitIdle(); err != nil {
			return nil, err
		}
		c.borrow()
	}
	return c.r.ReadPacket()
}

// drainInput discards what the client still sends.
func (c *conn) drainInput() {
	if c.br != nil {
		io.Copy(io.Discard, c.br)
		return
	}
	io.Copy(io.Discard, &c.in)
}
