//go:build linux

// Command instep measures how long a broker takes to deliver a burst of
// messages that arrive together: n publishers each send one QoS 0 PUBLISH
// to their own subscriber, written back to back from one thread, and the
// deliveries are read with one epoll loop between those writes and after
// them. It is `mqttboard bench --scenario pairs --rate R` without the
// generator's own scheduling: there, a hundred goroutines on one
// processor send first and read after, so its latencies include the
// order in which the Go scheduler ran them. Here the generator's part is
// a write per publisher and a read per delivery, and the time to the
// k-th delivery of each burst shows where the burst's time goes.
//
//	go run ./bench/instep -addr 127.0.0.1:1883 -bursts 300 -interval 10ms
//
// One line: per-message latency p50/p99/max (from its PUBLISH's write to
// the read that brought its delivery), and over the bursts the median
// time from the burst's first write to the 1st, n/2-th and n-th delivery,
// in µs. bench/lowrate-instep.sh runs it against both brokers.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mqttboard/mqttboard/packet"
)

func main() {
	var c config
	flag.StringVar(&c.addr, "addr", "127.0.0.1:1883", "broker address")
	flag.IntVar(&c.pairs, "pairs", 100, "publisher/subscriber pairs: messages per burst")
	flag.IntVar(&c.bursts, "bursts", 100, "bursts to send")
	flag.DurationVar(&c.interval, "interval", 100*time.Millisecond, "time between bursts (100 pairs every 100 ms: 1,000 msg/s)")
	flag.IntVar(&c.size, "size", 64, "payload bytes")
	flag.Parse()
	// One thread does everything: no scheduler between a write and the
	// next, or between a delivery's arrival and its read.
	runtime.GOMAXPROCS(1)
	runtime.LockOSThread()
	r, err := run(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "instep:", err)
		os.Exit(1)
	}
	fmt.Println(r)
}

type config struct {
	addr            string
	pairs, bursts   int
	interval        time.Duration
	size            int
	deliveryTimeout time.Duration // 0: 5 s
}

// result is what a run measured, in µs.
type result struct {
	lat  []time.Duration   // per message
	kth  [][]time.Duration // kth[k][b]: burst b's (k+1)-th delivery, from its first write
	lost int               // bursts whose deliveries did not all arrive in time
}

func (r *result) String() string {
	us := func(d time.Duration) int64 { return d.Microseconds() }
	n := len(r.kth)
	return fmt.Sprintf("latency p50 %d p99 %d max %d us | burst median: 1st delivery %d, %d-th %d, %d-th %d us | lost bursts %d",
		us(quantile(r.lat, 0.5)), us(quantile(r.lat, 0.99)), us(quantile(r.lat, 1)),
		us(quantile(r.kth[0], 0.5)), n/2, us(quantile(r.kth[n/2-1], 0.5)), n, us(quantile(r.kth[n-1], 0.5)), r.lost)
}

func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(float64(len(s)-1)*q)]
}

// conn is one connection's descriptor, taken from the runtime once the
// session is set up.
type conn struct {
	nc net.Conn
	f  *os.File // holds fd: its finalizer would close it
	fd int
}

func dial(addr, id, filter string) (conn, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return conn{}, err
	}
	b, _ := (&packet.Connect{ProtocolVersion: packet.V311, CleanStart: true, ClientID: id}).AppendTo(nil, packet.V311)
	if filter != "" {
		b, _ = (&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: filter}}}).AppendTo(b, packet.V311)
	}
	if _, err := nc.Write(b); err != nil {
		nc.Close()
		return conn{}, err
	}
	r := packet.NewReader(bufio.NewReader(nc))
	r.Version = packet.V311
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	want := 1
	if filter != "" {
		want = 2 // CONNACK, SUBACK
	}
	for range want {
		p, err := r.ReadPacket()
		if err != nil {
			nc.Close()
			return conn{}, fmt.Errorf("%s: %w", id, err)
		}
		if ack, ok := p.(*packet.Connack); ok && ack.ReasonCode != 0 {
			nc.Close()
			return conn{}, fmt.Errorf("%s: CONNACK %v", id, ack.ReasonCode)
		}
	}
	nc.SetReadDeadline(time.Time{})
	f, err := nc.(*net.TCPConn).File() // a blocking duplicate
	if err != nil {
		nc.Close()
		return conn{}, err
	}
	return conn{nc: nc, f: f, fd: int(f.Fd())}, nil
}

func run(c config) (*result, error) {
	if c.deliveryTimeout == 0 {
		c.deliveryTimeout = 5 * time.Second
	}
	prefix := "instep-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	subs := make([]conn, c.pairs)
	pubs := make([]conn, c.pairs)
	defer func() {
		for _, x := range append(subs, pubs...) {
			if x.nc != nil {
				x.f.Close()
				x.nc.Close()
			}
		}
	}()
	pkts := make([][]byte, c.pairs)
	for i := range c.pairs {
		topic := prefix + "/" + strconv.Itoa(i)
		var err error
		if subs[i], err = dial(c.addr, prefix+"-sub-"+strconv.Itoa(i), topic); err != nil {
			return nil, err
		}
		if pubs[i], err = dial(c.addr, prefix+"-pub-"+strconv.Itoa(i), ""); err != nil {
			return nil, err
		}
		pkts[i], _ = (&packet.Publish{Topic: topic, Payload: make([]byte, c.size)}).AppendTo(nil, packet.V311)
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	defer unix.Close(ep)
	for i, s := range subs {
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, s.fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(i)}); err != nil {
			return nil, err
		}
	}
	// A delivery is its PUBLISH as sent (QoS 0, no properties): counting
	// bytes per subscriber counts deliveries.
	size := len(pkts[0])
	res := &result{kth: make([][]time.Duration, c.pairs)}
	events := make([]unix.EpollEvent, 256)
	buf := make([]byte, 64<<10)
	got := make([]int, c.pairs)
	sent := make([]time.Time, c.pairs)
	next := time.Now().Add(c.interval)
	for range c.bursts {
		time.Sleep(time.Until(next)) // pacing the generator
		next = next.Add(c.interval)
		clear(got)
		received := 0
		var t0 time.Time
		poll := func(ms int) error {
			n, err := unix.EpollWait(ep, events, ms)
			if err != nil && !errors.Is(err, unix.EINTR) {
				return err
			}
			now := time.Now()
			for _, e := range events[:max(n, 0)] {
				i := int(e.Fd)
				m, err := unix.Read(subs[i].fd, buf)
				if err != nil || m == 0 {
					return fmt.Errorf("subscriber %d: read %d: %v", i, m, err)
				}
				for got[i] += m; got[i] >= size; got[i] -= size {
					res.lat = append(res.lat, now.Sub(sent[i]))
					if received < c.pairs {
						res.kth[received] = append(res.kth[received], now.Sub(t0))
					}
					received++
				}
			}
			return nil
		}
		t0 = time.Now()
		for i, p := range pubs {
			sent[i] = time.Now()
			if _, err := unix.Write(p.fd, pkts[i]); err != nil {
				return nil, fmt.Errorf("publisher %d: %w", i, err)
			}
			if err := poll(0); err != nil {
				return nil, err
			}
		}
		deadline := time.Now().Add(c.deliveryTimeout)
		for received < c.pairs && time.Now().Before(deadline) {
			if err := poll(100); err != nil {
				return nil, err
			}
		}
		if received < c.pairs {
			res.lost++
			for k := received; k < c.pairs; k++ {
				res.kth[k] = append(res.kth[k], c.deliveryTimeout)
			}
		}
	}
	return res, nil
}
