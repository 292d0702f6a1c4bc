//go:build linux

package eventloop

import (
	"errors"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Poller waits, on one goroutine, for readiness on every registered
// socket (epoll, edge-triggered) and calls the socket's [Handler] when
// bytes arrive, room to write appears or the peer hangs up.
//
// A registration is forgotten by the kernel when its socket is closed, so
// [Poller.Forget] only frees the slot; each event carries the slot's
// generation, so an event already fetched for a closed socket never
// reaches the handler that reuses its slot.
type Poller struct {
	epfd int
	wake int // an eventfd that interrupts epoll_wait for Close

	mu     sync.Mutex
	slots  []slot
	free   []uint32
	closed bool

	file *os.File // epfd, in the runtime's network poller
	rc   syscall.RawConn

	batcher Batcher // nil: none; set before the loop starts

	done chan struct{}
}

type slot struct {
	h   Handler
	gen uint32
}

// ready is one Handler call of a batch.
type ready struct {
	h  Handler
	ev Events
}

// Token names one registration.
type Token uint64

// NewPoller starts a poller.
func NewPoller() (*Poller, error) { return NewPollerBatched(nil) }

// NewPollerBatched starts a poller that tells b (if not nil) where each
// batch of events begins and ends.
func NewPollerBatched(b Batcher) (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	setData(&ev, wakeToken)
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wake)
		return nil, err
	}
	// The epoll set is itself waited for in the runtime's network poller
	// (an epoll descriptor is readable while it has events): the poller's
	// goroutine parks like any other instead of holding a thread and its
	// processor in epoll_wait, which the runtime's monitor then had to
	// take back (a thread wake-up per burst, and the monitor polling every
	// 20 µs instead of sleeping, at low rates).
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		unix.Close(wake)
		return nil, err
	}
	f := os.NewFile(uintptr(epfd), "epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		unix.Close(wake)
		return nil, err
	}
	p := &Poller{epfd: epfd, wake: wake, file: f, rc: rc, batcher: b, done: make(chan struct{})}
	go p.loop()
	return p, nil
}

// wakeToken marks the eventfd's events; slot tokens have gen >= 1.
const wakeToken Token = 0

func setData(ev *unix.EpollEvent, t Token) {
	ev.Fd = int32(uint32(t))
	ev.Pad = int32(uint32(t >> 32))
}

func data(ev *unix.EpollEvent) Token {
	return Token(uint32(ev.Fd)) | Token(uint32(ev.Pad))<<32
}

// Add registers fd; h.Ready is called, on the poller's goroutine, after
// bytes arrive on it (edge-triggered: once per arrival, not while unread
// bytes stay), after room to write appears following a full send buffer,
// and when the peer closes or resets. Ready must not wait. fd
// must stay open until Forget is called or its owner has closed it.
func (p *Poller) Add(fd int, h Handler) (Token, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return 0, ErrClosed
	}
	var i uint32
	if n := len(p.free); n > 0 {
		i = p.free[n-1]
		p.free = p.free[:n-1]
	} else {
		i = uint32(len(p.slots))
		p.slots = append(p.slots, slot{})
	}
	s := &p.slots[i]
	s.gen++
	if s.gen == 0 {
		s.gen = 1
	}
	s.h = h
	t := Token(s.gen)<<32 | Token(i)
	p.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET}
	setData(&ev, t)
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		p.Forget(t)
		return 0, err
	}
	return t, nil
}

// Forget frees t's slot: no Ready call starts for it afterwards (one
// already running may finish). The socket leaves the epoll set when it is
// closed.
func (p *Poller) Forget(t Token) {
	i := uint32(t)
	p.mu.Lock()
	if int(i) < len(p.slots) && p.slots[i].gen == uint32(t>>32) {
		p.slots[i].h = nil
		p.slots[i].gen++
		p.free = append(p.free, i)
	}
	p.mu.Unlock()
}

// ErrClosed is returned by Add after Close.
var ErrClosed = errors.New("eventloop: poller closed")

func (p *Poller) loop() {
	defer close(p.done)
	events := make([]unix.EpollEvent, 256)
	batch := make([]ready, 0, 256)
	var n int
	var werr error
	// wait looks before it parks, even after a batch that took every
	// event there was: RawConn.Read first resets the readiness the
	// runtime's poller may have kept for epfd while the batch ran
	// (pollReset), so parking without looking could sleep through an
	// event until the next one comes.
	wait := func(fd uintptr) bool {
		n, werr = epollPoll(int(fd), events)
		return n > 0 || werr != nil // nothing: park until epfd is readable
	}
	for {
		if err := p.rc.Read(wait); err != nil || werr != nil {
			return
		}
		batch = batch[:0]
		stop := false
		p.mu.Lock()
		for i := range events[:n] {
			t := data(&events[i])
			if t == wakeToken {
				stop = true
				continue
			}
			idx := uint32(t)
			if int(idx) < len(p.slots) && p.slots[idx].gen == uint32(t>>32) && p.slots[idx].h != nil {
				batch = append(batch, ready{p.slots[idx].h, toEvents(events[i].Events)})
			}
		}
		if stop {
			stop = p.closed
		}
		p.mu.Unlock()
		if p.batcher != nil && len(batch) > 0 {
			p.batcher.BatchBegin(len(batch))
		}
		for i, r := range batch {
			r.h.Ready(r.ev)
			batch[i].h = nil
		}
		if p.batcher != nil && len(batch) > 0 {
			p.batcher.BatchEnd()
		}
		if stop {
			return
		}
	}
}

// toEvents translates epoll's bits.
func toEvents(e uint32) Events {
	var ev Events
	if e&unix.EPOLLIN != 0 {
		ev |= In
	}
	if e&unix.EPOLLOUT != 0 {
		ev |= Out
	}
	if e&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		ev |= Hangup
	}
	return ev
}

// Close stops the poller's goroutine and closes its descriptors; the
// registered sockets are not touched.
func (p *Poller) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.done
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	unix.Write(p.wake, one)
	<-p.done
	unix.Close(p.wake)
	return p.file.Close()
}

// Supported reports whether this platform has a poller.
func Supported() bool { return true }

// epollPoll is epoll_pwait with a zero timeout and no signal mask (what
// epoll_wait is; arm64 has only epoll_pwait), as a raw system call: it
// never blocks, so it needs no hand-over of the processor (and does not
// wake the runtime's monitor thread, as every entersyscall does while it
// sleeps).
func epollPoll(epfd int, events []unix.EpollEvent) (int, error) {
	r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	switch e {
	case 0:
		return int(r), nil
	case unix.EINTR:
		return 0, nil
	}
	return 0, e
}
