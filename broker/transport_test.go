package broker_test

import (
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/broker/eventloop"
	"github.com/mqttboard/mqttboard/packet"
)

// TestConfigTransport: the transport key selects the goroutine transport;
// an unknown one is an error naming the choices.
func TestConfigTransport(t *testing.T) {
	cfg, err := broker.ParseConfig("b.yaml", []byte("transport: goroutine\n"))
	if err != nil {
		t.Fatal(err)
	}
	var o broker.Options
	cfg.Apply(&o)
	if o.Transport != broker.TransportGoroutine {
		t.Fatalf("Transport %q", o.Transport)
	}
	if _, err := broker.ParseConfig("b.yaml", []byte("transport: epoll\n")); err == nil || !strings.Contains(err.Error(), `"eventloop" or "goroutine"`) {
		t.Fatalf("error %v, want the choices", err)
	}
}

// TestConfigMemoryTrim: memory_trim sets how often the trimmer looks,
// negative switches it off, absent leaves the default.
func TestConfigMemoryTrim(t *testing.T) {
	for _, c := range []struct {
		yaml string
		want time.Duration
	}{
		{"memory_trim: 30\n", 30 * time.Second},
		{"memory_trim: -1\n", -time.Second},
		{"transport: eventloop\n", 0},
	} {
		cfg, err := broker.ParseConfig("b.yaml", []byte(c.yaml))
		if err != nil {
			t.Fatal(err)
		}
		var o broker.Options
		cfg.Apply(&o)
		if o.MemoryTrim != c.want {
			t.Errorf("%q: MemoryTrim %v, want %v", c.yaml, o.MemoryTrim, c.want)
		}
	}
}

// TestTransportGoroutines: with the event loop, idle connections hold no
// goroutine; with the goroutine transport, each holds one. Both serve.
func TestTransportGoroutines(t *testing.T) {
	const n = 300
	for _, tr := range []string{broker.TransportEventLoop, broker.TransportGoroutine} {
		t.Run(tr, func(t *testing.T) {
			if tr == broker.TransportEventLoop && !eventloop.Supported() {
				t.Skip("no event loop on this platform")
			}
			_, addr := brokertest.StartServer(t, broker.Options{Transport: tr, SysInterval: -1})
			// One connection first, so the loop's own goroutines are counted.
			warm := dialRaw(t, addr, packet.V311)
			warm.connect(&packet.Connect{ClientID: "warm", CleanStart: true})
			before := settledGoroutines()
			connect, _ := (&packet.Connect{ProtocolVersion: packet.V311, CleanStart: true, KeepAlive: 60}).AppendTo(nil, 0)
			for i := range n {
				nc, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { nc.Close() })
				nc.Write(connect)
				nc.SetReadDeadline(time.Now().Add(wait))
				if _, err := nc.Read(make([]byte, 4)); err != nil {
					t.Fatalf("CONNACK %d: %v", i, err)
				}
			}
			after := settledGoroutines()
			t.Logf("%s: %d goroutines before, %d with %d more idle connections", tr, before, after, n)
			// At most the pool's waiting workers (16 per processor).
			if tr == broker.TransportEventLoop && after > before+16*max(1, runtime.GOMAXPROCS(0))+4 {
				t.Fatalf("%d goroutines for %d idle connections on the event loop", after-before, n)
			}
			if tr == broker.TransportGoroutine && after < before+n*9/10 { // a read goroutine may be handing over
				t.Fatalf("%d goroutines for %d idle connections on the goroutine transport, want one each", after-before, n)
			}
			// Both transports still serve: a message goes round.
			sub := rawClient(t, addr, "sub", packet.Properties{})
			sub.subscribe(1, packet.Properties{}, packet.Subscription{Filter: "t"})
			pub := rawClient(t, addr, "pub", packet.Properties{})
			pub.publish(&packet.Publish{Topic: "t", Payload: []byte("x")})
			if m := sub.recvPublish(); string(m.Payload) != "x" {
				t.Fatalf("payload %q", m.Payload)
			}
		})
	}
}

// settledGoroutines counts goroutines once write loops that sent a
// CONNACK have had time to end (bounded).
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for range 50 {
		time.Sleep(10 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			break
		}
		n = m
	}
	return n
}
