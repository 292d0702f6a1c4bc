package eventloop

import (
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

const wait = 5 * time.Second

type chanHandler chan struct{}

func (h chanHandler) Ready(ev Events) {
	if ev&(In|Hangup) == 0 {
		return // room to write: not what these tests wait for
	}
	select {
	case h <- struct{}{}:
	default:
	}
}

func recv(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(wait):
		t.Fatalf("no %s within %v", what, wait)
	}
}

// pair returns both ends of a loopback TCP connection.
func pair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

func add(t *testing.T, p *Poller, c net.Conn, h Handler) Token {
	t.Helper()
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var tok Token
	var aerr error
	if err := rc.Control(func(fd uintptr) { tok, aerr = p.Add(int(fd), h) }); err != nil || aerr != nil {
		t.Fatalf("Add: %v %v", err, aerr)
	}
	return tok
}

// TestPollerReadyOnBytesAndHangup: the handler hears of each arrival
// (edge-triggered) and of the peer closing; after Forget it hears nothing.
func TestPollerReadyOnBytesAndHangup(t *testing.T) {
	if !Supported() {
		t.Skip("no poller on this platform")
	}
	p, err := NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	srv, cli := pair(t)
	h := make(chanHandler, 1)
	tok := add(t, p, srv, h)
	cli.Write([]byte("a"))
	recv(t, h, "event for the first byte")
	cli.Write([]byte("b")) // unread bytes stay: a new arrival is a new edge
	recv(t, h, "event for the second byte")
	buf := make([]byte, 8)
	if n, _ := srv.Read(buf); n != 2 {
		t.Fatalf("read %d bytes, want 2", n)
	}
	cli.Close()
	recv(t, h, "event for the peer closing")

	srv2, cli2 := pair(t)
	h2 := make(chanHandler, 1)
	tok2 := add(t, p, srv2, h2)
	p.Forget(tok2)
	cli2.Write([]byte("x"))
	select {
	case <-h2:
		t.Fatal("Ready after Forget")
	case <-time.After(100 * time.Millisecond):
	}
	if tok == tok2 {
		t.Fatal("a reused slot kept its token")
	}
}

type countTask struct {
	n    *atomic.Int32
	done chan struct{}
}

func (c countTask) Run() {
	c.n.Add(1)
	c.done <- struct{}{}
}

// TestPoolKeepsFewIdle: every task runs, and no more than maxIdle
// goroutines wait afterwards; Close ends them.
func TestPoolKeepsFewIdle(t *testing.T) {
	p := NewPool(2)
	var n atomic.Int32
	done := make(chan struct{}, 100)
	for range 100 {
		p.Go(countTask{&n, done})
	}
	for range 100 {
		recv(t, done, "task")
	}
	deadline := time.Now().Add(wait)
	for p.idle.Load() > 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := p.idle.Load(); got > 2 {
		t.Fatalf("%d idle workers, want at most 2", got)
	}
	p.Close()
	p.Go(countTask{&n, done}) // after Close, still run
	recv(t, done, "task after Close")
	if n.Load() != 101 {
		t.Fatalf("%d tasks ran", n.Load())
	}
}

type blockTask struct {
	started chan struct{}
	release chan struct{}
}

func (b blockTask) Run() {
	b.started <- struct{}{}
	<-b.release
}

// TestPoolCountsHandOverAtOnce: a worker handed a task stops counting as
// idle when Go returns, not when it runs, so a worker finishing in
// between does not count it and end.
func TestPoolCountsHandOverAtOnce(t *testing.T) {
	p := NewPool(1)
	defer p.Close()
	var n atomic.Int32
	done := make(chan struct{}, 1)
	p.Go(countTask{&n, done})
	recv(t, done, "task")
	deadline := time.Now().Add(wait)
	for p.idle.Load() != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := p.idle.Load(); got != 1 {
		t.Fatalf("%d idle workers after a task, want 1", got)
	}
	b := blockTask{make(chan struct{}, 1), make(chan struct{})}
	defer close(b.release)
	p.Go(b) // to the idle worker
	if got := p.idle.Load(); got != 0 {
		t.Fatalf("%d idle workers right after the hand-over, want 0", got)
	}
	recv(t, b.started, "the handed-over task")
}

// dueEntry is a wheel entry's owner calling a func.
type dueEntry struct {
	e   Entry[*dueEntry] // first: the owner is at the entry's address
	due func(now int64) int64
}

func (d *dueEntry) Due(now int64) int64 { return d.due(now) }

func dueOwner(e *Entry[*dueEntry]) *dueEntry { return (*dueEntry)(unsafe.Pointer(e)) }

// TestWheelFiresNotEarly: an entry fires after its deadline (never
// before), can be moved and cancelled, and a returned deadline
// reschedules it.
func TestWheelFiresNotEarly(t *testing.T) {
	w := NewWheel(10*time.Millisecond, dueOwner)
	defer w.Close()
	fired := make(chan int64, 10)
	at := time.Now().Add(30 * time.Millisecond).UnixNano()
	again := true
	e := &dueEntry{due: func(now int64) int64 {
		fired <- now
		if again {
			again = false
			return now + int64(20*time.Millisecond)
		}
		return 0
	}}
	w.Schedule(&e.e, at)
	for i := range 2 {
		select {
		case now := <-fired:
			if now < at {
				t.Fatalf("fired %v early", time.Duration(at-now))
			}
			at = now + int64(20*time.Millisecond)
		case <-time.After(wait):
			t.Fatalf("firing %d missing", i)
		}
	}
	c := &dueEntry{due: func(int64) int64 { t.Error("cancelled entry fired"); return 0 }}
	w.Schedule(&c.e, time.Now().Add(20*time.Millisecond).UnixNano())
	w.Cancel(&c.e)
	ch := make(chan struct{}, 1)
	done := &dueEntry{due: func(int64) int64 { ch <- struct{}{}; return 0 }}
	w.Schedule(&done.e, time.Now().Add(40*time.Millisecond).UnixNano())
	recv(t, ch, "the last entry")
}
