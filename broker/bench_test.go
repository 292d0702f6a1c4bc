package broker_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/packet"
)

// benchBroker returns the broker under test: ours on loopback, or the one
// at $MQTTBOARD_BENCH_BROKER (e.g. mosquitto) for a side-by-side run with
// the same load generator.
func benchBroker(b *testing.B) (addr string, ours bool) {
	if a := os.Getenv("MQTTBOARD_BENCH_BROKER"); a != "" {
		return a, false
	}
	_, addr = brokertest.StartServer(b, broker.Options{})
	return addr, true
}

// benchConn is a raw 3.1.1 connection that parses just enough to count
// PUBLISHes and acknowledge QoS 1 without allocating, so that allocations
// measured are the broker's.
type benchConn struct {
	nc    net.Conn
	br    *bufio.Reader
	count atomic.Int64
}

func benchDial(b *testing.B, addr, id string) *benchConn {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	c := &benchConn{nc: nc, br: bufio.NewReaderSize(nc, 64<<10)}
	cb, _ := (&packet.Connect{ProtocolVersion: packet.V311, ClientID: id, CleanStart: true}).AppendTo(nil, 0)
	nc.Write(cb)
	if _, _, err := c.next(nil); err != nil { // CONNACK
		b.Fatal(err)
	}
	return c
}

// next reads one packet into buf and returns its first byte and body.
func (c *benchConn) next(buf []byte) (byte, []byte, error) {
	h, err := c.br.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	var n, shift int
	for {
		d, err := c.br.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n |= int(d&0x7f) << shift
		shift += 7
		if d&0x80 == 0 {
			break
		}
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	_, err = io.ReadFull(c.br, buf)
	return h, buf, err
}

func (c *benchConn) subscribe(b *testing.B, filter string, qos packet.QoS) {
	sb, _ := (&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: filter, QoS: qos}}}).AppendTo(nil, packet.V311)
	c.nc.Write(sb)
	if h, _, err := c.next(nil); err != nil || h>>4 != 9 {
		b.Fatalf("SUBACK: %x %v", h, err)
	}
}

// consume counts PUBLISHes and acknowledges QoS 1 ones until the
// connection closes.
func (c *benchConn) consume(done *sync.WaitGroup) {
	defer done.Done()
	buf := make([]byte, 4096)
	ack := []byte{0x40, 2, 0, 0}
	w := bufio.NewWriterSize(c.nc, 4096)
	for {
		if c.br.Buffered() == 0 {
			w.Flush()
		}
		h, body, err := c.next(buf)
		if err != nil {
			return
		}
		if h>>4 != 3 {
			continue
		}
		if h&0x06 != 0 {
			tl := int(body[0])<<8 | int(body[1])
			ack[2], ack[3] = body[2+tl], body[3+tl]
			w.Write(ack)
		}
		c.count.Add(1)
	}
}

// publishLoad sends n 64-byte PUBLISHes to topic from conns (round robin),
// a batch of 64 per write as a fast client would.
func publishLoad(pubs []*benchConn, topic string, qos packet.QoS, n int) {
	var wg sync.WaitGroup
	per := n / len(pubs)
	for i, p := range pubs {
		cnt := per
		if i == 0 {
			cnt += n - per*len(pubs)
		}
		wg.Go(func() {
			var batch []byte
			id := uint16(0)
			pk := packet.Publish{Topic: topic, QoS: qos, Payload: make([]byte, 64)}
			for j := 0; j < cnt; j++ {
				if qos > 0 {
					id++
					if id == 0 {
						id = 1
					}
					pk.PacketID = id
				}
				batch, _ = pk.AppendTo(batch, packet.V311)
				if len(batch) > 8<<10 || j == cnt-1 {
					p.nc.Write(batch)
					batch = batch[:0]
				}
			}
		})
	}
	wg.Wait()
}

func waitCount(b *testing.B, subs []*benchConn, want int64) {
	deadline := time.Now().Add(2 * time.Minute)
	for _, s := range subs {
		for s.count.Load() < want {
			if time.Now().After(deadline) {
				b.Fatalf("subscriber got %d of %d", s.count.Load(), want)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// runLoad publishes b.N messages from nPub publishers to nSub subscribers
// of one topic and reports delivered messages per second and, for our
// broker, heap allocations per delivered message.
func runLoad(b *testing.B, nPub, nSub int, qos packet.QoS) {
	addr, ours := benchBroker(b)
	var done sync.WaitGroup
	subs := make([]*benchConn, nSub)
	for i := range subs {
		subs[i] = benchDial(b, addr, fmt.Sprintf("bsub-%d-%d", i, time.Now().UnixNano()))
		subs[i].subscribe(b, "bench/#", qos)
		done.Add(1)
		go subs[i].consume(&done)
	}
	pubs := make([]*benchConn, nPub)
	for i := range pubs {
		pubs[i] = benchDial(b, addr, fmt.Sprintf("bpub-%d-%d", i, time.Now().UnixNano()))
		done.Add(1)
		go pubs[i].consume(&done) // discards PUBACKs
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ResetTimer()
	publishLoad(pubs, "bench/load", qos, b.N)
	waitCount(b, subs, int64(b.N))
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	delivered := float64(b.N) * float64(nSub)
	b.ReportMetric(delivered/b.Elapsed().Seconds(), "deliveries/s")
	if ours {
		b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/delivered, "allocs/delivery")
	}
	for _, c := range append(subs, pubs...) {
		c.nc.Close()
	}
	done.Wait()
}

// BenchmarkFanOut: one publisher, many subscribers of the same topic.
func BenchmarkFanOut(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		for _, q := range []packet.QoS{0, 1} {
			b.Run(fmt.Sprintf("subs=%d/qos=%d", n, q), func(b *testing.B) { runLoad(b, 1, n, q) })
		}
	}
}

// BenchmarkFanIn: 16 publishers, one "#"-style subscriber.
func BenchmarkFanIn(b *testing.B) {
	for _, q := range []packet.QoS{0, 1} {
		b.Run(fmt.Sprintf("pubs=16/qos=%d", q), func(b *testing.B) { runLoad(b, 16, 1, q) })
	}
}

// BenchmarkPairs: 100 publisher/subscriber pairs, each on its own topic.
func BenchmarkPairs(b *testing.B) {
	for _, q := range []packet.QoS{0, 1} {
		b.Run(fmt.Sprintf("pairs=100/qos=%d", q), func(b *testing.B) {
			const pairs = 100
			addr, ours := benchBroker(b)
			var done sync.WaitGroup
			subs := make([]*benchConn, pairs)
			pubs := make([]*benchConn, pairs)
			stamp := time.Now().UnixNano()
			for i := range pairs {
				subs[i] = benchDial(b, addr, fmt.Sprintf("psub-%d-%d", i, stamp))
				subs[i].subscribe(b, fmt.Sprintf("pair/%d", i), q)
				pubs[i] = benchDial(b, addr, fmt.Sprintf("ppub-%d-%d", i, stamp))
				done.Add(2)
				go subs[i].consume(&done)
				go pubs[i].consume(&done)
			}
			per := max(b.N/pairs, 1)
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			b.ResetTimer()
			var wg sync.WaitGroup
			for i := range pairs {
				wg.Go(func() { publishLoad(pubs[i:i+1], fmt.Sprintf("pair/%d", i), q, per) })
			}
			wg.Wait()
			waitCount(b, subs, int64(per))
			b.StopTimer()
			runtime.ReadMemStats(&ms1)
			delivered := float64(per * pairs)
			b.ReportMetric(delivered/b.Elapsed().Seconds(), "deliveries/s")
			if ours {
				b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/delivered, "allocs/delivery")
			}
			for _, c := range append(subs, pubs...) {
				c.nc.Close()
			}
			done.Wait()
		})
	}
}

// BenchmarkLatency publishes QoS 0 at 1,000 msg/s for b.N messages and
// reports the median and 99th percentile publish-to-receive latency.
func BenchmarkLatency(b *testing.B) {
	addr, _ := benchBroker(b)
	stamp := time.Now().UnixNano()
	sub := benchDial(b, addr, fmt.Sprint("lsub-", stamp))
	sub.subscribe(b, "lat", 0)
	pub := benchDial(b, addr, fmt.Sprint("lpub-", stamp))
	lat := make([]time.Duration, 0, b.N)
	got := make(chan struct{})
	go func() {
		defer close(got)
		buf := make([]byte, 256)
		for len(lat) < b.N {
			h, body, err := sub.next(buf)
			if err != nil {
				return
			}
			if h>>4 != 3 {
				continue
			}
			sent := int64(0)
			for _, c := range body[2+3 : 2+3+8] {
				sent = sent<<8 | int64(c)
			}
			lat = append(lat, time.Duration(time.Now().UnixNano()-sent))
		}
	}()
	b.ResetTimer()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	pk := packet.Publish{Topic: "lat", Payload: make([]byte, 64)}
	var out []byte
	for range b.N {
		<-tick.C
		now := time.Now().UnixNano()
		for i := 7; i >= 0; i-- {
			pk.Payload[i] = byte(now)
			now >>= 8
		}
		out, _ = pk.AppendTo(out[:0], packet.V311)
		pub.nc.Write(out)
	}
	select {
	case <-got:
	case <-time.After(time.Minute):
		b.Fatal("latency messages missing")
	}
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) == b.N {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	}
	sub.nc.Close()
	pub.nc.Close()
}

// BenchmarkIdleConnections opens b.N idle 3.1.1 connections to an
// in-process broker and reports the broker's memory per connection: heap
// in use plus goroutine stacks after a GC, minus the same for the client
// ends alone (measured by dialling a plain listener first).
func BenchmarkIdleConnections(b *testing.B) {
	if b.N > 10000 {
		b.Skip("run with -benchtime 3000x: each connection is two file descriptors")
	}
	var stack uint64
	inUse := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		stack = ms.StackInuse
		return ms.HeapInuse + ms.StackInuse
	}
	// MQTTBOARD_IDLE_HEAPPROFILE=FILE writes a heap profile of every
	// allocation live with the idle connections open (MemProfileRate 1:
	// each object sampled), for `go tool pprof -sample_index=inuse_space`.
	profile := os.Getenv("MQTTBOARD_IDLE_HEAPPROFILE")
	if profile != "" {
		runtime.MemProfileRate = 1
	}
	open := func(addr string, n int, handshake bool) []net.Conn {
		cs := make([]net.Conn, n)
		for i := range cs {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			if handshake {
				// Like `mqttboard bench --idle`: a client id of its own.
				connect, _ := (&packet.Connect{ProtocolVersion: packet.V311, CleanStart: true, KeepAlive: 60, ClientID: fmt.Sprintf("idle-%d", i)}).AppendTo(nil, 0)
				c.Write(connect)
				io.ReadFull(c, make([]byte, 4))
			}
			cs[i] = c
		}
		return cs
	}
	// Client ends alone: a listener that accepts and holds.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	var held []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	base := inUse()
	plain := open(l.Addr().String(), b.N, false)
	clientCost := inUse() - base
	for _, c := range plain {
		c.Close()
	}
	l.Close()
	srv, addr := brokertest.StartServer(b, broker.Options{SysInterval: -1})
	base = inUse()
	stack0 := stack
	classes0 := memoryClasses()
	b.ResetTimer()
	cs := open(addr, b.N, true)
	b.StopTimer()
	waitWritersIdle(b, srv) // idle: the write loops that sent CONNACK have ended
	total := inUse() - base
	if profile != "" {
		// Where the process's memory went, per connection (both ends:
		// the client ends' share is what the plain listener cost).
		for _, c := range memoryClasses() {
			for _, c0 := range classes0 {
				if c.Name == c0.Name && c.Value.Uint64() != c0.Value.Uint64() {
					b.Logf("%-50s %+8.1f B/conn", c.Name, (float64(c.Value.Uint64())-float64(c0.Value.Uint64()))/float64(b.N))
				}
			}
		}
	}
	// clientCost covered both ends of each plain connection; only the
	// client end is not the broker's.
	b.ReportMetric(float64(total-min(total, clientCost/2))/float64(b.N), "broker-B/conn")
	b.ReportMetric(float64(stack-stack0)/float64(b.N), "stack-B/conn")
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			b.Fatal(err)
		}
		pprof.Lookup("heap").WriteTo(f, 0)
		f.Close()
	}
	for _, c := range cs {
		c.Close()
	}
}

// memoryClasses reads the runtime's /memory/classes metrics.
func memoryClasses() []metrics.Sample {
	var ss []metrics.Sample
	for _, d := range metrics.All() {
		if strings.HasPrefix(d.Name, "/memory/classes/") {
			ss = append(ss, metrics.Sample{Name: d.Name})
		}
	}
	metrics.Read(ss)
	return ss
}

// waitWritersIdle returns once no connection of srv has a write loop
// running (they end writerLinger after their last write, on the
// goroutine transport), failing after 10 s.
func waitWritersIdle(tb testing.TB, srv *broker.Server) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for n := broker.WritingConns(srv); n > 0; n = broker.WritingConns(srv) {
		if time.Now().After(deadline) {
			tb.Fatalf("%d connections still writing after 10 s", n)
		}
		time.Sleep(5 * time.Millisecond) // polls the state; bounded by deadline
	}
}
