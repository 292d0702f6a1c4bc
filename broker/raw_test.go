package broker_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/packet"
)

// raw is a hand-driven MQTT connection for edge cases the client libraries
// would never produce.
type raw struct {
	t  *testing.T
	nc net.Conn
	r  *packet.Reader
	v  packet.Version
}

func dialRaw(t *testing.T, addr string, v packet.Version) *raw {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	r := packet.NewReader(bufio.NewReader(nc))
	r.Version = v
	return &raw{t: t, nc: nc, r: r, v: v}
}

// connect sends CONNECT and returns the CONNACK.
func (c *raw) connect(cp *packet.Connect) *packet.Connack {
	c.t.Helper()
	cp.ProtocolVersion = c.v
	c.send(cp)
	ack, ok := c.recv().(*packet.Connack)
	if !ok {
		c.t.Fatalf("expected CONNACK")
	}
	a := *ack
	return &a
}

func (c *raw) send(p packet.Packet) {
	c.t.Helper()
	b, err := p.AppendTo(nil, c.v)
	if err != nil {
		c.t.Fatalf("encode %v: %v", p, err)
	}
	c.write(b)
}

func (c *raw) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *raw) recv() packet.Packet {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(wait))
	p, err := c.r.ReadPacket()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return p
}

// expectDisconnect reads up to the end of the connection: a DISCONNECT with
// code for 5.0 (any packets before it are skipped), then EOF.
func (c *raw) expectDisconnect(code packet.ReasonCode) {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(wait))
	seen := false
	for {
		p, err := c.r.ReadPacket()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.t.Fatalf("connection not closed within %v", wait)
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
				break
			}
			c.t.Fatalf("read: %v", err)
		}
		if d, ok := p.(*packet.Disconnect); ok {
			if d.ReasonCode != code {
				c.t.Fatalf("DISCONNECT %v (%s), want %v", d.ReasonCode, d.Props.ReasonString, code)
			}
			seen = true
		}
	}
	if c.v == packet.V5 && code != 0 && !seen {
		c.t.Fatalf("closed without DISCONNECT %v", code)
	}
}

func isReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe)
}
