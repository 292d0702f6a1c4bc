// Package bench is mqttboard's load generator: MQTT publishers and
// subscribers on raw connections, speaking through package packet, so that
// the generator costs little next to the broker it measures. It reports
// delivered messages per second, loss and duplicates, and latency
// percentiles taken from a send timestamp carried in each payload.
package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/mqttboard/mqttboard/packet"
)

// Scenario is a shape of traffic.
type Scenario string

// Scenarios.
const (
	// FanOut: Publishers publish to one topic that every subscriber
	// subscribes to; each message is delivered Subscribers times.
	FanOut Scenario = "fanout"
	// FanIn: each publisher publishes to its own topic; every subscriber
	// subscribes to "bench/#".
	FanIn Scenario = "fanin"
	// Pairs: publisher i publishes to topic i, which only subscriber i
	// subscribes to; Publishers must equal Subscribers.
	Pairs Scenario = "pairs"
)

// Config describes one run. The zero value of a field means its default.
type Config struct {
	Addr        string         // host:port of a plain-TCP MQTT broker
	Version     packet.Version // default 5
	Scenario    Scenario       // default FanOut
	Publishers  int            // default 1
	Subscribers int            // default 1
	QoS         packet.QoS
	Size        int           // payload bytes; minimum 16 (timestamp, publisher, sequence); default 64
	Duration    time.Duration // publishing time; default 10 s
	// Rate is the total messages per second over all publishers; 0 publishes
	// as fast as the broker accepts.
	Rate float64
	// Stagger spreads the publishers of a Rate over the interval between
	// two messages of one publisher (publisher i starts i/Publishers of it
	// late), so messages arrive one at a time, as from independent
	// devices. Without it the publishers send together: a burst of
	// Publishers messages every interval, whose latency is mostly the
	// time the broker and this generator take for the whole burst.
	Stagger bool
	// Inflight bounds unacknowledged QoS 1 messages per publisher; default 100.
	Inflight int
	// Drain is how long to wait after publishing stops for the last
	// deliveries; default 5 s.
	Drain time.Duration
	// Prefix distinguishes this run's topics and client ids; default
	// "bench".
	Prefix string
	// Persistent subscribers keep their sessions (5.0: session expiry 60 s;
	// 3.1.1: clean session false), so a broker with persistence stores
	// every QoS 1 delivery to them before acknowledging the publisher.
	Persistent bool
	// Nodes, when set, are the addresses of a cluster's nodes, used in
	// place of Addr: publisher i connects to Nodes[i%n] and subscriber i
	// to Nodes[(i+1)%n], so with several nodes every pair's messages
	// cross nodes and a fan-in's or fan-out's clients are spread.
	Nodes []string
}

// addrOf is where publisher (sub false) or subscriber i connects.
func (c *Config) addrOf(sub bool, i int) string {
	if len(c.Nodes) == 0 {
		return c.Addr
	}
	if sub {
		i++
	}
	return c.Nodes[i%len(c.Nodes)]
}

// Validate fills in the defaults and checks c, without connecting
// anywhere: a caller running several measurements checks them all before
// the first one spends minutes measuring.
func (c *Config) Validate() error { return c.applyDefaults() }

// DialError is a broker that could not be reached or that refused the
// connection, as opposed to a measurement that went wrong.
type DialError struct {
	Addr    string
	Refused bool // the broker answered CONNECT with a failure
	Err     error
}

func (e *DialError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *DialError) Unwrap() error { return e.Err }

func (c *Config) applyDefaults() error {
	if c.Version == 0 {
		c.Version = packet.V5
	}
	if c.Scenario == "" {
		c.Scenario = FanOut
	}
	if c.Publishers <= 0 {
		c.Publishers = 1
	}
	if c.Subscribers < 0 {
		return errors.New("subscribers must not be negative")
	}
	if c.Size == 0 {
		c.Size = 64
	}
	if c.Size < 16 {
		return fmt.Errorf("payload size %d is too small: each payload carries 16 bytes of timestamp and sequence", c.Size)
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Inflight <= 0 {
		c.Inflight = 100
	}
	if c.Drain == 0 {
		c.Drain = 5 * time.Second
	}
	if c.Prefix == "" {
		c.Prefix = "bench"
	}
	if c.QoS > 1 {
		return errors.New("bench measures QoS 0 and 1")
	}
	switch c.Scenario {
	case FanOut, FanIn:
	case Pairs:
		if c.Publishers != c.Subscribers {
			return fmt.Errorf("pairs needs as many publishers as subscribers (have %d and %d)", c.Publishers, c.Subscribers)
		}
	default:
		return fmt.Errorf("unknown scenario %q: use fanout, fanin or pairs", c.Scenario)
	}
	return nil
}

// Result is what a run measured.
type Result struct {
	Config    Config
	Sent      uint64        // messages published (acknowledged, for QoS 1)
	Expected  uint64        // deliveries the subscriptions call for
	Delivered uint64        // distinct deliveries received
	Dups      uint64        // deliveries received more than once
	Elapsed   time.Duration // from the first publish to the last delivery
	// Latency percentiles of delivered messages, from the send
	// timestamp to the subscriber's read.
	P50, P90, P99, P999, Max time.Duration
	// Arrived counts the deliveries whose arrival in the subscriber's
	// socket the kernel timestamped (SO_TIMESTAMPNS: Linux, runs at a
	// Rate; the kernel turns timestamps on a moment after the first
	// socket asks, so a run's first deliveries may lack one). ArrP50 ... ArrMax are their latencies from the send
	// timestamp to that arrival: the broker's part without the
	// generator's own wait before reading. The generator reads its
	// subscribers on one processor, one after another, so a delivery
	// that arrived together with many others waits for their reads
	// (issue 17: at 100 pairs in step, p99 read 0.3-0.7 ms after
	// arrival, more for a broker that writes its deliveries together).
	Arrived                         uint64
	ArrP50, ArrP99, ArrP999, ArrMax time.Duration
}

// Lost is the number of expected deliveries that never arrived.
func (r *Result) Lost() uint64 {
	if r.Delivered >= r.Expected {
		return 0
	}
	return r.Expected - r.Delivered
}

// DeliveredRate is delivered messages per second.
func (r *Result) DeliveredRate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Delivered) / r.Elapsed.Seconds()
}

func (r *Result) String() string {
	c := &r.Config
	return fmt.Sprintf("%s qos%d %dpub/%dsub %dB: sent %d, delivered %d/%d (lost %d, dup %d) in %v = %.0f msg/s; latency p50 %v p90 %v p99 %v max %v",
		c.Scenario, c.QoS, c.Publishers, c.Subscribers, c.Size, r.Sent, r.Delivered, r.Expected, r.Lost(), r.Dups,
		r.Elapsed.Round(time.Millisecond), r.DeliveredRate(), r.P50, r.P90, r.P99, r.Max)
}

func (c *Config) topic(pub int) string {
	switch c.Scenario {
	case FanOut:
		return c.Prefix + "/fanout"
	}
	return c.Prefix + "/" + strconv.Itoa(pub)
}

func (c *Config) filter(sub int) string {
	switch c.Scenario {
	case FanOut:
		return c.Prefix + "/fanout"
	case FanIn:
		return c.Prefix + "/#"
	}
	return c.Prefix + "/" + strconv.Itoa(sub)
}

// receivers returns how many subscribers get each message of a publisher.
func (c *Config) receivers() int {
	if c.Scenario == Pairs {
		return 1
	}
	return c.Subscribers
}

// Run connects the subscribers, then the publishers, publishes for
// c.Duration, waits for the deliveries and reports.
func Run(ctx context.Context, c Config) (*Result, error) {
	if err := c.applyDefaults(); err != nil {
		return nil, err
	}
	epoch := time.Now()
	subs := make([]*subscriber, c.Subscribers)
	for i := range subs {
		s, err := newSubscriber(ctx, &c, i, epoch)
		if err != nil {
			closeAll(subs)
			return nil, err
		}
		subs[i] = s
	}
	defer closeAll(subs)
	pubs := make([]*publisher, c.Publishers)
	for i := range pubs {
		p, err := newPublisher(ctx, &c, i)
		if err != nil {
			for _, p := range pubs[:i] {
				p.close()
			}
			return nil, err
		}
		pubs[i] = p
	}

	if len(subs) > 0 && subs[0].stamp != nil {
		waitStamps() // else the first deliveries may come without
	}
	start := time.Now()
	stop := start.Add(c.Duration)
	var wg sync.WaitGroup
	errs := make(chan error, len(pubs))
	for _, p := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.run(ctx, epoch, stop, c.Rate/float64(c.Publishers)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	// The publishers' connections close after the last deliveries
	// arrived (or the drain time passed), not before: closing a hundred
	// connections takes the generator's processor (and the broker's)
	// for milliseconds, and the last messages' latency measured that,
	// not the broker's delivery. At 1,000 msg/s in step the last burst
	// is 1 % of a 10 s run's messages: p99 was its close.
	defer func() {
		for _, p := range pubs {
			p.close()
		}
	}()
	select {
	case err := <-errs:
		return nil, err
	default:
	}

	res := &Result{Config: c}
	for _, p := range pubs {
		res.Sent += p.sent
	}
	res.Expected = res.Sent * uint64(c.receivers())
	// Wait until every expected delivery arrived, or the drain time passed.
	deadline := time.NewTimer(c.Drain)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	last := time.Now()
wait:
	for {
		var got uint64
		for _, s := range subs {
			got += s.received.Load()
		}
		if got >= res.Expected {
			break
		}
		select {
		case <-deadline.C:
			break wait
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
	var lat, arr histogram
	for _, s := range subs {
		s.close()
		s.mu.Lock()
		res.Delivered += s.distinct
		res.Dups += s.dups
		lat.merge(&s.hist)
		arr.merge(&s.arrival)
		if s.lastAt.After(last) || last.IsZero() {
			last = s.lastAt
		}
		s.mu.Unlock()
	}
	if c.Subscribers == 0 {
		last = time.Now()
	}
	res.Elapsed = last.Sub(start)
	res.P50, res.P90, res.P99, res.P999, res.Max = lat.quantile(0.50), lat.quantile(0.90), lat.quantile(0.99), lat.quantile(0.999), lat.max
	res.Arrived = arr.n
	res.ArrP50, res.ArrP99, res.ArrP999, res.ArrMax = arr.quantile(0.50), arr.quantile(0.99), arr.quantile(0.999), arr.max
	return res, nil
}

func closeAll(subs []*subscriber) {
	for _, s := range subs {
		if s != nil {
			s.close()
		}
	}
}

// dial connects and completes CONNECT/CONNACK.
func dial(ctx context.Context, c *Config, id string) (net.Conn, *packet.Reader, error) {
	return dialSession(ctx, c, c.Addr, id, false)
}

// dialSession is dial to addr with a persistent session when persistent
// is set.
func dialSession(ctx context.Context, c *Config, addr, id string, persistent bool) (net.Conn, *packet.Reader, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, &DialError{Addr: addr, Err: fmt.Errorf("connect to %s: %w", addr, err)}
	}
	connect := &packet.Connect{ProtocolVersion: c.Version, CleanStart: true, KeepAlive: 0, ClientID: id}
	if c.Version == packet.V5 {
		connect.Props.ReceiveMaximum = 65535
	}
	if persistent {
		if c.Version == packet.V5 {
			connect.Props.SessionExpiry = 60
			connect.Props.Present = connect.Props.Present.Add(packet.PropSessionExpiry)
		} else {
			connect.CleanStart = false
		}
	}
	b, _ := connect.AppendTo(nil, c.Version)
	if _, err := nc.Write(b); err != nil {
		nc.Close()
		return nil, nil, err
	}
	r := packet.NewReader(bufio.NewReaderSize(nc, 64<<10))
	r.Version = c.Version
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	p, err := r.ReadPacket()
	nc.SetReadDeadline(time.Time{})
	if err != nil {
		nc.Close()
		return nil, nil, &DialError{Addr: addr, Err: fmt.Errorf("%s: reading CONNACK from %s: %w", id, addr, err)}
	}
	if ack, ok := p.(*packet.Connack); !ok || ack.ReasonCode.IsError() {
		nc.Close()
		return nil, nil, &DialError{Addr: addr, Refused: true, Err: fmt.Errorf("%s: broker at %s refused the connection: %v", id, addr, p)}
	}
	return nc, r, nil
}

// Idle opens n connections that complete CONNECT/CONNACK and then stay
// silent (keep alive 0), for measuring a broker's memory per idle
// connection. The caller closes them. Past 20,000 connections to a
// loopback broker, each further 20,000 come from the next loopback source
// address (127.0.0.2, ...), since one source address has only ~28,000
// ephemeral ports towards one broker port.
func Idle(ctx context.Context, addr string, v packet.Version, n int) ([]net.Conn, error) {
	c := Config{Addr: addr, Version: v, Prefix: "idle-" + strconv.FormatInt(time.Now().UnixNano(), 36)}
	if err := c.applyDefaults(); err != nil {
		return nil, err
	}
	loopback := false
	if host, _, err := net.SplitHostPort(addr); err == nil {
		ip := net.ParseIP(host)
		loopback = ip != nil && ip.IsLoopback() && ip.To4() != nil
	}
	conns := make([]net.Conn, 0, n)
	ack := make([]byte, 64)
	for i := range n {
		var d net.Dialer
		if loopback && n > idlePerSource {
			d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i/idlePerSource))}
		}
		nc, err := idleDial(ctx, &d, &c, c.Prefix+"-"+strconv.Itoa(i), ack)
		if err != nil {
			for _, nc := range conns {
				nc.Close()
			}
			return nil, fmt.Errorf("idle connection %d: %w", i, err)
		}
		conns = append(conns, nc)
	}
	return conns, nil
}

// Busy makes idle connections (from [Idle]) busy for a moment: each
// sends m QoS 1 PUBLISHes (10-byte payloads, topic "idle/busy") in one
// write, all connections first, then reads its m PUBACKs. After it
// returns the connections are idle again: what a broker still holds for
// them is what a connection that was busy costs (issue 15).
func Busy(conns []net.Conn, v packet.Version, m int) error {
	if m < 1 || m > 65535 {
		return fmt.Errorf("%d messages per connection: 1 to 65,535 (one packet id each)", m)
	}
	var burst []byte
	for j := range m {
		burst, _ = (&packet.Publish{Topic: "idle/busy", QoS: 1, PacketID: uint16(j + 1), Payload: []byte("0123456789")}).AppendTo(burst, v)
	}
	for i, nc := range conns {
		nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := nc.Write(burst); err != nil {
			return fmt.Errorf("connection %d: sending %d PUBLISHes: %w", i, m, err)
		}
		nc.SetWriteDeadline(time.Time{})
	}
	for i, nc := range conns {
		r := packet.NewReader(bufio.NewReaderSize(nc, 4096))
		r.Version = v
		for j := range m {
			if j%256 == 0 {
				// 30 s without progress: a broker (mosquitto on one core)
				// may take minutes for all of them, round robin.
				nc.SetReadDeadline(time.Now().Add(30 * time.Second))
			}
			p, err := r.ReadPacket()
			if err != nil {
				return fmt.Errorf("connection %d: reading PUBACK %d of %d: %w", i, j+1, m, err)
			}
			if ack, ok := p.(*packet.Puback); !ok || ack.ReasonCode.IsError() {
				return fmt.Errorf("connection %d: %v, not a PUBACK", i, p)
			}
		}
		nc.SetReadDeadline(time.Time{})
	}
	return nil
}

// idlePerSource is how many idle connections come from one loopback
// source address.
const idlePerSource = 20000

// idleDial connects and completes CONNECT/CONNACK with a small buffer (a
// hundred thousand connections must not each allocate a reader).
func idleDial(ctx context.Context, d *net.Dialer, c *Config, id string, buf []byte) (net.Conn, error) {
	nc, err := d.DialContext(ctx, "tcp", c.Addr)
	if err != nil {
		return nil, &DialError{Addr: c.Addr, Err: fmt.Errorf("connect to %s: %w", c.Addr, err)}
	}
	b, _ := (&packet.Connect{ProtocolVersion: c.Version, CleanStart: true, ClientID: id}).AppendTo(buf[:0], c.Version)
	if _, err := nc.Write(b); err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	// CONNACK is 4 bytes in 3.1.1; in 5.0 it carries properties: read
	// its fixed header, then exactly the rest, so nothing is left unread.
	fail := func(err error) (net.Conn, error) {
		nc.Close()
		return nil, &DialError{Addr: c.Addr, Err: fmt.Errorf("%s: reading CONNACK from %s: %w", id, c.Addr, err)}
	}
	if _, err := io.ReadFull(nc, buf[:1]); err != nil || buf[0] != 0x20 {
		return fail(fmt.Errorf("not a CONNACK (%v)", err))
	}
	rl := 0
	for shift := 0; ; shift += 7 {
		if _, err := io.ReadFull(nc, buf[:1]); err != nil || shift > 21 {
			return fail(fmt.Errorf("remaining length (%v)", err))
		}
		rl |= int(buf[0]&0x7f) << shift
		if buf[0]&0x80 == 0 {
			break
		}
	}
	rest := make([]byte, rl)
	if _, err := io.ReadFull(nc, rest); err != nil {
		return fail(err)
	}
	nc.SetReadDeadline(time.Time{})
	if len(rest) < 2 || rest[1] != 0 {
		nc.Close()
		return nil, &DialError{Addr: c.Addr, Refused: true, Err: fmt.Errorf("%s: broker at %s refused the connection", id, c.Addr)}
	}
	return nc, nil
}
