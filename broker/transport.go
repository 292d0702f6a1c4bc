package broker

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/mqttboard/mqttboard/broker/eventloop"
	"github.com/mqttboard/mqttboard/packet"
)

// The two transports (see [Options.Transport]).
const (
	// TransportEventLoop serves plain TCP connections from one readiness
	// notifier (epoll) and a pool of goroutines, reading and writing
	// their raw descriptors ([eventloop.Socket]): an idle connection owns
	// no goroutine, no buffer and no runtime socket state. The default
	// where supported (Linux); TLS, WebSocket, Unix sockets and in-memory
	// connections use goroutines in any case.
	TransportEventLoop = "eventloop"
	// TransportGoroutine gives each connection a read goroutine (and a
	// write goroutine while it has something to send).
	TransportGoroutine = "goroutine"
)

// transportEnv, when Options.Transport is empty, names the transport: it
// lets a whole test suite (and a user troubleshooting) run on either one
// without touching every Options literal.
const transportEnv = "MQTTBOARD_TRANSPORT"

// loop is a server's event-loop transport, started with its first
// event-loop connection and stopped once every connection has ended.
type loop struct {
	poller *eventloop.Poller
	pool   *eventloop.Pool
	wheel  *eventloop.Wheel[*conn]
	// bursts counts the read tasks handed to the pool and not yet done:
	// more than one means the loop is busy, and the writer leaves the
	// writes to the write tasks, which then carry the messages of many
	// bursts in one writev (see conn.writeNow).
	bursts atomic.Int32

	// The poller's goroutine only (see [loop.BatchBegin]): whether the
	// batch of events being delivered runs its read bursts on that
	// goroutine, and the connections those bursts queued messages or
	// acknowledgements for, written once each at the batch's end.
	inline bool
	wakes  wakeSet
}

// BatchBegin implements [eventloop.Batcher]: a batch of n events starts.
// Its read bursts run on the poller's goroutine itself (see
// [conn.burstInline]) when there is one processor, or when the batch has
// one event (a quiet moment); with more processors and more events, they
// go to the pool, where other processors take some.
//
// Why: at low rates the hand-over from the poller to a pool goroutine,
// and from there to a subscriber's write task, was most of the work
// after the system calls, and with synchronised publishers (a batch of
// a hundred connections at once) every burst beyond the pool's idle
// workers started a goroutine of its own that grew a fresh stack. On the
// poller's goroutine an event is read, routed and written like
// mosquitto's loop does it, with no hand-over.
func (l *loop) BatchBegin(n int) {
	l.inline = n == 1 || runtime.GOMAXPROCS(0) == 1
}

// BatchEnd implements [eventloop.Batcher]: it writes to each connection
// the batch's bursts routed to, once, with what all of them queued (a
// subscriber of many publishers gets one writev per batch).
//
// Writing each subscriber as soon as the burst that routed to it ended
// (as mosquitto does) was measured and is worse for the tail: with 100
// publishers in step it brought the middle of a burst's deliveries
// forward (the 50th 4-16 % sooner) but the last later (7-16 %) and cost
// more CPU, because each write that reaches a client thread gone back to
// sleep wakes it (on the loopback, a cross-processor wake-up paid by the
// writer: ~28 % of the broker's CPU in a 1,000 msg/s profile), and
// writes spread over the batch find it asleep more often. See
// BENCHMARKS.md, issue 17.
func (l *loop) BatchEnd() {
	l.inline = false
	if len(l.wakes.list) == 0 {
		return
	}
	for i, c := range l.wakes.list {
		l.wakes.list[i] = nil
		c.writeClaimed()
	}
	l.wakes.reset()
}

// Read-side states of an event-loop connection (conn.rstate).
const (
	readIdle    int32 = iota // parked in the poller: no goroutine
	readRunning              // a burst is being read
	readAgain                // running, and an event came meanwhile: look again before parking
	readEnded                // end has started: events are ignored
)

// poolIdle is how many pool goroutines may wait for work: enough that
// the bursts of a busy moment find warm ones instead of starting (and
// growing the stacks of) new goroutines (at 10,000 msg/s, 4 per processor
// started ~4,000 goroutines a second, 16 a few hundred), few enough to
// cost nothing (each waits on one channel, with a stack the GC shrinks).
func poolIdle() int { return max(16, 16*runtime.GOMAXPROCS(0)) }

// keepAliveTick is the wheel's resolution: a keep alive fires at most
// this late.
const keepAliveTick = 250 * time.Millisecond

// eventLoop returns the server's event loop, starting it, or nil where
// the platform has none, Options chose goroutines or the server is
// closing. Called with s.mu held.
func (s *Server) eventLoop() *loop {
	if s.opts.Transport != TransportEventLoop || s.loopFailed || s.closing {
		return nil // closing: stopLoop may have run, a new loop would outlive the server
	}
	if s.loop == nil {
		l := new(loop)
		p, err := eventloop.NewPollerBatched(l)
		if err != nil {
			s.loopFailed = true
			if !errors.Is(err, eventloop.ErrUnsupported) {
				s.opts.Logger.Warn("event loop unavailable, serving each connection with its own goroutine", "err", err)
			}
			return nil
		}
		l.poller, l.pool, l.wheel = p, eventloop.NewPool(poolIdle()), eventloop.NewWheel(keepAliveTick, kaOwner)
		s.loop = l
	}
	return s.loop
}

// stopLoop stops the event loop once no connection uses it, and the
// server's use of the memory trimmer. s.loop stays
// set: connections read it without the lock, having been made after it,
// and none is made once the server stops.
func (s *Server) stopLoop() {
	s.mu.Lock()
	l := s.loop
	stopped := s.loopStopped
	s.loopStopped = true
	stopTrim := s.stopTrim
	s.mu.Unlock()
	if stopTrim != nil {
		stopTrim() // the memory trimmer too (memtrim.go)
	}
	if l != nil && !stopped {
		l.poller.Close()
		l.wheel.Close()
		l.pool.Close()
	}
}

// trimLoop runs when the memory trimmer (memtrim.go) finds the broker
// quiet after traffic: the event loop's idle workers end, so the stacks
// the bursts grew (up to 32 KB each, ~850 KB in all after 1,000
// connections sent 2,000 PUBLISHes each) are freed with the trim; the
// next bursts start workers with small stacks again.
func (s *Server) trimLoop() {
	s.mu.Lock()
	l := s.loop
	stopped := s.loopStopped
	s.mu.Unlock()
	if l != nil && !stopped {
		l.pool.Trim()
	}
}

// readTask and writeTask are a connection's two kinds of pool work.
type (
	readTask  conn
	writeTask conn
)

func (t *readTask) Run() {
	c := (*conn)(t)
	defer c.s.loop.bursts.Add(-1)
	c.burst()
}
func (t *writeTask) Run() { (*conn)(t).writeLoop() }

// acceptor returns how acceptLoop takes l's connections, and what to run
// when it stops: on the event loop, a plain TCP listener's are accepted
// on its socket as raw descriptors (see [eventloop.Acceptor]: no
// net.TCPConn is made only to be taken apart), and [Server.stop] closes
// the Acceptor with the listener; any other listener's, or on the
// goroutine transport, with l.Accept (nc set, fd -1).
func (s *Server) acceptor(l net.Listener) (accept func() (nc net.Conn, fd int, raddr netip.AddrPort, err error), done func()) {
	accept = func() (net.Conn, int, netip.AddrPort, error) {
		nc, err := l.Accept()
		return nc, -1, netip.AddrPort{}, err
	}
	done = func() {}
	if _, ok := l.(*net.TCPListener); !ok || s.opts.Transport != TransportEventLoop {
		return accept, done
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.eventLoop() == nil { // none here, or the server is closing
		return accept, done
	}
	a, err := eventloop.NewAcceptor(l)
	if err != nil {
		s.opts.Logger.Warn("event loop: accepting through the runtime", "addr", l.Addr(), "err", err)
		return accept, done
	}
	s.acceptors = append(s.acceptors, a)
	return func() (net.Conn, int, netip.AddrPort, error) {
		fd, raddr, err := a.Accept()
		return nil, fd, raddr, err
	}, func() { a.Close() }
}

// detachSocket takes the descriptor out of an accepted TCP connection
// when the event loop is to serve it (see [eventloop.Socket]): fd is -1
// otherwise, and nc is left as it was.
func (s *Server) detachSocket(nc net.Conn) (fd int, raddr netip.AddrPort) {
	if _, ok := nc.(*net.TCPConn); !ok || s.opts.Transport != TransportEventLoop {
		return -1, raddr
	}
	s.mu.Lock()
	l := s.eventLoop()
	s.mu.Unlock()
	if l == nil {
		return -1, raddr
	}
	fd, raddr, err := eventloop.Detach(nc)
	if err != nil {
		s.opts.Logger.Warn("event loop: keeping the runtime's socket", "err", err)
		return -1, raddr
	}
	return fd, raddr
}

// pollHandler is a connection as the poller sees it.
type pollHandler conn

// Ready implements [eventloop.Handler]: a waiting Read or Write of the
// socket is woken, and an idle read side starts a burst, here on the
// poller's goroutine when the batch allows it and nothing the burst may
// do can wait (see [conn.burstInline]), else on the pool.
func (h *pollHandler) Ready(ev eventloop.Events) {
	c := (*conn)(h)
	c.sock.Notify(ev)
	if ev&(eventloop.In|eventloop.Hangup) == 0 {
		return
	}
	if c.s.loop.inline && ev&eventloop.Hangup == 0 && c.s.inlineReads() && c.rstate.CompareAndSwap(readIdle, readRunning) {
		c.burstInline()
		return
	}
	c.Ready()
}

// inlineReads reports whether a read burst may run on the poller's
// goroutine: handling a PUBLISH or an acknowledgement never waits here.
// With a store (commits, back-pressure) or in a cluster (flow windows,
// the other nodes' counts) it may, so those bursts go to the pool.
func (s *Server) inlineReads() bool { return s.store == nil && s.bridge == nil }

// inlinePacket reports whether a packet of type t (the fixed header's
// first byte) is handled in a burst on the poller's goroutine: those of
// a message's flow and PINGREQ. SUBSCRIBE (retained messages, a cluster's
// sync), DISCONNECT and the rest go to the pool.
func inlinePacket(b byte) bool {
	switch packet.Type(b >> 4) {
	case packet.PUBLISH, packet.PUBACK, packet.PUBREC, packet.PUBREL, packet.PUBCOMP, packet.PINGREQ:
		return true
	}
	return false
}

// burstInline is a read burst on the poller's goroutine (see
// [loop.BatchBegin]), for a connection whose read side it took from
// idle. It makes one read, which does not wait, and handles the whole
// packets it brought; the connections they were routed to are written at
// the end of the poller's batch. It parks the read side again when the
// read emptied the socket at a packet boundary, and otherwise hands the
// burst on to the pool, as it is, to do what may wait: a packet that
// stops half way (read on with the packet's deadline), a read that
// filled the buffer (more may be waiting: the pool takes turns with the
// other connections), a packet other than a message's (see
// inlinePacket), an error or the end of the connection.
func (c *conn) burstInline() {
	l := c.s.loop
	defer func() {
		if r := recover(); r != nil {
			c.s.opts.Logger.Error("connection panic", "client", c.clientID, "panic", r, "stack", string(debug.Stack()))
			c.Kick(packet.ImplementationSpecificError, "internal error")
			c.toPool(errInternal)
		}
	}()
	if c.route == nil {
		c.borrow()
	}
	c.route.sink = &l.wakes
	read := false
	for {
		if c.packetBuffered() {
			b, _ := c.route.br.Peek(1)
			if !inlinePacket(b[0]) {
				c.toPool(nil)
				return
			}
			p, err := c.route.pr.ReadPacket() // whole in the buffer: no read
			if err == nil {
				err = c.handle(p)
			}
			if err != nil {
				c.toPool(err)
				return
			}
			continue
		}
		if read || c.route.br.Buffered() == c.route.br.Size() {
			if c.route.br.Buffered() > 0 || !c.in.short {
				c.toPool(nil)
				return
			}
			break
		}
		read = true
		c.in.nonblock = true
		_, err := c.route.br.Peek(c.route.br.Buffered() + 1) // one read, as much as fits
		c.in.nonblock = false
		switch {
		case err == nil:
		case errors.Is(err, errWouldBlock):
			if c.route.br.Buffered() > 0 {
				c.toPool(nil) // inside a packet
				return
			}
			c.in.short = true
		default:
			c.toPool(err)
			return
		}
	}
	// Emptied at a packet boundary: park, as burst does.
	c.giveBack() // and the router's connections go to the batch
	c.idleSince.Store(time.Now().UnixNano())
	if !c.rstate.CompareAndSwap(readRunning, readIdle) {
		c.rstate.Store(readRunning) // an event came meanwhile (writerExit): look again
		c.toPool(nil)
	}
}

// toPool hands an inline burst (see [conn.burstInline]) on to the pool:
// a read task that goes on from where it stopped, or, with err, one that
// ends the connection with err. What the burst routed so far is written
// with the poller's batch.
func (c *conn) toPool(err error) {
	l := c.s.loop
	if r := c.route; r != nil {
		r.flushWakes()
		r.sink = nil
	}
	l.bursts.Add(1)
	if err != nil {
		l.pool.Go(&endTask{c: c, err: err})
		return
	}
	l.pool.Go((*readTask)(c))
}

// endTask ends a connection whose inline burst failed: a read error, a
// malformed packet, a protocol error, or a panic (errInternal, already
// kicked).
type endTask struct {
	c   *conn
	err error
}

func (t *endTask) Run() {
	c := t.c
	defer c.s.loop.bursts.Add(-1)
	handedOff := false
	defer c.guard(&handedOff)
	err := t.err
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		err = io.EOF // as readLoop reports it
	}
	c.endRead(err)
}

// errInternal ends a connection whose handling panicked (it was kicked
// with the reason already).
var errInternal = errors.New("internal error")

// register hands the connection's read side to the poller once CONNECT
// is handled (the socket itself was registered by newConn).
func (c *conn) register() {
	c.rstate.Store(readRunning)
	c.registered = true
	// The CONNECT's deadline no longer applies: the next read sets the
	// packet's own (see input.Read).
	c.in.deadline = 0
	if c.keepAlive > 0 {
		c.idleSince.Store(time.Now().UnixNano())
		c.s.loop.wheel.Schedule(&c.kaEntry, time.Now().Add(c.keepAliveIdle()).UnixNano())
	}
}

// Ready starts a burst if the read side is idle (or tells the one running
// to look again): bytes arrived, the peer hung up, or (see writerExit) the
// socket was closed under an idle read side.
func (c *conn) Ready() {
	for {
		switch c.rstate.Load() {
		case readIdle:
			if c.rstate.CompareAndSwap(readIdle, readRunning) {
				c.s.loop.bursts.Add(1)
				c.s.loop.pool.Go((*readTask)(c))
				return
			}
		case readRunning:
			if c.rstate.CompareAndSwap(readRunning, readAgain) {
				return
			}
		default:
			return
		}
	}
}

// kaOwner is the connection whose kaEntry e is (the wheel's owner
// function): found from its address, like input.conn.
func kaOwner(e *eventloop.Entry[*conn]) *conn {
	return (*conn)(unsafe.Add(unsafe.Pointer(e), -int(unsafe.Offsetof(conn{}.kaEntry))))
}

// Due implements [eventloop.Due]: the keep alive check of an event-loop
// connection, on the wheel's goroutine. A connection idle for 1.5 × its
// keep alive [MQTT-3.1.2-24] is ended by a read task that finds timedOut.
func (c *conn) Due(now int64) int64 {
	ka := int64(c.keepAliveIdle())
	switch c.rstate.Load() {
	case readEnded:
		return 0
	case readIdle:
		if since := c.idleSince.Load(); since+ka > now {
			return since + ka
		}
		if c.rstate.CompareAndSwap(readIdle, readRunning) {
			c.timedOut = true // published to the task by Pool.Go
			c.s.loop.bursts.Add(1)
			c.s.loop.pool.Go((*readTask)(c))
			return 0
		}
	}
	// Reading: a stall inside a packet is PacketTimeout's; look again later.
	return now + ka
}

// burst reads what has arrived, handling packets until the socket has
// nothing more at a packet boundary, then parks the read side in the
// poller. It owns the connection's ending like [conn.reads].
func (c *conn) burst() {
	handedOff := false
	defer c.guard(&handedOff)
	if c.timedOut {
		c.endRead(errIdleTimeout)
		return
	}
	for {
		// The first read of a burst does not wait: the event may be for
		// bytes an earlier burst already read. A burst that goes on from
		// an inline one (burstInline) may start inside a packet: its
		// first read waits, with the packet's deadline, as any read
		// inside a packet does.
		c.in.nonblock = c.route == nil || c.route.br.Buffered() == 0
		err := c.readLoop()
		var more bool
		switch {
		case err == errIdle:
			// A read that filled the buffer may have left bytes in the
			// socket, which will bring no new event: read on.
			more = !c.in.short
		case errors.Is(err, errWouldBlock) && c.route != nil && c.route.br.Buffered() == 0:
			c.giveBack()
		default:
			c.endRead(err)
			return
		}
		c.in.nonblock = false
		if more {
			continue
		}
		c.idleSince.Store(time.Now().UnixNano())
		if c.rstate.CompareAndSwap(readRunning, readIdle) {
			handedOff = true
			return
		}
		c.rstate.Store(readRunning) // an event came meanwhile: look again
	}
}

// endRead ends the connection from the read side.
func (c *conn) endRead(err error) {
	c.endWith(err)
	c.drain()
	c.end()
}

// errWouldBlock is a burst's first read finding nothing: the read side
// parks.
var errWouldBlock = eventloop.ErrWouldBlock

// writeBufs writes a batch: with one writev on the event loop's socket
// (net.Buffers.WriteTo would write it a buffer at a time there), with the
// runtime's writev otherwise. Like WriteTo it consumes *b.
func (c *conn) writeBufs(b *net.Buffers) (int64, error) {
	if c.evMode {
		return c.sock.Writev(b)
	}
	return b.WriteTo(c.nc)
}

// streamedConn reports whether nc writes net.Buffers with writev: plain
// TCP and Unix sockets (TLS and WebSocket wrap theirs in state of their
// own).
func streamedConn(nc net.Conn) bool {
	switch nc.(type) {
	case *net.TCPConn, *net.UnixConn:
		return true
	}
	return false
}
