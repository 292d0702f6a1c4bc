package bench

import (
	"io"
	"net"
	"testing"
	"time"
)

// TestStampedReader: the timestamp a read reports is the kernel's, taken
// when the bytes reached the socket (during the peer's write on the
// loopback), on the wall clock: between a clock reading before the write
// and one after it, however late the read comes. The kernel turns its
// timestamps on a moment after the first socket asks: the first writes
// may arrive without one (bounded: 10,000 writes or 10 s).
func TestStampedReader(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	s := newStampedReader(server)
	if s == nil {
		t.Fatal("no receive timestamps on a loopback TCP connection")
	}
	buf := make([]byte, 16)
	stamped := 0
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; stamped < 3; i++ {
		if i == 10000 || time.Now().After(deadline) {
			t.Fatalf("%d writes, %d read with a timestamp", i, stamped)
		}
		before := time.Now().UnixNano()
		if _, err := client.Write([]byte("0123456789")); err != nil {
			t.Fatal(err)
		}
		after := time.Now().UnixNano()
		got := 0
		for got < 10 {
			n, err := s.Read(buf[got:])
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
		if s.last == 0 {
			if stamped > 0 {
				t.Fatalf("write %d: no timestamp after a stamped one", i)
			}
			continue
		}
		stamped++
		if s.last < before || s.last > after {
			t.Fatalf("write %d: timestamp %d not within the write's %d..%d", i, s.last, before, after)
		}
	}
	client.Close()
	if n, err := s.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("after the peer closed: %d, %v; want 0, EOF", n, err)
	}
}
