package broker

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttboard/mqttboard/broker/eventloop"
	"github.com/mqttboard/mqttboard/broker/message"
	"github.com/mqttboard/mqttboard/broker/session"
	"github.com/mqttboard/mqttboard/packet"
)

// conn is one network connection. Its lifetime has one owner, the read
// side: serve handles CONNECT, then the read loop runs either in
// [conn.reads] (goroutine transport: a goroutine per burst of traffic,
// handed from one to the next) or in [conn.burst] (event-loop transport,
// transport.go: a pool task per burst, started by the poller when bytes
// arrive; between bursts nothing runs for the connection), and the
// goroutine that sees the read loop end runs [conn.end], the one cleanup
// every path goes through. The write loop runs in its own goroutine (or
// pool task) while there is something to send; it never ends the
// connection itself, it stops (Kick) and closes the socket, which ends the
// read loop (on the event loop, writerExit wakes an idle read side, whose
// read then fails).
//
// Who closes what (each exactly once):
//
//	signal      fired by                                 means
//	stopped     Kick (first call only; an atomic flag)   the connection is ending
//	readerDone  end                                      nothing reads the socket any more
//	writerDone  the write loop's last exit (writerExit),  no write loop runs, none will start
//	            or end when writing never started
//	connDone    end, last                                everything is released
//	wake        never closed (a one-slot signal to the write loop; goroutine transport only)
//
// readerDone, writerDone and connDone are [signal]s: a bit each, and a
// channel only if someone waits before they fire, so an idle connection
// holds none.
type conn struct {
	s  *Server
	nc net.Conn
	in input

	// Set while handling CONNECT, read-only afterwards.
	clientID string
	sess     *session.Session
	auth     *connAuth // never nil: noAuth until CONNECT makes one

	// The small fields, together so that they take three words. Set while
	// handling CONNECT (or by newConn: streamed and evMode), read-only
	// afterwards, unless said.
	maxOut      uint32 // the client's Maximum Packet Size, 0 = none
	willDelay   uint32 // read loop
	expiry      uint32 // read loop
	keepAlive   uint16 // seconds, 0 = none (see [conn.keepAliveIdle])
	recvMax     uint16 // the client's Receive Maximum
	aliasMaxOut uint16 // the client's Topic Alias Maximum
	v           packet.Version
	flags       connFlags // problem information, clean start, streamed
	ending      bool      // end has started (read side)
	// evMode: the event loop (c.s.loop) serves the connection, its writes
	// run on the loop's pool; registered once its read side is in the
	// poller (set before the first Wake); timedOut: the keep alive expired
	// while idle (set by Due).
	evMode     bool
	registered bool
	timedOut   bool

	// Read loop only.
	rx atomic.Pointer[rxState] // made by the first PUBLISH from the client: idle connections stay small
	// route is borrowed while busy, with the read buffer and packet
	// reader it carries (route.br, route.pr); nil when idle (buffers.go).
	route *router
	// stats are the live counters and times the inspection API reads
	// (inspect.go): the read loop counts PUBLISHes from the client, the
	// write loop those sent and the bytes written.
	stats connStats

	// Write loop only.
	w       *writer // borrowed while writing, nil when idle (see buffers.go)
	aliases map[string]uint16
	wdl     int64 // the write deadline last set, Unix nanoseconds; 0: none

	mu       sync.Mutex // guards the fields below
	ctrl     []byte     // encoded control packets (acks, CONNACK) to send
	held     *heldAcks  // packets waiting for the store before ctrl (durable.go); nil without one
	code     packet.ReasonCode
	stopping bool
	graceful bool  // Kick at shutdown: send what is queued before the DISCONNECT
	final    bool  // a DISCONNECT with code and reason is owed, last
	ready    bool  // CONNACK is queued and the session attached: writing may start
	writing  bool  // a write loop goroutine runs, or ran its final exit (see Wake)
	pending  bool  // Wake was called while it ran: look again before exiting
	fired    uint8 // the signals that fired, a bit each (signal.go)
	// more: the goroutine transport's at once; else made by a wait before
	// its signal fired or by a Kick with a reason or a write in progress.
	more *connMore

	// Event-loop transport (transport.go). sock is the socket itself (nc
	// points at it) when evMode.
	sock      eventloop.Socket
	rstate    atomic.Int32 // readIdle, readRunning, ...
	stopped   atomic.Bool
	idleSince atomic.Int64 // Unix nanoseconds the read side last parked
	tok       eventloop.Token
	kaEntry   eventloop.Entry[*conn]
}

// newConn is called with s.mu held. fd >= 0 is a socket for the event
// loop, accepted on the listener's socket (see [Server.acceptor]) or
// detached from a net.TCPConn (see [Server.detachSocket]), nc is nil
// then; newConn
// registers it with the poller, and returns nil (having closed it) if
// that fails.
func newConn(s *Server, nc net.Conn, fd int, raddr netip.AddrPort) *conn {
	c := &conn{s: s, auth: &noAuth}
	if fd >= 0 {
		c.sock.Init(fd, raddr)
		nc = &c.sock
		c.evMode = true
		c.flags |= flagStreamed
		// Events during CONNECT only wake serve's reads (see Ready).
		c.rstate.Store(readRunning)
		tok, err := s.loop.poller.Add(fd, (*pollHandler)(c))
		if err != nil {
			s.opts.Logger.Warn("event loop: cannot register a connection", "err", err)
			c.sock.Close()
			return nil
		}
		c.tok = tok
	} else {
		if streamedConn(nc) {
			c.flags |= flagStreamed
		}
		c.more = &connMore{wake: make(chan struct{}, 1)} // the event loop's writer never waits for a wake
	}
	c.nc = nc
	// c.in's zero value: held 0, counting CONNECT's bytes.
	return c
}

// Kick implements [session.Conn]: it ends the connection with code, sending
// DISCONNECT first to an MQTT 5 client. The first reason wins; Kick never
// blocks. A write in progress gets ShutdownLinger more to finish, so a
// client that stopped reading is cut off at once instead of holding the
// connection (and its queue) until the write timeout.
func (c *conn) Kick(code packet.ReasonCode, reason string) { c.kick(code, reason, false) }

// kick is Kick; graceful (server shutdown) lets the write loop send what
// the session has queued before the DISCONNECT, within the normal write
// timeout, so that wills published at shutdown reach their subscribers.
func (c *conn) kick(code packet.ReasonCode, reason string, graceful bool) {
	c.mu.Lock()
	if c.stopping {
		c.mu.Unlock()
		return
	}
	c.stopping = true
	c.graceful = graceful
	c.code = code
	if reason != "" {
		c.moreMade().reason = reason
	}
	// c.v and c.sess are read only once ready: before that, serve may
	// still be writing them.
	c.final = c.ready && c.v == packet.V5 && code != 0
	if !graceful && c.writing {
		// A write in progress gets ShutdownLinger more, then the socket
		// is closed under it. Not SetWriteDeadline: on a WebSocket it
		// waits for the write in progress, and Kick must not block (a
		// publisher's read loop kicks slow consumers).
		nc := c.nc
		c.moreMade().cut = time.AfterFunc(c.s.opts.ShutdownLinger, func() { nc.Close() })
	}
	ready := c.ready
	c.mu.Unlock()
	c.stopped.Store(true)
	if !ready {
		// No write loop will run before CONNACK: closing is what ends the
		// read side of a connection still in CONNECT.
		c.nc.Close()
		return
	}
	c.Wake() // the write loop sends the DISCONNECT and closes
}

// send queues an encoded control packet for the write loop; only the read
// side calls it. A client that does not read its acknowledgements is
// disconnected rather than buffered without bound.
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
	held, err := c.holdLocked(p) // behind acks waiting for the store (durable.go)
	if !held {
		c.ctrl, err = p.AppendTo(c.ctrl, c.v)
	}
	c.mu.Unlock()
	if err != nil {
		c.s.opts.Logger.Error("encode failed", "client", c.clientID, "packet", p.Type(), "err", err)
		return
	}
	if r := c.route; r != nil && r.deferWakes {
		// Only the read side sends, and its burst writes what it queued
		// at its end (readLoop), acknowledgements with the deliveries.
		r.wakeLater(c)
		return
	}
	c.Wake()
}

// serve runs the connection: CONNECT here, then the read loop (see
// [conn.reads]) and, on every path, [conn.end].
func (c *conn) serve(ctx context.Context) {
	handedOff := false
	defer c.guard(&handedOff)
	d := time.Now().Add(c.s.opts.ConnectTimeout)
	c.in.deadline = d.UnixNano()
	c.nc.SetReadDeadline(d)
	p, err := c.readPacket()
	c.in.connected() // the CONNECT's bytes no longer count as unauthenticated
	if err != nil {
		c.refuseConnect(err)
		c.end()
		return
	}
	cp, ok := p.(*packet.Connect)
	if !ok {
		// The first packet must be CONNECT [MQTT-3.1.0-1]; the reader
		// refuses any other type before a version is known.
		c.end()
		return
	}
	if !c.connect(ctx, cp) {
		c.end()
		return
	}
	c.giveBack()
	c.in.held = heldTimed // a packet must now be complete within PacketTimeout (and the keep alive)
	c.mu.Lock()
	c.ready = true
	stopping := c.stopping
	c.mu.Unlock()
	if stopping {
		c.nc.Close() // kicked (server closing) while in CONNECT
	}
	// Register before the write loop can start: writerExit reads
	// c.registered, and the write task must see it set (a race otherwise,
	// TestTakeover311Closes under -race).
	if c.evMode {
		c.register()
	}
	c.Wake() // CONNACK, then what the session has queued
	handedOff = true
	if c.evMode {
		c.burst() // then parked in the poller: this goroutine ends
		return
	}
	go c.reads()
}

// reads runs the read loop on a goroutine that lives for one burst of
// traffic: when the connection goes idle (its read buffer empty at a packet
// boundary) it starts a fresh goroutine to wait for the next byte and ends.
// An idle connection's memory is mostly the stack of the goroutine waiting
// for it, and a fresh goroutine waits on a small stack, where the one that
// handled the burst (CONNECT, routing, ...) would wait on the stack it grew.
// The goroutine that sees the read loop end owns the ending.
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
	c.end()
}

// guard recovers a read goroutine's panic: one bad connection never takes
// the server down, it ends that connection only.
func (c *conn) guard(handedOff *bool) {
	r := recover()
	if r == nil {
		return
	}
	c.s.opts.Logger.Error("connection panic", "client", c.clientID, "panic", r, "stack", string(debug.Stack()))
	if *handedOff {
		return // the successor owns the connection; the panic came after
	}
	c.Kick(packet.ImplementationSpecificError, "internal error")
	if !c.ending {
		c.end()
	} // else end itself panicked: its deferred part released the rest
}

// end is the one cleanup of a connection, run once by the read side when
// it stopped reading: it waits for the write loop (whose writes all have
// deadlines), closes the socket, gives back the read buffers, detaches the
// session (publishing or scheduling the will) and forgets the connection.
func (c *conn) end() {
	c.ending = true
	if c.evMode {
		c.rstate.Store(readEnded)
		c.s.loop.poller.Forget(c.tok)
		c.s.loop.wheel.Cancel(&c.kaEntry)
	}
	// Even if what follows panics (routing the will, say), the
	// connection is closed and forgotten, so nothing waits for it.
	defer func() {
		c.nc.Close()
		if c.sess != nil {
			c.sess.Detach(c) // done already, unless disconnected panicked
		}
		c.s.forget(c)
		c.fire(connDone)
	}()
	c.fire(readerDone)
	c.giveBackAll()
	c.in.connected()
	c.mu.Lock()
	ready := c.ready
	c.mu.Unlock()
	if ready {
		<-c.wait(writerDone)
	} else {
		c.fire(writerDone) // no write loop starts before ready
	}
	c.nc.Close()
	c.mu.Lock()
	if c.more != nil && c.more.cut != nil {
		c.more.cut.Stop()
	}
	c.mu.Unlock()
	if c.sess != nil {
		c.s.disconnected(c)
	}
}

// endWith turns the read loop's error into the reason the connection ends.
func (c *conn) endWith(err error) {
	var pe *packet.Error
	switch {
	case err == nil: // DISCONNECT from the client
		c.Kick(0, "")
	case errors.As(err, &pe):
		c.Kick(pe.Code, pe.Error())
	case errors.Is(err, errDisconnect):
		c.Kick(0, "")
	case errors.Is(err, errIdleTimeout):
		c.Kick(packet.KeepAliveTimeout, "no packet within 1.5 × keep alive")
	case errors.Is(err, errPartialTimeout):
		// The spec names no code for a packet left unfinished; the keep
		// alive code is the closest ("no control packet in time").
		c.Kick(packet.KeepAliveTimeout, "packet not completed in time")
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
	if c.hasFired(writerDone) {
		return
	}
	c.nc.SetReadDeadline(time.Now().Add(c.s.opts.ShutdownLinger))
	c.drainInput()
}

// readLoop reads and handles packets until the connection ends or goes
// idle. Deadlines: waiting idle for a packet, the keep alive (see
// [conn.readPacket]); inside a packet, PacketTimeout without progress (see
// [input.Read]).
//
// Subscribers a packet was routed to are written to (see
// [router.flushWakes]) before the loop reads from the socket again or
// returns: once per burst, not once per message.
func (c *conn) readLoop() error {
	for {
		p, err := c.readPacket()
		if err != nil {
			c.route.flushWakes()
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				return io.EOF
			}
			return err
		}
		if err := c.handle(p); err != nil {
			c.route.flushWakes()
			return err
		}
		if c.route != nil && len(c.route.wakes.list) > 0 && !c.packetBuffered() {
			c.route.flushWakes()
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
		c.takeWill() // a normal DISCONNECT discards the will [MQTT-3.14.4-3]
	}
	return errDisconnect
}

// takeWill returns the will and forgets it, so that exactly one of
// DISCONNECT (discarding it), the ending and Shutdown has it.
func (c *conn) takeWill() *message.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ready {
		return nil
	}
	w := c.auth.will
	if w != nil {
		c.auth.will = nil // never noAuth's: CONNECT made a connAuth for the will
	}
	return w
}

// connFlags are a connection's flags that never change once set (by
// newConn or while handling CONNECT, before anything else reads them).
type connFlags uint8

const (
	flagProblemInfo connFlags = 1 << iota // Request Problem Information
	flagClean                             // the clean start (3.1.1: clean session) flag
	flagStreamed                          // nc writes net.Buffers with writev (TCP, Unix)
)

func (c *conn) problemInfo() bool { return c.flags&flagProblemInfo != 0 }
func (c *conn) clean() bool       { return c.flags&flagClean != 0 }
func (c *conn) streamed() bool    { return c.flags&flagStreamed != 0 }

// connMore is what few connections need, behind one pointer made on
// use (conn.more): the goroutine transport's wake-up channel, the signals'
// channels (see signal.go), and what the first Kick leaves besides its
// code: most connections end without anyone waiting, a reason or a write
// in progress, and an idle one holds one nil pointer.
type connMore struct {
	sig  [3]chan struct{} // made by a wait before its signal fired; guarded by mu
	wake chan struct{}    // set by newConn, never changed
	// The first Kick's reason, and the timer that closes the socket under
	// a write that outlives the Kick; guarded by mu.
	reason string
	cut    *time.Timer
}

// moreMade is c.more, made if nil; under mu.
func (c *conn) moreMade() *connMore {
	if c.more == nil {
		c.more = new(connMore)
	}
	return c.more
}

// kickReason is the first Kick's reason; under mu.
func (c *conn) kickReason() string {
	if c.more == nil {
		return ""
	}
	return c.more.reason
}

// wakeC is the write loop's wake-up channel, nil on the event loop (whose
// writer never waits for one).
func (c *conn) wakeC() chan struct{} {
	if c.evMode {
		return nil
	}
	return c.more.wake // set by newConn, never replaced: no lock needed
}

// remoteAddr is the client's address as text: on the event loop one
// allocation (the string), where RemoteAddr().String() makes five.
func (c *conn) remoteAddr() string {
	if c.evMode {
		return c.sock.AddrPort().String()
	}
	return c.nc.RemoteAddr().String()
}

// keepAliveIdle is how long the client may stay silent: 1.5 × its keep
// alive [MQTT-3.1.2-24]; 0 without one.
func (c *conn) keepAliveIdle() time.Duration {
	return time.Duration(c.keepAlive) * time.Second * 3 / 2
}

// connAuth is who the client is and its will, made by CONNECT when it
// gave a user name or a will or the broker has an ACL or an authenticator;
// every other connection shares noAuth (four fields less per connection).
// Set while handling CONNECT; acl is also set by the read loop
// (aclRights), will taken under the connection's mu.
type connAuth struct {
	username string
	acl      *clientACL // the ACL as it applies to this client (acl.go)
	ident    *Identity  // the client's token with Options.Auth (tokens.go); set by CONNECT
	// will is set by CONNECT; taken by DISCONNECT, the ending or Shutdown
	// (see takeWill); guarded by the connection's mu.
	will *message.Message
}

// noAuth is the connAuth of a connection with no user name, will, ACL or
// authenticator. Never written.
var noAuth connAuth

// rxState is what a connection needs once the client publishes: made by
// the read loop on the first PUBLISH, never replaced (a pointer an atomic
// load reads, so the inspection API reads the counters from any
// goroutine). 24 bytes: a connection that published once and went idle
// keeps only this (the reusable acknowledgement values live in the
// router, borrowed while busy).
type rxState struct {
	// published counts PUBLISHes from the client and rejected those
	// refused with an error code (the read loop writes, any API reader
	// reads).
	published, rejected atomic.Uint64
	// aliases are the client's topic aliases (5.0), made when it sets one.
	aliases map[uint16]string
}

// rxState returns the connection's rxState, making it; read loop only.
func (c *conn) rxState() *rxState {
	rx := c.rx.Load()
	if rx == nil {
		rx = new(rxState)
		c.rx.Store(rx)
	}
	return rx
}

// rxCounts returns the PUBLISHes from the client and those refused.
func (c *conn) rxCounts() (published, rejected uint64) {
	if rx := c.rx.Load(); rx != nil {
		return rx.published.Load(), rx.rejected.Load()
	}
	return 0, 0
}
