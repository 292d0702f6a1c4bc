package broker

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/mqttboard/mqttboard/broker/message"
	"github.com/mqttboard/mqttboard/broker/session"
	"github.com/mqttboard/mqttboard/packet"
)

// connectTimeout is how long a new connection may take to send CONNECT.
const connectTimeout = 10 * time.Second

// conn is one network connection: CONNECT is handled in serve, the read
// loop in reads (a goroutine per burst of traffic), the write loop in its
// own goroutine while there is something to send.
type conn struct {
	s  *Server
	nc net.Conn
	in input
	br *bufio.Reader  // borrowed while busy, nil when idle (see buffers.go)
	r  *packet.Reader // likewise

	// Set while handling CONNECT, read-only afterwards.
	v           packet.Version
	clientID    string
	sess        *session.Session
	username    string
	keepAlive   time.Duration
	recvMax     int    // the client's Receive Maximum
	maxOut      uint32 // the client's Maximum Packet Size, 0 = none
	aliasMaxOut uint16 // the client's Topic Alias Maximum
	problemInfo bool   // Request Problem Information

	// Read loop only.
	inAliases map[uint16]string
	acks      *acks // allocated on the first QoS 1/2 PUBLISH: idle connections stay small
	route     router
	will      *message.Message
	willDelay uint32
	expiry    uint32
	acl       *clientACL // the ACL as it applies to this client (acl.go)

	// Write loop only.
	w        *writer // borrowed while writing, nil when idle (see buffers.go)
	aliases  map[string]uint16
	streamed bool // nc writes net.Buffers with writev (TCP, Unix)

	mu       sync.Mutex // guards ctrl, stopping, code, reason and the write loop's state
	ctrl     []byte
	stopping bool
	code     packet.ReasonCode
	reason   string
	ready    bool // CONNACK is queued and the session attached: writing may start
	writing  bool // a write loop goroutine runs (see Wake)
	pending  bool // Wake was called while it ran: look again before exiting
	wakeCh   chan struct{}

	stop       chan struct{} // closed by Kick
	doneOnce   sync.Once
	readerDone chan struct{}
	writerDone chan struct{}
	done       chan struct{} // closed after the session was detached
}

func newConn(s *Server, nc net.Conn) *conn {
	_, tcp := nc.(*net.TCPConn)
	_, unix := nc.(*net.UnixConn)
	return &conn{
		s: s, nc: nc, in: input{nc: nc, n: &s.ctr.bytesIn},
		streamed:   tcp || unix,
		wakeCh:     make(chan struct{}, 1),
		stop:       make(chan struct{}),
		readerDone: make(chan struct{}),
		writerDone: make(chan struct{}),
		done:       make(chan struct{}),
	}
}

// Kick implements [session.Conn]: it ends the connection with code, sending
// DISCONNECT first to an MQTT 5 client. The first reason wins; Kick never
// blocks.
func (c *conn) Kick(code packet.ReasonCode, reason string) {
	c.mu.Lock()
	if c.stopping {
		c.mu.Unlock()
		return
	}
	c.stopping = true
	c.code, c.reason = code, reason
	if c.v == packet.V5 && c.sess != nil && code != 0 {
		d := packet.Disconnect{ReasonCode: code}
		if reason != "" {
			d.Props.ReasonString = reason
		}
		c.ctrl, _ = d.AppendTo(c.ctrl, c.v)
	}
	c.mu.Unlock()
	close(c.stop)
	c.Wake() // the write loop sends the DISCONNECT and closes
}

// send queues an encoded control packet for the write loop. A client that
// does not read its acknowledgements is disconnected rather than buffered
// without bound.
func (c *conn) send(p packet.Packet) {
	c.mu.Lock()
	if c.stopping {
		c.mu.Unlock()
		return
	}
	if len(c.ctrl) > c.s.opts.ControlQueueBytes {
		c.mu.Unlock()
		c.Kick(packet.QuotaExceeded, "client does not read its acknowledgements")
		return
	}
	var err error
	c.ctrl, err = p.AppendTo(c.ctrl, c.v)
	c.mu.Unlock()
	if err != nil {
		c.s.opts.Logger.Error("encode failed", "client", c.clientID, "packet", p.Type(), "err", err)
		return
	}
	c.Wake()
}

// serve runs the connection: CONNECT, then the read loop (see [conn.reads]),
// then the ending.
func (c *conn) serve(ctx context.Context) {
	handedOff := false
	defer c.guard(&handedOff)
	c.nc.SetReadDeadline(time.Now().Add(connectTimeout))
	p, err := c.readPacket()
	if err != nil {
		c.refuseConnect(err)
		return
	}
	cp, ok := p.(*packet.Connect)
	if !ok {
		// The first packet must be CONNECT [MQTT-3.1.0-1]; the reader
		// refuses any other type before a version is known.
		c.nc.Close()
		return
	}
	if !c.connect(ctx, cp) {
		return
	}
	c.giveBack()
	c.mu.Lock()
	c.ready = true
	c.mu.Unlock()
	c.Wake() // CONNACK, then what the session has queued
	handedOff = true
	go c.reads()
}

// reads runs the read loop on a goroutine that lives for one burst of
// traffic: when the connection goes idle (its read buffer empty at a packet
// boundary) it starts a fresh goroutine to wait for the next byte and ends.
// An idle connection's memory is mostly the stack of the goroutine waiting
// for it, and a fresh goroutine waits on a small stack, where the one that
// handled the burst (CONNECT, routing, ...) would wait on the stack it grew.
func (c *conn) reads() {
	handedOff := false
	defer c.guard(&handedOff)
	err := c.readLoop()
	if err == errIdle {
		handedOff = true
		go c.reads()
		return
	}
	c.endWith(err)
	c.drain()
	close(c.readerDone)
	c.finish()
}

// guard ends a read goroutine: one bad connection never takes the server
// down (a panic ends that connection only), and the connection is done
// unless the goroutine handed the read loop to a successor.
func (c *conn) guard(handedOff *bool) {
	if r := recover(); r != nil {
		c.s.opts.Logger.Error("connection panic", "client", c.clientID, "panic", r, "stack", string(debug.Stack()))
		c.Kick(packet.ImplementationSpecificError, "internal error")
		c.finish()
		*handedOff = false
	}
	if !*handedOff {
		close(c.done)
	}
}

// finish waits for the write loop and detaches the session.
func (c *conn) finish() {
	select {
	case <-c.readerDone:
	default:
		close(c.readerDone)
	}
	c.mu.Lock()
	ready := c.ready
	c.mu.Unlock()
	if c.sess == nil || !ready {
		c.nc.Close()
		if c.sess != nil {
			c.s.disconnected(c)
		}
		return
	}
	<-c.writerDone
	c.nc.Close()
	c.s.disconnected(c)
}

// endWith turns the read loop's error into the reason the connection ends.
func (c *conn) endWith(err error) {
	var pe *packet.Error
	var ne net.Error
	switch {
	case err == nil: // DISCONNECT from the client
		c.Kick(0, "")
	case errors.As(err, &pe):
		c.Kick(pe.Code, pe.Error())
	case errors.Is(err, errDisconnect):
		c.Kick(0, "")
	case errors.As(err, &ne) && ne.Timeout() && c.keepAlive > 0:
		c.Kick(packet.KeepAliveTimeout, "no packet within 1.5 × keep alive")
	default:
		var rc packet.ReasonCode
		if errors.As(err, &rc) {
			c.Kick(rc, err.Error())
			return
		}
		c.Kick(0, "") // connection lost: no DISCONNECT possible
	}
}

// drain reads and discards what the client still sends for a moment, so
// that closing does not reset the connection before the client has read our
// DISCONNECT.
func (c *conn) drain() {
	select {
	case <-c.writerDone:
		return
	default:
	}
	c.nc.SetReadDeadline(time.Now().Add(c.s.opts.ShutdownLinger))
	c.drainInput()
}

func (c *conn) readLoop() error {
	for {
		if c.keepAlive > 0 {
			// Keep alive is enforced at one and a half times the interval
			// [MQTT-3.1.2-24].
			c.nc.SetReadDeadline(time.Now().Add(c.keepAlive * 3 / 2))
		} else {
			c.nc.SetReadDeadline(time.Time{})
		}
		p, err := c.readPacket()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) && c.keepAlive == 0 {
				return io.EOF
			}
			return err
		}
		if err := c.handle(p); err != nil {
			return err
		}
		if c.giveBack() {
			return errIdle
		}
	}
}

// errIdle ends a burst of reads: the connection is idle (see [conn.reads]).
var errIdle = errors.New("connection idle")

// errDisconnect ends the read loop after a client's DISCONNECT.
var errDisconnect = errors.New("client disconnected")

func (c *conn) handle(p packet.Packet) error {
	switch p := p.(type) {
	case *packet.Publish:
		return c.handlePublish(p)
	case *packet.Puback, *packet.Pubrec, *packet.Pubrel, *packet.Pubcomp:
		return c.handleAck(p) // ackflow.go
	case *packet.Subscribe:
		c.handleSubscribe(p)
	case *packet.Unsubscribe:
		c.handleUnsubscribe(p)
	case *packet.Pingreq:
		c.send(&packet.Pingresp{})
	case *packet.Disconnect:
		return c.handleDisconnect(p)
	case *packet.Connect:
		return &packet.Error{Code: packet.ProtocolError, Packet: packet.CONNECT, Offset: 0, Msg: "second CONNECT on a connection", Rule: "MQTT-3.1.0-2"}
	case *packet.Auth:
		// No enhanced authentication method was agreed in CONNECT, so any
		// AUTH is a protocol error [MQTT-4.12.0-1].
		return &packet.Error{Code: packet.ProtocolError, Packet: packet.AUTH, Offset: 0, Msg: "AUTH without an authentication method in CONNECT", Rule: "MQTT-4.12.0-1"}
	default:
		return &packet.Error{Code: packet.ProtocolError, Packet: p.Type(), Offset: 0, Msg: p.Type().String() + " is sent by servers, not clients", Rule: "MQTT-2.1.2"}
	}
	return nil
}

func (c *conn) handleDisconnect(p *packet.Disconnect) error {
	if c.v == packet.V5 && p.Props.Has(packet.PropSessionExpiry) {
		// A session created with expiry 0 cannot be given one at
		// DISCONNECT [MQTT-3.14.2-2].
		if c.expiry == 0 && p.Props.SessionExpiry != 0 {
			return &packet.Error{Code: packet.ProtocolError, Packet: packet.DISCONNECT, Offset: -1, Field: "session expiry interval", Msg: "set at DISCONNECT after CONNECT had 0", Rule: "MQTT-3.14.2-2"}
		}
		c.expiry = min(p.Props.SessionExpiry, c.s.opts.MaxSessionExpiry)
	}
	if p.ReasonCode != packet.DisconnectWithWill {
		c.will = nil // a normal DISCONNECT discards the will [MQTT-3.14.4-3]
	}
	return errDisconnect
}

// acks are the reusable acknowledgement values of one read loop.
type acks struct {
	puback packet.Puback
	pubrec packet.Pubrec
}
