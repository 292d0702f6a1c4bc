package broker_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/packet"
)

// BenchmarkLowRate measures what one delivered message costs the broker
// at a fixed low rate (issue 17): 100 publisher/subscriber pairs, QoS 0,
// 64-byte payloads, 1,000 messages a second in total, b.N messages. The
// broker runs in a child process (as in the resource tests), so
// cpu-µs/msg is the broker's own CPU time (getrusage: user + system) per
// delivered message, without the load generator's; p99-µs is publish to
// delivery. Run it on both transports:
//
//	go test -run '^$' -bench 'LowRate/rate=1000+$' -benchtime 5000x ./broker/
//	go test -run '^$' -bench 'LowRate/rate=100$' -benchtime 1000x ./broker/
//	MQTTBOARD_TRANSPORT=goroutine go test -run '^$' -bench 'LowRate/rate=1000+$' -benchtime 5000x ./broker/
//
// (the variable reaches the child; at 100 msg/s, 5000x would take 50 s).
// CPU time, unlike latency, stays meaningful on a busy machine.
func BenchmarkLowRate(b *testing.B) {
	for _, rate := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) { lowRate(b, 100, rate) })
	}
}

func lowRate(b *testing.B, pairs, rate int) {
	c := startChild(b)
	rusage := func() time.Duration {
		fmt.Fprintln(c.in, "rusage")
		for c.out.Scan() {
			if v, ok := strings.CutPrefix(c.out.Text(), "rusage "); ok {
				var u, s int64
				fmt.Sscanf(v, "%d %d", &u, &s)
				return time.Duration(u + s)
			}
		}
		b.Fatal("broker process ended")
		return 0
	}
	type pair struct {
		pub, sub net.Conn
		r        *packet.Reader
	}
	ps := make([]pair, pairs)
	dial := func(id string) (net.Conn, *packet.Reader) {
		nc, err := net.Dial("tcp", c.addr)
		if err != nil {
			b.Fatal(err)
		}
		cb, _ := (&packet.Connect{ProtocolVersion: packet.V311, ClientID: id, CleanStart: true}).AppendTo(nil, 0)
		nc.Write(cb)
		r := packet.NewReader(bufio.NewReader(nc))
		r.Version = packet.V311
		nc.SetReadDeadline(time.Now().Add(wait))
		if _, err := r.ReadPacket(); err != nil {
			b.Fatalf("CONNACK: %v", err)
		}
		return nc, r
	}
	for i := range ps {
		ps[i].pub, _ = dial("lr-pub-" + strconv.Itoa(i))
		ps[i].sub, ps[i].r = dial("lr-sub-" + strconv.Itoa(i))
		sb, _ := (&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "lr/" + strconv.Itoa(i)}}}).AppendTo(nil, packet.V311)
		ps[i].sub.Write(sb)
		if _, err := ps[i].r.ReadPacket(); err != nil {
			b.Fatalf("SUBACK: %v", err)
		}
	}
	defer func() {
		for _, p := range ps {
			p.pub.Close()
			p.sub.Close()
		}
	}()
	// Each subscriber reads its deliveries and records the latency carried
	// in the payload (send time, Unix nanoseconds).
	n := b.N
	per := make([]int, pairs)
	for i := range n {
		per[i%pairs]++
	}
	lat := make([][]time.Duration, pairs)
	var wg sync.WaitGroup
	for i := range ps {
		wg.Go(func() {
			for range per[i] {
				ps[i].sub.SetReadDeadline(time.Now().Add(wait))
				p, err := ps[i].r.ReadPacket()
				if err != nil {
					b.Errorf("subscriber %d: %v", i, err)
					return
				}
				if pub, ok := p.(*packet.Publish); ok && len(pub.Payload) >= 8 {
					lat[i] = append(lat[i], time.Since(time.Unix(0, int64(binary.BigEndian.Uint64(pub.Payload)))))
				}
			}
		})
	}
	payload := make([]byte, 64)
	bufs := make([][]byte, pairs)
	for i := range bufs {
		bufs[i], _ = (&packet.Publish{Topic: "lr/" + strconv.Itoa(i), Payload: payload}).AppendTo(nil, packet.V311)
	}
	interval := time.Second / time.Duration(rate)
	cpu0 := rusage()
	b.ResetTimer()
	start := time.Now()
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		k := i % pairs
		buf := bufs[k]
		binary.BigEndian.PutUint64(buf[len(buf)-64:], uint64(time.Now().UnixNano()))
		if _, err := ps[k].pub.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
	b.StopTimer()
	cpu := rusage() - cpu0
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	if len(all) != n {
		b.Fatalf("%d of %d delivered", len(all), n)
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/msg")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
}
