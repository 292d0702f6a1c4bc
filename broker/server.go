package broker

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttboard/mqttboard/broker/eventloop"
	"github.com/mqttboard/mqttboard/broker/retained"
	"github.com/mqttboard/mqttboard/broker/session"
	"github.com/mqttboard/mqttboard/broker/storage"
	"github.com/mqttboard/mqttboard/broker/topics"
	"github.com/mqttboard/mqttboard/packet"
)

// ErrServerClosed is returned by [Server.Serve] after [Server.Shutdown] or
// [Server.Close].
var ErrServerClosed = errors.New("broker: server closed")

// Server is an MQTT broker. Create it with [New].
type Server struct {
	opts     Options
	index    *topics.Index
	retained *retained.Store
	ctr      counters
	started  time.Time
	seq      atomic.Uint64
	// connecting is the bytes held by connections whose CONNECT is not
	// read yet (see Options.MaxConnectingBytes).
	connecting connectBudget
	insp       inspector // inspection and logs (inspect.go, logs.go)
	// routeLatency is sampled on the message path (latency.go).
	routeLatency latencyHistogram
	// store is Options.Store (nil: memory only); ackq feeds ackLoop the
	// commits that held acknowledgements wait for (durable.go);
	// restoreErr is what recovery at New met (persist.go).
	store      storage.Store
	shared     storage.Shared // store, when several nodes share it (cluster_store.go)
	ackq       chan ackWait
	restoreErr error
	sweeps     atomic.Uint64 // store sweeps done, for the compaction schedule
	// bridge joins the cluster (cluster.go); nil on a single node.
	bridge Bridge
	// hookBeforeRetained, set by tests only (export_test.go), runs in
	// handleSubscribe between SUBACK and the retained lookup.
	hookBeforeRetained atomic.Pointer[func(clientID string)]

	mu        sync.Mutex // guards everything below; see LOCKS.md
	sessions  map[string]*session.Session
	conns     map[*conn]struct{}
	listeners []net.Listener
	acceptors []*eventloop.Acceptor // the event loop's, on listeners' sockets (transport.go); closed with them
	closing   bool
	serveCtx  context.Context // set once Serve runs; AddListener then starts accepting at once
	acceptWG  sync.WaitGroup
	connWG    sync.WaitGroup
	done      chan struct{}
	// loop is the event-loop transport (transport.go), started with the
	// first connection it serves; loopFailed: it could not start.
	loop        *loop
	loopFailed  bool
	loopStopped bool
	stopTrim    func() // memtrim.go; set by Serve, run by stopLoop
}

// New returns a broker configured by opts; it does not listen until
// [Server.Listen] or [Server.Serve].
func New(opts Options) *Server {
	opts.applyDefaults()
	s := &Server{
		opts:     opts,
		index:    topics.NewIndex(),
		retained: retained.New(),
		started:  time.Now(),
		sessions: make(map[string]*session.Session),
		conns:    make(map[*conn]struct{}),
		done:     make(chan struct{}),
	}
	s.connecting.max = int64(opts.MaxConnectingBytes)
	if opts.Auth != nil {
		opts.Auth.Watch(s.revokeToken)
	}
	if opts.Store != nil {
		s.store = opts.Store
		s.shared, _ = opts.Store.(storage.Shared)
		s.ackq = make(chan ackWait, ackQueueLen)
		s.restoreErr = s.restore()
		go s.ackLoop()
	}
	return s
}

// Listen binds Options.Listen (TCP) so that [Server.Addr] is known before
// [Server.Serve] runs. Calling it twice is an error.
func (s *Server) Listen() error {
	l, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		return err
	}
	return s.AddListener(l)
}

// AddListener makes the broker accept connections from l (TLS, WebSocket
// or any other net.Listener, see package listeners) once Serve runs, or at
// once if it already does.
func (s *Server) AddListener(l net.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		l.Close()
		return ErrServerClosed
	}
	s.listeners = append(s.listeners, l)
	if s.serveCtx != nil {
		s.acceptWG.Go(func() { s.acceptLoop(s.serveCtx, l) })
	}
	return nil
}

// Addr returns the address of the first listener, nil before one is bound.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.listeners) == 0 {
		return nil
	}
	return s.listeners[0].Addr()
}

// Addrs returns the addresses of every listener.
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []net.Addr
	for _, l := range s.listeners {
		out = append(out, l.Addr())
	}
	return out
}

// ListenAndServe is [Server.Listen] then [Server.Serve].
func (s *Server) ListenAndServe(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	return s.Serve(ctx)
}

// Serve accepts connections on every listener (binding Options.Listen first
// if none was added) until ctx is done or the server is shut down; then it
// shuts down with a 5 s deadline. It returns [ErrServerClosed].
func (s *Server) Serve(ctx context.Context) error {
	if s.restoreErr != nil {
		s.Close()
		return s.restoreErr
	}
	s.mu.Lock()
	n := len(s.listeners)
	s.mu.Unlock()
	if n == 0 {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	go s.sweepLoop()
	go s.sysLoop()
	s.mu.Lock()
	if s.serveCtx != nil {
		s.mu.Unlock()
		return errors.New("broker: Serve called twice")
	}
	s.serveCtx = ctx
	s.stopTrim = startTrimmer(s.opts.MemoryTrim, s.trimLoop) // transport.go
	for _, l := range s.listeners {
		s.acceptWG.Go(func() { s.acceptLoop(ctx, l) })
	}
	s.mu.Unlock()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		s.Shutdown(sctx)
		cancel()
	case <-s.done:
	}
	s.acceptWG.Wait()
	return ErrServerClosed
}

func (s *Server) acceptLoop(ctx context.Context, l net.Listener) {
	accept, stopped := s.acceptor(l) // transport.go
	defer stopped()
	var delay time.Duration
	for {
		nc, fd, raddr, err := accept()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Temporary failures (EMFILE, ...) back off 5 ms → 1 s like
			// net/http instead of spinning.
			delay = min(max(delay*2, 5*time.Millisecond), time.Second)
			s.opts.Logger.Warn("accept failed", "addr", l.Addr(), "err", err, "retry", delay)
			select {
			case <-time.After(delay):
			case <-s.done:
				return
			}
			continue
		}
		delay = 0
		go func() {
			if c := s.track(nc, fd, raddr); c != nil {
				c.serve(ctx) // returns once the read loop is handed off (see conn.reads)
			}
		}()
	}
}

// sweepLoop drops expired retained messages once a minute so they do not
// hold memory until someone subscribes.
func (s *Server) sweepLoop() {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.retained.Sweep(time.Now())
			s.sweepStore() // persist.go
		case <-s.done:
			return
		}
	}
}

// ServeConn serves one MQTT connection on nc and returns when it has
// ended: its read and write loops are done, the socket is closed, and its
// session detached (the will published or scheduled). Tests and the TUI
// use it with net.Pipe.
func (s *Server) ServeConn(ctx context.Context, nc net.Conn) {
	if s.restoreErr != nil {
		nc.Close()
		return
	}
	c := s.track(nc, -1, netip.AddrPort{})
	if c == nil {
		return
	}
	c.serve(ctx)
	<-c.wait(connDone)
}

// track registers a new connection, or closes it when the server is
// closing: nc, or (nc nil) fd, a socket accepted for the event loop whose
// peer is raddr (see [Server.acceptor]). Every tracked connection is
// forgotten by its [conn.end].
func (s *Server) track(nc net.Conn, fd int, raddr netip.AddrPort) *conn {
	if nc != nil {
		fd, raddr = s.detachSocket(nc) // transport.go
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		if fd >= 0 {
			eventloop.CloseFD(fd)
		} else {
			nc.Close()
		}
		return nil
	}
	if fd >= 0 {
		nc = nil
	}
	c := newConn(s, nc, fd, raddr)
	if c == nil {
		return nil
	}
	s.conns[c] = struct{}{}
	s.connWG.Add(1)
	return c
}

// forget is the last step of [conn.end].
func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.connWG.Done()
}

// Shutdown stops accepting and ends every connection: the wills of
// connected clients are published first (their sessions end with the
// server [MQTT-3.1.2-8]) together with the pending delayed wills, then
// every client is sent what its session has queued (those wills included)
// and DISCONNECT 0x8B (Server shutting down, MQTT 5 only) and is closed.
// It returns when every connection has ended, or when ctx is done: then
// it closes what is left, waits for those to end, and returns ctx.Err().
func (s *Server) Shutdown(ctx context.Context) error {
	conns := s.stop()
	for _, c := range conns {
		s.publishWill(c.takeWill())
	}
	s.endSessions()
	for _, c := range conns {
		c.kick(packet.ServerShuttingDown, "server shutting down", true)
	}
	waited := make(chan struct{})
	go func() { s.connWG.Wait(); close(waited) }()
	var err error
	select {
	case <-waited:
	case <-ctx.Done():
		err = ctx.Err()
		for _, c := range conns {
			c.nc.Close()
		}
		<-waited
	}
	s.endSessions()
	s.stopLoop()
	s.closeStore()
	return err
}

// Close closes every listener and connection at once, without the
// DISCONNECT courtesy of [Server.Shutdown], and returns when every
// connection has ended.
func (s *Server) Close() error {
	for _, c := range s.stop() {
		c.Kick(0, "")
		c.nc.Close()
	}
	s.connWG.Wait()
	s.endSessions()
	s.stopLoop()
	s.closeStore()
	return nil
}

func (s *Server) stop() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closing {
		s.closing = true
		close(s.done)
		for _, l := range s.listeners {
			l.Close()
		}
		for _, a := range s.acceptors {
			a.Close()
		}
	}
	out := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}
