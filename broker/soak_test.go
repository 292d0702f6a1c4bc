package broker_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/packet"
)

// soakEnv runs the long soak (10,000 connections, a minute) instead of the
// short one: MQTTBOARD_SOAK=1 go test -run TestSoak -v ./broker/
const soakEnv = "MQTTBOARD_SOAK"

// TestSoak holds many idle MQTT connections while 1 % of them publish and
// read back their own messages, and checks that the broker's goroutines do
// not grow with the idle connections (event-loop transport) and that its
// memory stays flat while the traffic runs. The short version runs in CI;
// MQTTBOARD_SOAK=1 runs 10,000 connections for a minute and logs RSS and
// goroutines every 5 s (figures in BENCHMARKS.md).
func TestSoak(t *testing.T) {
	n, dur, every := 1000, 2*time.Second, time.Second
	if os.Getenv(soakEnv) != "" {
		n, dur, every = 10000, time.Minute, 5*time.Second
	} else if testing.Short() {
		t.Skip("opens 1,000 connections")
	}
	eventLoop := os.Getenv("MQTTBOARD_TRANSPORT") != "goroutine"
	c := startChild(t)
	base := c.measure("peek")
	t.Logf("before: %v", base)
	connect, _ := (&packet.Connect{ProtocolVersion: packet.V311, CleanStart: true, KeepAlive: 300}).AppendTo(nil, 0)
	idle := make([]net.Conn, 0, n)
	defer func() {
		for _, nc := range idle {
			nc.Close()
		}
	}()
	for i := range n - n/100 {
		nc, err := net.Dial("tcp", c.addr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		idle = append(idle, nc)
		nc.Write(connect)
		nc.SetReadDeadline(time.Now().Add(wait))
		if _, err := nc.Read(make([]byte, 4)); err != nil {
			t.Fatalf("CONNACK %d: %v", i, err)
		}
	}
	c.accepted(len(idle))
	m := c.peek()
	t.Logf("%d idle: %v", len(idle), m)
	// Goroutines: the poller, the wheel and at most a pool's worth of
	// waiting workers (16 per processor), whatever the number of idle
	// connections.
	limit := base.goroutines + 2 + 16*max(2, runtime.GOMAXPROCS(0)) + 4
	if eventLoop && m.goroutines > limit {
		t.Errorf("%d goroutines with %d idle connections, want at most %d", m.goroutines, len(idle), limit)
	}

	active := n / 100
	var sent, got atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, active)
	for i := range active {
		wg.Go(func() {
			if err := soakClient(c.addr, i, stop, &sent, &got); err != nil {
				errs <- err
			}
		})
	}
	start := time.Now()
	var first measure
	for time.Since(start) < dur {
		time.Sleep(every)
		m := c.peek()
		if first.rssKB == 0 {
			first = m
		}
		t.Logf("%4.0fs: %d idle + %d active, %d messages: %v", time.Since(start).Seconds(), len(idle), active, got.Load(), m)
		if eventLoop && m.goroutines > limit+active {
			t.Errorf("%d goroutines with %d idle and %d active connections, want at most %d", m.goroutines, len(idle), active, limit+active)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	last := c.peek()
	t.Logf("end: %d published, %d received back; %v", sent.Load(), got.Load(), last)
	if got.Load() == 0 {
		t.Error("no message went round")
	}
	// Flat memory: after GC, no more than 10 % above the first sample
	// taken under traffic (a leak per message would pass it in a minute).
	if os.Getenv(soakEnv) != "" && last.heapKB > first.heapKB+first.heapKB/10+1024 {
		t.Errorf("heap and stacks grew from %d to %d KiB under steady traffic", first.heapKB, last.heapKB)
	}
}

// soakClient subscribes to its own topic and publishes to it, one QoS 0
// message per 100 ms, reading each back, until stop.
func soakClient(addr string, i int, stop <-chan struct{}, sent, got *atomic.Int64) error {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	w := func(p packet.Packet) error {
		b, err := p.AppendTo(nil, packet.V311)
		if err != nil {
			return err
		}
		_, err = nc.Write(b)
		return err
	}
	r := packet.NewReader(bufio.NewReader(nc))
	r.Version = packet.V311
	topic := "soak/" + strconv.Itoa(i)
	if err := w(&packet.Connect{ProtocolVersion: packet.V311, ClientID: "soak-" + strconv.Itoa(i), CleanStart: true, KeepAlive: 60}); err != nil {
		return err
	}
	if err := w(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: topic}}}); err != nil {
		return err
	}
	for range 2 { // CONNACK, SUBACK
		nc.SetReadDeadline(time.Now().Add(wait))
		if _, err := r.ReadPacket(); err != nil {
			return fmt.Errorf("soak client %d: %v", i, err)
		}
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return nil
		case <-tick.C:
		}
		if err := w(&packet.Publish{Topic: topic, Payload: []byte("soak")}); err != nil {
			return err
		}
		sent.Add(1)
		nc.SetReadDeadline(time.Now().Add(wait))
		if _, err := r.ReadPacket(); err != nil {
			return fmt.Errorf("soak client %d: %v", i, err)
		}
		got.Add(1)
	}
}

// peek is the broker's figures with its connections open.
func (c *child) peek() measure { return c.measure("peek") }
