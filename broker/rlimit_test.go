//go:build linux

package broker_test

import (
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mqttboard/mqttboard/packet"
)

// setNoFile lowers the process's soft limit on open descriptors (the
// broker process of TestAcceptOutOfDescriptors).
func setNoFile(t *testing.T, v string) {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	lim.Cur = min(n, lim.Max)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
}

// TestAcceptOutOfDescriptors: a broker out of descriptors (EMFILE: 150
// clients against a limit of 64) backs off and keeps serving: the
// connections it holds are served, and once the clients close, every
// one of them is given back and a new client is served.
func TestAcceptOutOfDescriptors(t *testing.T) {
	c := startChild(t, "MQTTBOARD_NOFILE=64", "MQTTBOARD_LIFECYCLE_LOGS=1")
	connect := func(nc net.Conn, id string) error {
		b, _ := (&packet.Connect{ProtocolVersion: packet.V311, ClientID: id, CleanStart: true, KeepAlive: 60}).AppendTo(nil, packet.V311)
		if _, err := nc.Write(b); err != nil {
			return err
		}
		nc.SetReadDeadline(time.Now().Add(wait))
		var ack [4]byte
		if _, err := io.ReadFull(nc, ack[:]); err != nil {
			return err
		}
		if ack != [4]byte{0x20, 2, 0, 0} {
			return fmt.Errorf("CONNACK % x", ack)
		}
		return nil
	}
	// Warm the pools (the event loop's workers stay) before the baseline.
	var conns []net.Conn
	for i := range 20 {
		nc, err := net.Dial("tcp", c.addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, nc)
		if err := connect(nc, fmt.Sprint("warm-", i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, nc := range conns {
		nc.Close()
	}
	base := c.measure("measure")
	conns = conns[:0]
	for i := range 150 {
		nc, err := net.Dial("tcp", c.addr)
		if err != nil {
			t.Fatal(err) // the kernel's backlog takes them, accepted or not
		}
		conns = append(conns, nc)
		if i < 20 { // within the limit: served now
			if err := connect(nc, fmt.Sprint("held-", i)); err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
		}
	}
	c.waitLog("too many open files")
	for _, nc := range conns {
		nc.Close()
	}
	m := c.measure("measure") // waits until the broker holds no connection
	if m.conns != 0 {
		t.Fatalf("%d connections held after the clients closed", m.conns)
	}
	// The event loop's pool keeps up to 32 idle workers on 2 processors
	// (more on more): a goroutine left per refused connection would be
	// 130 here. The clients' closes reach the broker asynchronously: the
	// accept loop may still take closed connections from the kernel's
	// backlog after the count above reached 0 (on the goroutine
	// transport each one runs a goroutine until it reads the EOF), so
	// the count is looked at again until it settles, bounded.
	limit := base.goroutines + 16*max(2, runtime.GOMAXPROCS(0)) + 2
	for deadline := time.Now().Add(10 * time.Second); m.goroutines > limit && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		m = c.measure("measure")
	}
	t.Logf("baseline %v; after: %v", base, m)
	if m.goroutines > limit {
		c.dumpGoroutines()
		t.Errorf("%d goroutines, baseline %d", m.goroutines, base.goroutines)
	}
	nc, err := net.Dial("tcp", c.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := connect(nc, "after"); err != nil {
		t.Fatalf("a client after the shortage: %v", err)
	}
}
