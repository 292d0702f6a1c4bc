//go:build linux

package eventloop

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Socket is a TCP connection the broker reads and writes with system
// calls of its own on a raw descriptor registered with a [Poller], not
// through the runtime's poller: an idle Socket is this struct and the
// kernel's socket, nothing else (a net.TCPConn also holds a netFD, two
// TCPAddrs, a cached iovec array and the runtime's pollDesc with its two
// deadline timers, ~600 bytes per connection in all; bench/transportcmp
// and BENCHMARKS.md have the measurement). It is a [net.Conn]: a Read or
// Write that finds the socket empty or full waits for the poller's next
// event for it (see [Socket.Notify]) or its deadline, so the code above
// it is the same as on a net.TCPConn.
//
// Embed it in the connection (its zero value is unused) and call
// [Socket.Init]; the connection's [Handler] must pass every event to
// [Socket.Notify].
type Socket struct {
	fd int32
	// The peer's address: port and zone (an interface index, 0: none)
	// next to fd, the address as 16 bytes (an IPv4 one IPv4-mapped): 24
	// bytes where a netip.AddrPort takes 32 and its padding.
	port, zone uint16
	ip         [16]byte
	// state counts the calls using fd, with sockClosed set by Close: the
	// descriptor is closed when both hold (no call in progress), so a
	// number reused by the next accept is never read by a late call.
	state atomic.Int64
	// rseq and wseq count the poller's readiness events per direction: a
	// call that read EAGAIN waits only if no event came since it began.
	rseq, wseq atomic.Uint32

	mu       sync.Mutex // guards the fields below
	rdl, wdl int64      // read and write deadlines, Unix nanoseconds; 0: none
	// ch is made by a waiting Read or Write (one channel for both: a
	// waiter woken by the other direction's event finds its own count
	// unchanged and waits again) and closed to wake them.
	ch chan struct{}
}

const sockClosed = 1 << 62

// Detach takes the descriptor out of an accepted *net.TCPConn: it returns
// a duplicate (non-blocking, like the original) and the peer's address,
// and closes nc, so the runtime forgets the socket. Anything else, or a
// failure, returns an error and leaves nc as it was.
func Detach(nc net.Conn) (fd int, raddr netip.AddrPort, err error) {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return -1, raddr, ErrUnsupported
	}
	ta, _ := tc.RemoteAddr().(*net.TCPAddr)
	if ta == nil {
		return -1, raddr, ErrUnsupported
	}
	raddr = ta.AddrPort()
	raddr = netip.AddrPortFrom(raddr.Addr().Unmap(), raddr.Port())
	rc, err := tc.SyscallConn()
	if err != nil {
		return -1, raddr, err
	}
	var derr error
	if err := rc.Control(func(s uintptr) {
		fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, raddr, err
	}
	if derr != nil {
		return -1, raddr, os.NewSyscallError("fcntl", derr)
	}
	tc.Close()
	return fd, raddr, nil
}

// Acceptor accepts TCP connections on a listener's own socket with
// accept4, as raw non-blocking descriptors for a [Socket]: the runtime
// builds no net.TCPConn (a netFD, a pollDesc registration, two TCPAddrs:
// six allocations of garbage per connection, in the small size classes
// the connections' long-lived state lives in) only for [Detach] to take
// the descriptor out again.
//
// It waits for connections in the runtime's poller on a duplicate of the
// listener's descriptor (a listener's [syscall.RawConn] cannot wait):
// [Acceptor.Close] closes that duplicate and ends a waiting Accept with
// [net.ErrClosed]. Closing the listener alone does not wake a waiting
// Accept (the duplicate keeps the socket listening): the next connection
// then finds the listener closed and is refused, and Accept returns
// [net.ErrClosed]. Close both.
//
// The accepted socket gets what net.TCPListener gives its connections:
// TCP_NODELAY and the runtime's default keep-alive (probes after 15 s
// idle, every 15 s, 9 of them).
type Acceptor struct {
	lrc syscall.RawConn       // the listener's: is it still open?
	f   *os.File              // the duplicate, in the runtime's poller
	rc  syscall.RawConn       // f's
	try func(fd uintptr) bool // a.tryAccept, made once: Accept allocates nothing
	// What the last tryAccept found: a descriptor and its peer, or err.
	fd   int
	err  error
	rsa  unix.RawSockaddrAny
	rlen uint32
}

// NewAcceptor returns an Acceptor for l, a *net.TCPListener; anything
// else returns [ErrUnsupported]. Only one goroutine may call its Accept.
func NewAcceptor(l net.Listener) (*Acceptor, error) {
	tl, ok := l.(*net.TCPListener)
	if !ok {
		return nil, ErrUnsupported
	}
	lrc, err := tl.SyscallConn()
	if err != nil {
		return nil, err
	}
	var dup int
	var derr error
	if err := lrc.Control(func(s uintptr) { dup, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, os.NewSyscallError("fcntl", derr)
	}
	f := os.NewFile(uintptr(dup), "listener") // non-blocking (shared with l's): in the runtime's poller
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	a := &Acceptor{lrc: lrc, f: f, rc: rc}
	a.try = a.tryAccept
	return a, nil
}

// Accept waits for a connection and returns its descriptor (non-blocking,
// close-on-exec) and the peer's address. An error other than
// [net.ErrClosed] (the Acceptor or the listener was closed) is the
// kernel's, as net.TCPListener.Accept returns it: EMFILE and ENFILE (out
// of descriptors) among them, for the caller to back off and try again.
func (a *Acceptor) Accept() (fd int, raddr netip.AddrPort, err error) {
	if err := a.rc.Read(a.try); err != nil {
		return -1, raddr, net.ErrClosed // only Close fails it (a file's "closed" error)
	}
	if a.err != nil {
		return -1, raddr, a.err
	}
	fd = a.fd
	if err := a.lrc.Control(func(uintptr) {}); err != nil {
		unix.Close(fd) // the listener was closed: it accepts no more
		return -1, raddr, net.ErrClosed
	}
	raddr = addrPort(&a.rsa)
	// As net.TCPListener sets them (errors ignored there too: a peer gone
	// already shows at the first read).
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 15)
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 15)
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 9)
	return fd, raddr, nil
}

// Close closes the Acceptor's duplicate of the listener's descriptor
// (not the listener): a waiting Accept returns [net.ErrClosed]. The
// descriptor is closed once no Accept uses it.
func (a *Acceptor) Close() error { return a.f.Close() }

// tryAccept is accept4 on the listener's descriptor, non-blocking: false
// when no connection waits (the runtime's poller then waits for one).
// Raw, like rawRead: it never blocks.
func (a *Acceptor) tryAccept(lfd uintptr) bool {
	for {
		a.rlen = uint32(unsafe.Sizeof(a.rsa))
		r, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, lfd, uintptr(unsafe.Pointer(&a.rsa)), uintptr(unsafe.Pointer(&a.rlen)),
			unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		switch e {
		case 0:
			a.fd, a.err = int(r), nil
			return true
		case unix.EINTR, unix.ECONNABORTED: // a connection reset in the queue: the next one (as the runtime does)
			continue
		case unix.EAGAIN:
			return false
		}
		a.fd, a.err = -1, os.NewSyscallError("accept4", e)
		return true
	}
}

// addrPort is the address in an accepted connection's sockaddr, an
// IPv4-mapped IPv6 one unmapped (as [Detach] gives it).
func addrPort(rsa *unix.RawSockaddrAny) netip.AddrPort {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), ntohs(sa.Port))
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		a := netip.AddrFrom16(sa.Addr)
		if a.Is4In6() {
			a = a.Unmap()
		} else if sa.Scope_id != 0 {
			if ifi, err := net.InterfaceByIndex(int(sa.Scope_id)); err == nil {
				a = a.WithZone(ifi.Name)
			}
		}
		return netip.AddrPortFrom(a, ntohs(sa.Port))
	}
	return netip.AddrPort{}
}

// ntohs reads a port as the kernel stores it, in network byte order.
func ntohs(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// Init makes s serve fd, a non-blocking socket whose peer is raddr.
func (s *Socket) Init(fd int, raddr netip.AddrPort) {
	s.fd = int32(fd)
	a := raddr.Addr()
	s.ip, s.port, s.zone = a.As16(), raddr.Port(), 0
	if z := a.Zone(); z != "" {
		if ifi, err := net.InterfaceByName(z); err == nil && ifi.Index > 0 && ifi.Index <= 0xffff {
			s.zone = uint16(ifi.Index)
		}
	}
}

// FD is the descriptor, for [Poller.Add].
func (s *Socket) FD() int { return int(s.fd) }

// Notify passes on a readiness event from the [Poller]: a Read or Write
// waiting for it is woken. Call it from the connection's Handler.
func (s *Socket) Notify(ev Events) {
	in := ev&(In|Hangup) != 0
	out := ev&(Out|Hangup) != 0
	if in {
		s.rseq.Add(1)
	}
	if out {
		s.wseq.Add(1)
	}
	if in || out {
		s.wake()
	}
}

// wake wakes every waiting Read and Write: each looks again.
func (s *Socket) wake() {
	s.mu.Lock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
	s.mu.Unlock()
}

func (s *Socket) acquire() bool {
	for {
		st := s.state.Load()
		if st&sockClosed != 0 {
			return false
		}
		if s.state.CompareAndSwap(st, st+1) {
			return true
		}
	}
}

func (s *Socket) release() {
	if s.state.Add(-1) == sockClosed {
		unix.Close(int(s.fd))
	}
}

// Close closes the socket; a Read or Write waiting on it returns
// net.ErrClosed. The descriptor is closed once no call uses it (which
// also takes it out of the poller's epoll set).
func (s *Socket) Close() error {
	for {
		st := s.state.Load()
		if st&sockClosed != 0 {
			return net.ErrClosed
		}
		if s.state.CompareAndSwap(st, st|sockClosed) {
			if st == 0 {
				unix.Close(int(s.fd))
			}
			break
		}
	}
	s.wake()
	return nil
}

// CloseWrite shuts down the sending side (FIN after what was written).
func (s *Socket) CloseWrite() error {
	if !s.acquire() {
		return net.ErrClosed
	}
	defer s.release()
	return os.NewSyscallError("shutdown", unix.Shutdown(int(s.fd), unix.SHUT_WR))
}

// ErrWouldBlock is [Socket.ReadNow] finding nothing to read, or
// [Socket.WritevNow] no room to write.
var ErrWouldBlock = errors.New("eventloop: no bytes waiting")

// ReadNow reads what is there without waiting: ErrWouldBlock if nothing.
func (s *Socket) ReadNow(p []byte) (int, error) {
	if !s.acquire() {
		return 0, net.ErrClosed
	}
	defer s.release()
	for {
		n, err := rawRead(s.fd, p)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return 0, ErrWouldBlock
		case err != nil:
			return 0, os.NewSyscallError("read", err)
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// Read reads, waiting for bytes until the read deadline.
func (s *Socket) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if !s.acquire() {
		return 0, net.ErrClosed
	}
	defer s.release()
	for {
		seq := s.rseq.Load()
		n, err := rawRead(s.fd, p)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			if err := s.wait(false, seq); err != nil {
				return 0, err
			}
			continue
		case err != nil:
			return 0, os.NewSyscallError("read", err)
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// Write writes all of p, waiting for room until the write deadline.
func (s *Socket) Write(p []byte) (int, error) {
	if !s.acquire() {
		return 0, net.ErrClosed
	}
	defer s.release()
	done := 0
	for done < len(p) {
		seq := s.wseq.Load()
		n, err := rawWrite(s.fd, p[done:])
		if n > 0 {
			done += n
		}
		switch {
		case err == syscall.EINTR:
		case err == syscall.EAGAIN:
			if err := s.wait(true, seq); err != nil {
				return done, err
			}
		case err != nil:
			return done, os.NewSyscallError("write", err)
		}
	}
	return done, nil
}

// maxIovecs is how many buffers one writev takes; a longer list is
// written in turns.
const maxIovecs = 128

// Writev writes all of *bufs with writev, waiting for room until the write
// deadline, and consumes what it wrote from *bufs (like
// net.Buffers.WriteTo: after an error *bufs holds the rest).
func (s *Socket) Writev(bufs *net.Buffers) (int64, error) { return s.writev(bufs, true) }

// WritevNow is Writev without waiting: when the socket is full it returns
// what it wrote and ErrWouldBlock, *bufs holding the rest.
func (s *Socket) WritevNow(bufs *net.Buffers) (int64, error) { return s.writev(bufs, false) }

func (s *Socket) writev(bufs *net.Buffers, wait bool) (int64, error) {
	if !s.acquire() {
		return 0, net.ErrClosed
	}
	defer s.release()
	var iov [maxIovecs]unix.Iovec
	var total int64
	for len(*bufs) > 0 {
		k := 0
		for _, b := range *bufs {
			if k == maxIovecs {
				break
			}
			if len(b) == 0 {
				continue
			}
			iov[k].Base = &b[0]
			iov[k].SetLen(len(b))
			k++
		}
		if k == 0 {
			*bufs = (*bufs)[:0]
			break
		}
		seq := s.wseq.Load()
		r, _, e := syscall.RawSyscall(syscall.SYS_WRITEV, uintptr(s.fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(k))
		clear(iov[:k]) // keep no payload reachable from this frame
		n := int64(r)
		if e != 0 {
			n = 0
		}
		if n > 0 {
			total += n
			consume(bufs, n)
		}
		switch {
		case e == 0:
		case e == syscall.EINTR:
		case e == syscall.EAGAIN:
			if !wait {
				return total, ErrWouldBlock
			}
			if err := s.wait(true, seq); err != nil {
				return total, err
			}
		default:
			return total, os.NewSyscallError("writev", e)
		}
	}
	return total, nil
}

// consume drops n written bytes from the front of *bufs.
func consume(bufs *net.Buffers, n int64) {
	for len(*bufs) > 0 {
		l := int64(len((*bufs)[0]))
		if l > n {
			(*bufs)[0] = (*bufs)[0][n:]
			return
		}
		n -= l
		(*bufs)[0] = nil
		*bufs = (*bufs)[1:]
	}
}

// wait blocks a Read (write false) or Write that found the socket empty
// or full until the poller's next event for that direction, the deadline
// or Close. seq is the direction's event count before the system call:
// an event since then returns at once.
func (s *Socket) wait(write bool, seq uint32) error {
	sq, dl := &s.rseq, &s.rdl
	if write {
		sq, dl = &s.wseq, &s.wdl
	}
	s.mu.Lock()
	if s.state.Load()&sockClosed != 0 {
		s.mu.Unlock()
		return net.ErrClosed
	}
	if sq.Load() != seq {
		s.mu.Unlock()
		return nil
	}
	var d time.Duration
	if *dl != 0 {
		if d = time.Duration(*dl - time.Now().UnixNano()); d <= 0 {
			s.mu.Unlock()
			return os.ErrDeadlineExceeded
		}
	}
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	c := s.ch
	s.mu.Unlock()
	if d > 0 {
		// Woken by its deadline, a waiter leaves ch for the other
		// direction's waiter, if any; the next event or Close closes it.
		t := time.NewTimer(d)
		select {
		case <-c:
		case <-t.C:
		}
		t.Stop()
	} else {
		<-c
	}
	return nil
}

func (s *Socket) setDeadline(t time.Time, read, write bool) {
	var d int64
	if !t.IsZero() {
		d = t.UnixNano()
	}
	s.mu.Lock()
	if read {
		s.rdl = d
	}
	if write {
		s.wdl = d
	}
	// A waiting call looks at its new deadline.
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
	s.mu.Unlock()
}

// SetDeadline implements [net.Conn].
func (s *Socket) SetDeadline(t time.Time) error { s.setDeadline(t, true, true); return nil }

// SetReadDeadline implements [net.Conn].
func (s *Socket) SetReadDeadline(t time.Time) error { s.setDeadline(t, true, false); return nil }

// SetWriteDeadline implements [net.Conn].
func (s *Socket) SetWriteDeadline(t time.Time) error { s.setDeadline(t, false, true); return nil }

// RemoteAddr implements [net.Conn]: the peer's address, kept as a
// netip.AddrPort (no allocation until asked).
func (s *Socket) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(s.AddrPort()) }

// AddrPort is the peer's address, without the allocation of RemoteAddr.
func (s *Socket) AddrPort() netip.AddrPort {
	a := netip.AddrFrom16(s.ip).Unmap() // Detach unmaps: a mapped one was IPv4
	if s.zone != 0 {
		if ifi, err := net.InterfaceByIndex(int(s.zone)); err == nil {
			a = a.WithZone(ifi.Name)
		}
	}
	return netip.AddrPortFrom(a, s.port)
}

// LocalAddr implements [net.Conn]; it asks the kernel (it is seldom
// needed, so it is not kept).
func (s *Socket) LocalAddr() net.Addr {
	if s.acquire() {
		defer s.release()
		if sa, err := unix.Getsockname(int(s.fd)); err == nil {
			switch sa := sa.(type) {
			case *unix.SockaddrInet4:
				return &net.TCPAddr{IP: net.IP(sa.Addr[:]).To16(), Port: sa.Port}
			case *unix.SockaddrInet6:
				return &net.TCPAddr{IP: net.IP(sa.Addr[:]), Port: sa.Port}
			}
		}
	}
	return &net.TCPAddr{}
}

// rawRead and rawWrite are read(2) and write(2) as raw system calls. The
// socket is non-blocking, so they never wait, and a raw call needs no
// hand-over of the processor: at low rates every entersyscall also woke
// the runtime's monitor thread from its sleep into polling every 20 µs
// (~650 wake-ups a second at 1,000 msg/s, strace -c). The writev in
// Writev is raw for the same reason.
func rawRead(fd int32, p []byte) (int, error) {
	var b unsafe.Pointer
	if len(p) > 0 {
		b = unsafe.Pointer(&p[0])
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(b), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

func rawWrite(fd int32, p []byte) (int, error) {
	var b unsafe.Pointer
	if len(p) > 0 {
		b = unsafe.Pointer(&p[0])
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(b), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

// CloseFD closes a descriptor [Detach] returned that no Socket took.
func CloseFD(fd int) error { return unix.Close(fd) }
