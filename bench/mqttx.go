package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttboard/mqttboard/packet"
)

// Load is one of MQTTX CLI's bench modes: "conn" (open Count
// connections), "pub" (Count clients publishing) or "sub" (Count clients
// subscribing and counting). The zero value of a field means its default.
type Load struct {
	Mode    string // conn, pub or sub
	Addr    string
	Version packet.Version // default 5
	Count   int            // clients; default 1000 (conn, sub) or 100 (pub), as MQTTX
	// Interval is the wait between starting two clients; default 10 ms.
	Interval time.Duration
	// Topic is published or subscribed to; "%i" becomes the client's
	// number (1-based), as in MQTTX. Default "mqttboard/bench/%i".
	Topic string
	QoS   packet.QoS
	// Message is what pub publishes; default "Hello from mqttboard".
	Message []byte
	// MessageInterval is the wait between two publishes of one client;
	// default 1 s.
	MessageInterval time.Duration
	// Limit ends pub after this many messages per client (0: no limit).
	Limit int
	// Duration ends the run (0: until ctx is cancelled; conn also ends
	// once every client connected when Duration is 0 and Hold is false).
	Duration time.Duration
	// Hold keeps conn's connections open until Duration or ctx ends.
	Hold bool
	// Prefix makes the client ids; default "mqttboard-bench".
	Prefix string
}

// Validate fills in the defaults and checks l without connecting.
func (l *Load) Validate() error {
	switch l.Mode {
	case "conn", "sub":
		if l.Count == 0 {
			l.Count = 1000
		}
	case "pub":
		if l.Count == 0 {
			l.Count = 100
		}
	default:
		return fmt.Errorf("bench mode %q: use conn, pub or sub", l.Mode)
	}
	if l.Count < 0 || l.Interval < 0 || l.MessageInterval < 0 || l.Limit < 0 || l.Duration < 0 {
		return errors.New("count, intervals, limit and duration must not be negative")
	}
	if l.Version == 0 {
		l.Version = packet.V5
	}
	if l.Interval == 0 {
		l.Interval = 10 * time.Millisecond
	}
	if l.Topic == "" {
		l.Topic = "mqttboard/bench/%i"
	}
	if l.QoS > 2 {
		return fmt.Errorf("QoS %d: use 0, 1 or 2", l.QoS)
	}
	if l.Message == nil {
		l.Message = []byte("Hello from mqttboard")
	}
	if l.MessageInterval == 0 {
		l.MessageInterval = time.Second
	}
	if l.Prefix == "" {
		l.Prefix = "mqttboard-bench"
	}
	return nil
}

// Progress is the once-a-second line of a Load run.
type Progress struct {
	Elapsed   time.Duration
	Connected int    // clients connected so far
	Total     uint64 // messages published (pub) or received (sub) so far
	Rate      uint64 // of those, in the last second
}

// LoadSummary is what a Load run measured.
type LoadSummary struct {
	Mode      string
	Connected int
	Total     uint64
	Elapsed   time.Duration
	// Latency percentiles: connect time (conn), acknowledgement time of
	// QoS 1/2 publishes (pub), or nothing (sub).
	P50, P90, P99, Max time.Duration
	// Per-second rate percentiles (pub, sub).
	RateP50, RateP90, RateP99, RateMax uint64
}

// RunLoad runs l, calling progress once a second from its own goroutine,
// and returns the summary of what was done, also when it ends with an
// error.
func RunLoad(ctx context.Context, l Load, progress func(Progress)) (*LoadSummary, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	if l.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, l.Duration)
		defer cancel()
	}
	var (
		connected atomic.Int64
		total     atomic.Uint64
		mu        sync.Mutex
		lat       histogram
		rates     []uint64
		wg        sync.WaitGroup
		firstErr  error
		errOnce   sync.Once
	)
	fail := func(err error) { errOnce.Do(func() { firstErr = err }) }
	start := time.Now()
	stopTick := make(chan struct{})
	tickDone := make(chan struct{})
	go func() {
		defer close(tickDone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var last uint64
		for {
			select {
			case <-stopTick:
				return
			case <-t.C:
				n := total.Load()
				mu.Lock()
				rates = append(rates, n-last)
				mu.Unlock()
				progress(Progress{Elapsed: time.Since(start), Connected: int(connected.Load()), Total: n, Rate: n - last})
				last = n
			}
		}
	}()
	var conns []net.Conn
	var connMu sync.Mutex
	ctxDone := ctx.Done()
clients:
	for i := 1; i <= l.Count; i++ {
		if i > 1 {
			t := time.NewTimer(l.Interval)
			select {
			case <-ctxDone:
				t.Stop()
				break clients
			case <-t.C:
			}
		}
		c := &Config{Addr: l.Addr, Version: l.Version}
		begin := time.Now()
		nc, r, err := dial(ctx, c, l.Prefix+"-"+l.Mode+"-"+strconv.Itoa(i))
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			fail(err)
			break
		}
		connected.Add(1)
		connMu.Lock()
		conns = append(conns, nc)
		connMu.Unlock()
		topic := strings.ReplaceAll(l.Topic, "%i", strconv.Itoa(i))
		switch l.Mode {
		case "conn":
			mu.Lock()
			lat.add(time.Since(begin))
			mu.Unlock()
		case "sub":
			if err := loadSubscribe(nc, r, l, topic); err != nil {
				fail(err)
				break clients
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				loadReceive(nc, r, l.Version, &total)
			}()
		case "pub":
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := loadPublish(ctx, nc, r, l, topic, &total, &mu, &lat); err != nil && ctx.Err() == nil {
					fail(err)
				}
			}()
		}
	}
	if firstErr == nil && (l.Mode != "conn" || l.Hold || l.Duration > 0) {
		if l.Mode == "pub" && l.Limit > 0 {
			// Publishers end by themselves after Limit messages.
			wg.Wait()
		} else {
			<-ctxDone
		}
	}
	bye, _ := (&packet.Disconnect{}).AppendTo(nil, l.Version)
	connMu.Lock()
	for _, nc := range conns {
		nc.SetWriteDeadline(time.Now().Add(time.Second))
		nc.Write(bye)
		nc.Close()
	}
	connMu.Unlock()
	wg.Wait()
	close(stopTick)
	<-tickDone
	s := &LoadSummary{Mode: l.Mode, Connected: int(connected.Load()), Total: total.Load(), Elapsed: time.Since(start)}
	mu.Lock()
	s.P50, s.P90, s.P99, s.Max = lat.quantile(0.5), lat.quantile(0.9), lat.quantile(0.99), lat.max
	s.RateP50, s.RateP90, s.RateP99, s.RateMax = rateQuantiles(rates)
	mu.Unlock()
	return s, firstErr
}

func rateQuantiles(r []uint64) (p50, p90, p99, top uint64) {
	if len(r) == 0 {
		return
	}
	s := append([]uint64(nil), r...)
	for i := 1; i < len(s); i++ { // few values: insertion sort
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	q := func(f float64) uint64 { return s[min(int(f*float64(len(s))), len(s)-1)] }
	return q(0.5), q(0.9), q(0.99), s[len(s)-1]
}

func loadSubscribe(nc net.Conn, r *packet.Reader, l Load, topic string) error {
	b, _ := (&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: topic, QoS: l.QoS}}}).AppendTo(nil, l.Version)
	if _, err := nc.Write(b); err != nil {
		return err
	}
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	p, err := r.ReadPacket()
	nc.SetReadDeadline(time.Time{})
	if err != nil {
		return fmt.Errorf("reading SUBACK: %w", err)
	}
	if ack, ok := p.(*packet.Suback); !ok || len(ack.ReasonCodes) != 1 || ack.ReasonCodes[0].IsError() {
		return &DialError{Addr: l.Addr, Refused: true, Err: fmt.Errorf("subscription to %s refused: %v", topic, p)}
	}
	return nil
}

// loadReceive counts deliveries and acknowledges them until the
// connection closes.
func loadReceive(nc net.Conn, r *packet.Reader, v packet.Version, total *atomic.Uint64) {
	w := bufio.NewWriter(nc)
	var b []byte
	for {
		pk, err := r.ReadPacket()
		if err != nil {
			return
		}
		switch p := pk.(type) {
		case *packet.Publish:
			total.Add(1)
			switch p.QoS {
			case 1:
				b, _ = (&packet.Puback{Ack: packet.Ack{PacketID: p.PacketID}}).AppendTo(b[:0], v)
				w.Write(b)
			case 2:
				b, _ = (&packet.Pubrec{Ack: packet.Ack{PacketID: p.PacketID}}).AppendTo(b[:0], v)
				w.Write(b)
			}
		case *packet.Pubrel:
			b, _ = (&packet.Pubcomp{Ack: packet.Ack{PacketID: p.PacketID}}).AppendTo(b[:0], v)
			w.Write(b)
		}
		if r.Buffered() == 0 {
			w.Flush()
		}
	}
}

// loadPublish publishes every MessageInterval until Limit or ctx ends;
// QoS 1/2 wait for the acknowledgement, whose latency is recorded.
func loadPublish(ctx context.Context, nc net.Conn, r *packet.Reader, l Load, topic string, total *atomic.Uint64, mu *sync.Mutex, lat *histogram) error {
	acks := make(chan error, 1)
	if l.QoS > 0 {
		go func() {
			var b []byte
			for {
				pk, err := r.ReadPacket()
				if err != nil {
					acks <- err
					return
				}
				switch p := pk.(type) {
				case *packet.Puback:
					acks <- codeErr(p.ReasonCode)
				case *packet.Pubrec:
					if p.ReasonCode.IsError() {
						acks <- codeErr(p.ReasonCode)
						continue
					}
					b, _ = (&packet.Pubrel{Ack: packet.Ack{PacketID: p.PacketID}}).AppendTo(b[:0], l.Version)
					nc.Write(b)
				case *packet.Pubcomp:
					acks <- nil
				}
			}
		}()
	}
	pub := packet.Publish{Topic: topic, QoS: l.QoS, Payload: l.Message}
	var b []byte
	t := time.NewTicker(l.MessageInterval)
	defer t.Stop()
	for n := 0; l.Limit == 0 || n < l.Limit; n++ {
		if n > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
		if l.QoS > 0 {
			pub.PacketID = uint16(n%65535) + 1
		}
		b, _ = pub.AppendTo(b[:0], l.Version)
		begin := time.Now()
		if _, err := nc.Write(b); err != nil {
			return err
		}
		if l.QoS > 0 {
			select {
			case err := <-acks:
				if err != nil {
					return fmt.Errorf("publish to %s: %w", topic, err)
				}
			case <-ctx.Done():
				return nil
			}
			mu.Lock()
			lat.add(time.Since(begin))
			mu.Unlock()
		}
		total.Add(1)
	}
	return nil
}

// codeErr is c as an error when it is a failure, else nil.
func codeErr(c packet.ReasonCode) error {
	if c.IsError() {
		return c
	}
	return nil
}
