//go:build linux

package eventloop

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openFDs counts the process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// TestAcceptor: connections accepted on the listener's socket come with
// the peer's address, non-blocking and close-on-exec, with TCP_NODELAY
// and keep-alive as net.TCPListener sets them, and serve a Socket.
func TestAcceptor(t *testing.T) {
	for _, tc := range []struct{ listen, dial string }{
		{"127.0.0.1:0", "127.0.0.1"},
		{"[::1]:0", "::1"},
		{"[::]:0", "127.0.0.1"}, // a dual-stack listener: the peer's address unmapped
	} {
		t.Run(tc.listen, func(t *testing.T) {
			l, err := net.Listen("tcp", tc.listen)
			if err != nil {
				t.Skipf("listen %s: %v", tc.listen, err)
			}
			defer l.Close()
			a, err := NewAcceptor(l)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			cli, err := net.Dial("tcp", net.JoinHostPort(tc.dial, itoa(l.Addr().(*net.TCPAddr).Port)))
			if err != nil {
				t.Fatal(err)
			}
			defer cli.Close()
			fd, raddr, err := a.Accept()
			if err != nil {
				t.Fatal(err)
			}
			if raddr.String() != cli.LocalAddr().String() {
				t.Errorf("peer %v, want %v", raddr, cli.LocalAddr())
			}
			flags, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
			fdflags, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
			nodelay, _ := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY)
			ka, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE)
			idle, _ := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)
			if flags&unix.O_NONBLOCK == 0 || fdflags&unix.FD_CLOEXEC == 0 || nodelay != 1 || ka != 1 || idle != 15 {
				t.Errorf("nonblock %v cloexec %v nodelay %d keepalive %d idle %d", flags&unix.O_NONBLOCK != 0, fdflags&unix.FD_CLOEXEC != 0, nodelay, ka, idle)
			}
			p := newPoller(t)
			s := new(Socket)
			s.Init(fd, raddr)
			defer s.Close()
			if _, err := p.Add(fd, notifier{s}); err != nil {
				t.Fatal(err)
			}
			cli.Write([]byte("ping"))
			s.SetReadDeadline(time.Now().Add(10 * time.Second))
			buf := make([]byte, 4)
			if n, err := s.Read(buf); err != nil || string(buf[:n]) != "ping" {
				t.Fatalf("read %q, %v", buf[:n], err)
			}
			if s.AddrPort() != raddr {
				t.Errorf("Socket's peer %v, want %v", s.AddrPort(), raddr)
			}
		})
	}
}

// TestAcceptorClose: Close ends a waiting Accept with net.ErrClosed; a
// listener closed alone makes the next Accept refuse its connection and
// return net.ErrClosed; either way no descriptor is left open.
func TestAcceptorClose(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0") // the runtime's poller starts with the first
	if err != nil {
		t.Fatal(err)
	}
	base := openFDs(t) // l among them
	a, err := NewAcceptor(l)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, _, err := a.Accept(); done <- err }()
	time.Sleep(20 * time.Millisecond) // let it wait (it returns the same either way)
	a.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not wake Accept")
	}
	l.Close()
	base--
	if n := openFDs(t); n != base {
		t.Errorf("%d descriptors open, %d before", n, base)
	}

	// The listener closed, not the Acceptor.
	l, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a, err = NewAcceptor(l)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	cli, err := net.Dial("tcp", l.Addr().String()) // the duplicate still listens
	if err == nil {
		if _, _, err := a.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept on a closed listener: %v", err)
		}
		cli.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := cli.Read(make([]byte, 1)); err == nil {
			t.Error("the connection to a closed listener was not closed")
		}
		cli.Close()
	}
	a.Close()
	if n := openFDs(t); n != base {
		t.Errorf("%d descriptors open, %d before", n, base)
	}
}

// TestAcceptorUnsupported: only a *net.TCPListener has a socket to
// accept on.
func TestAcceptorUnsupported(t *testing.T) {
	l, err := net.Listen("unix", t.TempDir()+"/s")
	if err != nil {
		t.Skip(err)
	}
	defer l.Close()
	if _, err := NewAcceptor(l); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("NewAcceptor(unix listener): %v", err)
	}
}

// TestAcceptorAllocations: Accept allocates nothing.
func TestAcceptorAllocations(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	a, err := NewAcceptor(l)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	const n = 50
	var clients []net.Conn
	for range n + 1 {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	allocs := testing.AllocsPerRun(n, func() {
		fd, _, err := a.Accept()
		if err != nil {
			t.Fatal(err)
		}
		unix.Close(fd)
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per Accept", allocs)
	}
}

func itoa(i int) string { return string(appendInt(nil, i)) }

func appendInt(b []byte, i int) []byte {
	if i >= 10 {
		b = appendInt(b, i/10)
	}
	return append(b, byte('0'+i%10))
}
