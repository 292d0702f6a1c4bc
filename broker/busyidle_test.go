//go:build linux

package broker_test

import (
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/packet"
)

// TestBusyThenIdleConnection: a connection that was busy, then went
// idle, costs what an idle one does. 200 raw-socket 3.1.1 connections
// each send 2,000 QoS 1 PUBLISHes in one write and read their 2,000
// PUBACKs, then stay silent: the broker's heap in use after a collection
// may grow by at most 256 bytes per connection over what the same
// connections held before their burst (it grew by 1,238: the
// PUBLISH-side state kept 640 bytes of reusable acknowledgements).
//
// The bursts come 8 connections at a time: the event loop's pool then
// reuses its goroutines. All at once, the pool starts a goroutine per
// burst, and the runtime keeps every goroutine's record (~480 bytes,
// never freed) once it has ended: that is the process's peak of
// concurrent goroutines, not state a connection holds, and `mqttboard
// bench --idle N --busy M` shows it in RSS (BENCHMARKS.md).
//
// MQTTBOARD_BUSY_HEAPPROFILE=FILE writes the heap profile after the
// bursts (MemProfileRate 1), for `go tool pprof -sample_index=inuse_space`.
func TestBusyThenIdleConnection(t *testing.T) {
	if testing.Short() {
		t.Skip("400,000 messages")
	}
	profile := os.Getenv("MQTTBOARD_BUSY_HEAPPROFILE")
	if profile != "" {
		runtime.MemProfileRate = 1
	}
	srv, addr := brokertest.StartServer(t, broker.Options{SysInterval: -1, MemoryTrim: -1})
	rc := newSysClient(t, addr)
	const n, msgs = 200, 2000
	heap := func() int64 {
		runtime.GC()
		runtime.GC() // the pools' victim caches too
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	fds := make([]int, n)
	t.Cleanup(func() {
		for _, fd := range fds {
			if fd > 0 {
				unix.Close(fd)
			}
		}
	})
	var ack [4]byte
	for i := range fds {
		fds[i] = rc.dial()
		b, _ := (&packet.Connect{ProtocolVersion: packet.V311, CleanStart: true, KeepAlive: 60, ClientID: "busy-" + itoaTest(i)}).AppendTo(nil, packet.V311)
		rc.write(fds[i], b)
		rc.readFull(fds[i], ack[:])
	}
	waitWritersIdle(t, srv) // the write loops that sent CONNACK have ended
	idle := heap()

	var burst []byte
	for j := range msgs {
		burst, _ = (&packet.Publish{Topic: "busy/t", QoS: 1, PacketID: uint16(j + 1), Payload: []byte("0123456789")}).AppendTo(burst, packet.V311)
	}
	acks := make([]byte, 4*msgs)
	for group := range slices.Chunk(fds, 8) {
		for _, fd := range group {
			rc.write(fd, burst)
		}
		for _, fd := range group {
			rc.readFull(fd, acks)
			for j := 0; j < msgs; j++ {
				if acks[4*j] != 0x40 || acks[4*j+1] != 2 {
					t.Fatalf("packet %d: % x, want a PUBACK", j, acks[4*j:4*j+4])
				}
			}
		}
	}
	waitWritersIdle(t, srv) // idle again: write loops ended, buffers given back
	busy := heap()
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			t.Fatal(err)
		}
		pprof.Lookup("heap").WriteTo(f, 0)
		f.Close()
	}
	per := (busy - idle) / n
	t.Logf("heap in use: %d B idle, %d B after the bursts: %+d B per connection", idle, busy, per)
	if per > 256 {
		t.Errorf("a connection idle after a burst holds %d bytes more than before it, want at most 256", per)
	}
}
