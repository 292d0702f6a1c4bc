package bench

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttboard/mqttboard/packet"
)

// publisher publishes one topic's messages on its own connection.
type publisher struct {
	c    *Config
	id   int
	nc   net.Conn
	r    *packet.Reader
	w    *bufio.Writer
	sent uint64

	window  chan struct{} // QoS 1: a token per message that may be in flight
	acked   atomic.Uint64
	readErr chan error
}

func newPublisher(ctx context.Context, c *Config, id int) (*publisher, error) {
	nc, r, err := dialSession(ctx, c, c.addrOf(false, id), c.Prefix+"-pub-"+strconv.Itoa(id), false)
	if err != nil {
		return nil, err
	}
	p := &publisher{c: c, id: id, nc: nc, r: r, w: bufio.NewWriterSize(nc, 64<<10), readErr: make(chan error, 1)}
	if c.QoS > 0 {
		p.window = make(chan struct{}, c.Inflight)
		for range c.Inflight {
			p.window <- struct{}{}
		}
	}
	go p.readAcks()
	return p, nil
}

// readAcks returns a window token for every PUBACK.
func (p *publisher) readAcks() {
	for {
		pk, err := p.r.ReadPacket()
		if err != nil {
			p.readErr <- err
			return
		}
		if ack, ok := pk.(*packet.Puback); ok {
			if ack.ReasonCode.IsError() && ack.ReasonCode != packet.NoMatchingSubscribers {
				p.readErr <- fmt.Errorf("publisher %d: PUBACK %v", p.id, ack)
				return
			}
			p.acked.Add(1)
			p.window <- struct{}{}
		}
	}
}

// run publishes until stop at rate messages per second (0: unlimited), then
// waits for the outstanding acknowledgements.
func (p *publisher) run(ctx context.Context, epoch, stop time.Time, rate float64) error {
	pub := packet.Publish{Topic: p.c.topic(p.id), QoS: p.c.QoS, Payload: make([]byte, p.c.Size)}
	binary.BigEndian.PutUint32(pub.Payload[8:], uint32(p.id))
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(time.Second) / rate)
	}
	next := p.c.firstAt(time.Now(), p.id, interval)
	var buf []byte
	var seq uint32
	for {
		now := time.Now()
		if !now.Before(stop) {
			break
		}
		if interval > 0 {
			if d := next.Sub(now); d > 0 {
				time.Sleep(d) // pacing a load generator, not synchronising a test
			}
			next = next.Add(interval)
		}
		if p.window != nil {
			select {
			case <-p.window:
			default:
				// The window is full: push out what is buffered, then wait.
				if err := p.w.Flush(); err != nil {
					return err
				}
				select {
				case <-p.window:
				case err := <-p.readErr:
					return err
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			pub.PacketID = uint16(seq%65535) + 1
		}
		seq++
		binary.BigEndian.PutUint64(pub.Payload, uint64(time.Since(epoch)))
		binary.BigEndian.PutUint32(pub.Payload[12:], seq)
		buf, _ = pub.AppendTo(buf[:0], p.c.Version)
		if _, err := p.w.Write(buf); err != nil {
			return err
		}
		if interval > 0 || p.w.Buffered() > 32<<10 {
			if err := p.w.Flush(); err != nil {
				return err
			}
		}
	}
	if err := p.w.Flush(); err != nil {
		return err
	}
	p.sent = uint64(seq)
	if p.window == nil {
		return nil
	}
	// Wait for the outstanding acknowledgements.
	deadline := time.After(p.c.Drain)
	for range p.c.Inflight {
		select {
		case <-p.window:
		case err := <-p.readErr:
			return err
		case <-deadline:
			return fmt.Errorf("publisher %d: %d of %d messages unacknowledged after %v", p.id, uint64(seq)-p.acked.Load(), seq, p.c.Drain)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.sent = p.acked.Load()
	return nil
}

// firstAt is when publisher pub, paced at interval, sends its first
// message, the publishers starting at now (see [Config.Stagger]).
func (c *Config) firstAt(now time.Time, pub int, interval time.Duration) time.Time {
	if !c.Stagger || interval <= 0 || c.Publishers <= 1 {
		return now
	}
	return now.Add(time.Duration(pub) * interval / time.Duration(c.Publishers))
}

func (p *publisher) close() {
	b, _ := (&packet.Disconnect{}).AppendTo(nil, p.c.Version)
	p.nc.SetWriteDeadline(time.Now().Add(time.Second))
	p.nc.Write(b)
	p.nc.Close()
}

// subscriber receives on one connection and accounts for every delivery.
type subscriber struct {
	c      *Config
	nc     net.Conn
	r      *packet.Reader
	w      *bufio.Writer
	epoch  time.Time
	done   chan struct{}
	closed sync.Once

	received atomic.Uint64

	mu       sync.Mutex
	next     []uint32 // next sequence expected from each publisher
	distinct uint64
	dups     uint64
	hist     histogram
	arrival  histogram // send to arrival in the socket (stamp)
	lastAt   time.Time

	stamp *stampedReader // nil: no receive timestamps
}

func newSubscriber(ctx context.Context, c *Config, id int, epoch time.Time) (*subscriber, error) {
	nc, r, err := dialSession(ctx, c, c.addrOf(true, id), c.Prefix+"-sub-"+strconv.Itoa(id), c.Persistent)
	if err != nil {
		return nil, err
	}
	s := &subscriber{c: c, nc: nc, r: r, w: bufio.NewWriterSize(nc, 16<<10), epoch: epoch, done: make(chan struct{}),
		next: make([]uint32, c.Publishers)}
	for i := range s.next {
		s.next[i] = 1
	}
	sub := &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: c.filter(id), QoS: c.QoS}}}
	b, _ := sub.AppendTo(nil, c.Version)
	if _, err := nc.Write(b); err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	p, err := r.ReadPacket()
	nc.SetReadDeadline(time.Time{})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("subscriber %d: reading SUBACK: %w", id, err)
	}
	if ack, ok := p.(*packet.Suback); !ok || len(ack.ReasonCodes) != 1 || ack.ReasonCodes[0].IsError() {
		nc.Close()
		return nil, fmt.Errorf("subscriber %d: subscription refused: %v", id, p)
	}
	if c.Rate > 0 && r.Buffered() == 0 {
		// At a fixed rate the kernel's receive timestamps say when each
		// delivery arrived (Result.Arrived); a run at full speed keeps
		// the plain reads.
		if s.stamp = newStampedReader(nc); s.stamp != nil {
			s.r = packet.NewReader(bufio.NewReaderSize(s.stamp, 64<<10))
			s.r.Version = c.Version
		}
	}
	go s.read()
	return s, nil
}

func (s *subscriber) read() {
	defer close(s.done)
	var ack []byte
	for {
		pk, err := s.r.ReadPacket()
		if err != nil {
			return
		}
		pub, ok := pk.(*packet.Publish)
		if !ok || len(pub.Payload) < 16 {
			continue
		}
		at := time.Now()
		now := at.Sub(s.epoch)
		sent := time.Duration(binary.BigEndian.Uint64(pub.Payload))
		from := binary.BigEndian.Uint32(pub.Payload[8:])
		seq := binary.BigEndian.Uint32(pub.Payload[12:])
		s.mu.Lock()
		if int(from) < len(s.next) {
			if seq >= s.next[from] {
				s.distinct++
				s.next[from] = seq + 1
			} else {
				s.dups++
			}
		}
		s.hist.add(now - sent)
		if s.stamp != nil && s.stamp.last > 0 {
			// The wait in the socket is a difference of wall clocks a
			// few ms apart; the rest stays on the monotonic clock.
			s.arrival.add(now - sent - max(0, time.Duration(at.UnixNano()-s.stamp.last)))
		}
		s.lastAt = s.epoch.Add(now)
		s.mu.Unlock()
		s.received.Add(1)
		if pub.QoS == 1 {
			ack, _ = (&packet.Puback{Ack: packet.Ack{PacketID: pub.PacketID}}).AppendTo(ack[:0], s.c.Version)
			s.w.Write(ack)
			if s.r.Buffered() == 0 {
				s.w.Flush() // acknowledge in batches: one write per read
			}
		}
	}
}

func (s *subscriber) close() {
	s.closed.Do(func() {
		// The read loop owns s.w; a net.Conn write is atomic, so the
		// DISCONNECT cannot split one of its flushes.
		b, _ := (&packet.Disconnect{}).AppendTo(nil, s.c.Version)
		s.nc.SetWriteDeadline(time.Now().Add(time.Second))
		s.nc.Write(b)
		s.nc.Close()
		<-s.done
	})
}
