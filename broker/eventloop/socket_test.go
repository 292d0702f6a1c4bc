//go:build linux

package eventloop

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"
)

// notifier passes the poller's events to its Socket.
type notifier struct{ s *Socket }

func (n notifier) Ready(ev Events) { n.s.Notify(ev) }

// socketPair returns a registered Socket and the client end.
func socketPair(t *testing.T, p *Poller) (*Socket, net.Conn) {
	t.Helper()
	srv, cli := pair(t)
	fd, raddr, err := Detach(srv)
	if err != nil {
		t.Fatal(err)
	}
	if raddr.String() != cli.LocalAddr().String() {
		t.Fatalf("remote address %v, want %v", raddr, cli.LocalAddr())
	}
	s := new(Socket)
	s.Init(fd, raddr)
	if _, err := p.Add(fd, notifier{s}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, cli
}

func newPoller(t *testing.T) *Poller {
	t.Helper()
	p, err := NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestSocketRead: a Read waits for the peer's bytes, ReadNow does not,
// a deadline ends a waiting Read, Close wakes one, and the peer closing
// is io.EOF.
func TestSocketRead(t *testing.T) {
	p := newPoller(t)
	s, cli := socketPair(t, p)
	buf := make([]byte, 16)
	if _, err := s.ReadNow(buf); err != ErrWouldBlock {
		t.Fatalf("ReadNow on an empty socket: %v", err)
	}
	got := make(chan string, 1)
	go func() {
		n, err := s.Read(buf)
		got <- string(buf[:n]) + errString(err)
	}()
	cli.Write([]byte("hello"))
	if g := recvString(t, got); g != "hello" {
		t.Fatalf("Read %q", g)
	}

	s.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := s.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past its deadline: %v", err)
	}
	s.SetReadDeadline(time.Time{})

	go func() {
		_, err := s.Read(buf)
		got <- errString(err)
	}()
	// The Read waits (nothing to read); Close must wake it, whenever it
	// comes.
	s.Close()
	if g := recvString(t, got); g != net.ErrClosed.Error() {
		t.Fatalf("Read after Close: %q", g)
	}

	s2, cli2 := socketPair(t, p)
	cli2.Close()
	if _, err := s2.Read(buf); err != io.EOF {
		t.Fatalf("Read after the peer closed: %v", err)
	}
}

// TestSocketWritev: a batch larger than the socket buffers is written in
// full while the peer reads; with a peer that stops reading, the write
// deadline ends it and the buffers hold exactly what was not written.
func TestSocketWritev(t *testing.T) {
	p := newPoller(t)
	s, cli := socketPair(t, p)
	var want []byte
	var bufs net.Buffers
	for i := range 300 {
		b := bytes.Repeat([]byte{byte(i)}, 10_000)
		want = append(want, b...)
		bufs = append(bufs, b, nil) // empty buffers are skipped
	}
	read := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(cli, int64(len(want))))
		read <- b
	}()
	s.SetWriteDeadline(time.Now().Add(wait))
	if n, err := s.Writev(&bufs); err != nil || n != int64(len(want)) || len(bufs) != 0 {
		t.Fatalf("Writev: %d, %v, %d buffers left", n, err, len(bufs))
	}
	select {
	case b := <-read:
		if !bytes.Equal(b, want) {
			t.Fatal("the peer read other bytes")
		}
	case <-time.After(wait):
		t.Fatal("the peer did not read it all")
	}

	// Nobody reads now.
	bufs = net.Buffers{bytes.Repeat([]byte("x"), 64<<20)}
	s.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	n, err := s.Writev(&bufs)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Writev to a peer that does not read: %d, %v", n, err)
	}
	if rest := int64(len(bufs[0])); n+rest != 64<<20 || n == 0 {
		t.Fatalf("wrote %d, %d left, of %d", n, rest, 64<<20)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func recvString(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(wait):
		t.Fatal("no result")
		return ""
	}
}

// TestSocketAddrPort: the address the broker logs from AddrPort reads the
// same as RemoteAddr's, for IPv4, IPv6 and a zone.
func TestSocketAddrPort(t *testing.T) {
	for _, a := range []string{"127.0.0.1:54321", "[::1]:1883", "[fe80::1%lo]:8", "10.0.0.255:0"} {
		var s Socket
		s.Init(-1, netip.MustParseAddrPort(a))
		if got, want := s.AddrPort().String(), s.RemoteAddr().String(); got != want || got != a {
			t.Errorf("%s: AddrPort %q, RemoteAddr %q", a, got, want)
		}
	}
}
