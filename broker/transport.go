package broker

import (
	"errors"
	"net"
	"net/netip"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/mqttboard/mqttboard/broker/eventloop"
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
	wheel  *eventloop.Wheel
	// bursts counts the read tasks handed to the pool and not yet done:
	// more than one means the loop is busy, and the writer leaves the
	// writes to the write tasks, which then carry the messages of many
	// bursts in one writev (see conn.writeNow).
	bursts atomic.Int32
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
// the platform has none or Options chose goroutines. Called with s.mu held.
func (s *Server) eventLoop() *loop {
	if s.opts.Transport != TransportEventLoop || s.loopFailed {
		return nil
	}
	if s.loop == nil {
		p, err := eventloop.NewPoller()
		if err != nil {
			s.loopFailed = true
			if !errors.Is(err, eventloop.ErrUnsupported) {
				s.opts.Logger.Warn("event loop unavailable, serving each connection with its own goroutine", "err", err)
			}
			return nil
		}
		s.loop = &loop{poller: p, pool: eventloop.NewPool(poolIdle()), wheel: eventloop.NewWheel(keepAliveTick)}
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
// socket is woken, and an idle read side starts a burst.
func (h *pollHandler) Ready(ev eventloop.Events) {
	c := (*conn)(h)
	c.sock.Notify(ev)
	if ev&(eventloop.In|eventloop.Hangup) != 0 {
		c.Ready()
	}
}

// register hands the connection's read side to the poller once CONNECT
// is handled (the socket itself was registered by newConn).
func (c *conn) register() {
	c.rstate.Store(readRunning)
	c.registered = true
	// The CONNECT's deadline no longer applies: the next read sets the
	// packet's own (see input.Read).
	c.in.deadline = 0
	if c.keepAlive > 0 {
		c.kaEntry.Owner = c
		c.idleSince.Store(time.Now().UnixNano())
		c.s.loop.wheel.Schedule(&c.kaEntry, time.Now().Add(c.keepAlive*3/2).UnixNano())
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

// Due implements [eventloop.Due]: the keep alive check of an event-loop
// connection, on the wheel's goroutine. A connection idle for 1.5 × its
// keep alive [MQTT-3.1.2-24] is ended by a read task that finds timedOut.
func (c *conn) Due(now int64) int64 {
	ka := int64(c.keepAlive * 3 / 2)
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
		// bytes an earlier burst already read.
		c.in.nonblock = true
		err := c.readLoop()
		var more bool
		switch {
		case err == errIdle:
			// A read that filled the buffer may have left bytes in the
			// socket, which will bring no new event: read on.
			more = !c.in.short
		case errors.Is(err, errWouldBlock) && c.br != nil && c.br.Buffered() == 0:
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
