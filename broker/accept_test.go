//go:build linux

package broker_test

import (
	"net/netip"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/packet"
)

// sysClient is an MQTT client on raw system calls: blocking socket, no
// net.Conn, no allocation per connection, so a test can count the
// broker's allocations in its own process.
type sysClient struct {
	t  testing.TB
	sa *unix.SockaddrInet4
}

func newSysClient(t testing.TB, addr string) *sysClient {
	t.Helper()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return &sysClient{t: t, sa: &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}}
}

// dial connects and sets a 20 s receive timeout (a broker that never
// answers fails the read instead of hanging the test).
func (r *sysClient) dial() int {
	r.t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		r.t.Fatal(err)
	}
	tv := unix.Timeval{Sec: 20}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	if err := unix.Connect(fd, r.sa); err != nil {
		unix.Close(fd)
		r.t.Fatal(err)
	}
	return fd
}

func (r *sysClient) write(fd int, b []byte) {
	r.t.Helper()
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err != nil {
			r.t.Fatal(err)
		}
		b = b[n:]
	}
}

// readFull reads exactly len(b) bytes.
func (r *sysClient) readFull(fd int, b []byte) {
	r.t.Helper()
	for len(b) > 0 {
		n, err := unix.Read(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			r.t.Fatalf("read: %d, %v", n, err)
		}
		b = b[n:]
	}
}

// TestAcceptAllocations: on the event loop, a plain TCP connection is
// accepted on the listener's socket (eventloop.Acceptor), not built as a
// net.TCPConn (a netFD, its pollDesc registration, two TCPAddrs: garbage
// in the small size classes the connections' state lives in) and taken
// apart, and connecting leaves no address string or log field behind as
// garbage. Counted over 300 connections that CONNECT (3.1.1) and get
// their CONNACK: 21.4 allocations per connection before, 10.9-11.7 after;
// at most 14 (not under -race, whose instrumentation allocates too).
func TestAcceptAllocations(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the event loop is Linux's")
	}
	_, addr := brokertest.StartServer(t, broker.Options{Transport: broker.TransportEventLoop, SysInterval: -1, MemoryTrim: -1})
	rc := newSysClient(t, addr)
	connect := func(prefix string, n int) []int {
		fds := make([]int, 0, n)
		var ack [4]byte
		pkts := make([][]byte, n)
		for i := range n {
			pkts[i], _ = (&packet.Connect{ProtocolVersion: packet.V311, CleanStart: true, KeepAlive: 60, ClientID: prefix + itoaTest(i)}).AppendTo(nil, packet.V311)
		}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := range n {
			fd := rc.dial()
			fds = append(fds, fd)
			rc.write(fd, pkts[i])
			rc.readFull(fd, ack[:])
			if ack != [4]byte{0x20, 2, 0, 0} {
				t.Fatalf("CONNACK % x", ack)
			}
		}
		runtime.ReadMemStats(&after)
		per := float64(after.Mallocs-before.Mallocs) / float64(n)
		t.Logf("%s: %.2f allocations, %.0f bytes allocated per connection", prefix, per, float64(after.TotalAlloc-before.TotalAlloc)/float64(n))
		return append(fds, int(per*100))
	}
	var all []int
	t.Cleanup(func() {
		for _, fd := range all {
			unix.Close(fd)
		}
	})
	warm := connect("warm-", 100) // pools, maps, the poller's slots
	all = append(all, warm[:len(warm)-1]...)
	got := connect("c-", 300)
	all = append(all, got[:len(got)-1]...)
	if per := float64(got[len(got)-1]) / 100; per > 14 && !raceEnabled {
		t.Errorf("%.2f allocations per accepted connection, want at most 14", per)
	}
}
