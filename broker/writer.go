package broker

import (
	"errors"
	"net"
	"os"
	"runtime/debug"
	"time"

	"github.com/mqttboard/mqttboard/broker/session"
	"github.com/mqttboard/mqttboard/packet"
)

// batchSize bounds how many deliveries one writev carries, so one busy
// session does not build unbounded iovecs.
const batchSize = 64

// writer is the write loop's state; only the write loop touches it.
type writer struct {
	batch []session.Outgoing
	hdr   []byte // encoded headers of the batch, back to back
	spans []span
	bufs  net.Buffers
	ctrl  []byte // swapped with conn.ctrl
	flat  []byte // the batch in one buffer, for connections without writev
	pub   packet.Publish
	ids   []uint32
	// rest is what an inline write (see [conn.writeNow]) left unwritten
	// when the socket was full: the write task writes it first.
	rest net.Buffers
	// out is bufs as writeBatch's writev consumes it: a field, so that
	// the slice header taken by address is not a heap allocation per
	// batch.
	out net.Buffers
}

// span is one packet of a batch: hdr[start:end] followed by payload.
type span struct {
	start, end int
	payload    []byte
}

// Wake implements [session.Conn]: it makes sure a write loop runs. An idle
// connection has none (its goroutine stack is the largest part of an idle
// connection's memory), so the first Wake starts one; while one runs, Wake
// only tells it to look again before it exits.
func (c *conn) Wake() {
	c.mu.Lock()
	if !c.ready || c.writing {
		c.pending = true
		c.mu.Unlock()
		select {
		case c.wakeC() <- struct{}{}:
		default:
		}
		return
	}
	c.writing = true
	c.pending = false
	c.mu.Unlock()
	if c.evMode {
		c.s.loop.pool.Go((*writeTask)(c))
		return
	}
	go c.writeLoop()
}

// writerLinger is how long a write loop with nothing to do waits for more
// before its goroutine ends: long enough that a busy connection keeps one
// goroutine, short enough that idle ones hold none.
const writerLinger = 100 * time.Millisecond

// writeLoop drains the connection's control packets and its session's
// queue into one writev per batch. It deliberately encodes a PUBLISH header
// per delivery (packet id, topic alias, subscription ids and the remaining
// expiry differ per session) but never copies a payload: the shared bytes
// go into net.Buffers as they are. It returns when there is nothing left
// to write for writerLinger, and for good (writerExit) after the final
// DISCONNECT once the connection is stopping, or after a failed write.
func (c *conn) writeLoop() {
	defer func() {
		if r := recover(); r != nil {
			c.s.opts.Logger.Error("write loop panic", "client", c.clientID, "panic", r, "stack", string(debug.Stack()))
			c.releaseWriter()
			c.Kick(packet.ImplementationSpecificError, "internal error")
			c.nc.Close()
			c.writerExit()
		}
	}()
	var idle *time.Timer
	if c.w != nil {
		// An inline write filled the socket: its rest goes first, then
		// whatever else (the DISCONNECT too) follows it.
		if err := c.writeRest(); err != nil {
			c.writeFailed(err)
			return
		}
		c.releaseWriter()
	}
	for {
		c.mu.Lock()
		c.pending = false
		stopping, graceful := c.stopping, c.graceful
		c.mu.Unlock()
		select {
		case <-c.wakeC(): // consumed: pending covers it
		default:
		}
		if stopping {
			c.flushFinal(graceful)
			c.writerExit()
			return
		}
		c.w = writerPool.Get().(*writer)
		for more := true; more; {
			var err error
			more, err = c.writeBatch()
			if err != nil {
				c.writeFailed(err)
				return
			}
			if c.stopped.Load() {
				more = false
			}
		}
		c.releaseWriter()
		c.mu.Lock()
		again := c.pending || c.stopping
		c.mu.Unlock()
		if again {
			continue
		}
		if c.evMode {
			// On the event loop the pool keeps the goroutine: nothing to
			// linger for. The write deadline is left to expire unused
			// (the pollDesc's own timer, no memory); the next batch sets
			// a fresh one.
			c.mu.Lock()
			if c.pending || c.stopping {
				c.mu.Unlock()
				continue
			}
			c.writing = false
			c.mu.Unlock()
			return
		}
		if idle == nil {
			idle = time.NewTimer(writerLinger)
		} else {
			idle.Reset(writerLinger)
		}
		select {
		case <-c.wakeC():
			idle.Stop()
			continue
		case <-idle.C:
		}
		c.mu.Lock()
		if c.pending || c.stopping {
			c.mu.Unlock()
			continue
		}
		if c.wdl != 0 {
			// An idle connection keeps no deadline timer in the runtime's
			// heap (memory per idle connection); the next write sets one.
			c.wdl = 0
			c.nc.SetWriteDeadline(time.Time{})
		}
		c.writing = false // from here on, Wake starts a new loop
		c.mu.Unlock()
		return
	}
}

// writeFailed ends writing after a failed or timed-out write: the stream
// may stop inside a packet, so nothing more can be written; closing the
// socket ends the read side too.
func (c *conn) writeFailed(err error) {
	c.releaseWriter()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.Kick(packet.QuotaExceeded, "client does not read what it is sent")
	} else {
		c.Kick(0, "")
	}
	c.nc.Close()
	c.writerExit()
}

// writerExit marks the end of writing for good: the connection is closing
// and no write loop starts again (writing stays true).
func (c *conn) writerExit() {
	c.fire(writerDone)
	if c.registered {
		// The socket is closed; an idle read side hears nothing from the
		// poller (the kernel dropped the registration), so wake it: its
		// read fails and it ends the connection.
		c.Ready()
	}
}

// releaseWriter gives the write scratch back to the pool once the queue is
// drained, keeping nothing that points at messages.
func (c *conn) releaseWriter() {
	w := c.w
	if w == nil {
		return
	}
	c.w = nil
	w.pub = packet.Publish{}
	w.rest = nil
	clear(w.batch)
	clear(w.bufs)
	w.batch, w.bufs, w.spans, w.hdr = w.batch[:0], w.bufs[:0], w.spans[:0], w.hdr[:0]
	if cap(w.hdr) > 64<<10 || cap(w.flat) > 64<<10 || cap(w.ctrl) > 64<<10 {
		return // a burst's buffers: let them go instead of pooling them
	}
	writerPool.Put(w)
}

// flushFinal writes what control packets remain and the DISCONNECT, and
// closes, waiting briefly for the client to read them. At shutdown
// (graceful) it first sends what the session has queued, so that wills
// published at shutdown reach the subscribers still connected.
func (c *conn) flushFinal(graceful bool) {
	if graceful && c.sess != nil {
		c.w = writerPool.Get().(*writer)
		for more := true; more; {
			var err error
			if more, err = c.writeBatch(); err != nil {
				c.releaseWriter()
				c.nc.Close()
				return
			}
		}
		c.releaseWriter()
	}
	c.mu.Lock()
	b := c.ctrl
	if c.final {
		d := packet.Disconnect{ReasonCode: c.code}
		if reason := c.kickReason(); reason != "" {
			d.Props.ReasonString = c.s.reasonString(reason) // reason.go
		}
		b, _ = d.AppendTo(b, c.v)
	}
	c.ctrl, c.final = nil, false
	c.mu.Unlock()
	if !graceful {
		// Kick already bounded a write in progress; this bounds the
		// DISCONNECT itself.
		c.nc.SetWriteDeadline(time.Now().Add(c.s.opts.ShutdownLinger))
	} else {
		c.nc.SetWriteDeadline(time.Now().Add(c.s.opts.WriteTimeout))
	}
	if len(b) > 0 {
		if _, err := c.nc.Write(b); err == nil {
			if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
			t := time.NewTimer(c.s.opts.ShutdownLinger)
			select {
			case <-c.wait(readerDone):
			case <-t.C:
			}
			t.Stop()
		}
	}
	c.nc.Close()
}

func (c *conn) writeBatch() (more bool, err error) {
	w := c.w
	now := time.Now()
	c.mu.Lock()
	c.moveDeadlineLocked(now)
	c.mu.Unlock()
	more = c.prepare(now)
	if len(w.bufs) == 0 {
		return more, nil
	}
	var n int64
	if c.streamed() {
		w.out = w.bufs // WriteTo consumes its receiver: after an error, the rest
		n, err = c.writeAll(&w.out)
		w.out = nil
	} else {
		// TLS and WebSocket turn every Write into a record or a message,
		// so for them the batch is copied into one buffer first: the
		// payload copy costs less than a frame per buffer.
		w.flat = w.flat[:0]
		for _, b := range w.bufs {
			w.flat = append(w.flat, b...)
		}
		var m int
		m, err = c.nc.Write(w.flat)
		n = int64(m)
		if cap(w.flat) > 64<<10 {
			w.flat = nil
		}
	}
	c.wrote(n)
	return more, err
}

// moveDeadlineLocked gives the write about to start a deadline. Every
// write that may wait has one: a client that stops reading is cut off
// after WriteTimeout, never holding the write loop (and its session's
// queue) for ever. The deadline moves only when half of it is used, so a
// busy connection seldom sets it; once kicked, it is not moved. Called
// with c.mu held.
func (c *conn) moveDeadlineLocked(now time.Time) {
	if !c.stopping || c.graceful {
		if c.wdl-now.UnixNano() < int64(c.s.opts.WriteTimeout/2) {
			d := now.Add(c.s.opts.WriteTimeout)
			c.wdl = d.UnixNano()
			c.nc.SetWriteDeadline(d)
		}
	}
}

// keptCtrl is the most room for control packets a connection keeps
// between writes (a few acknowledgements' worth, so that a steady QoS 1
// flow reuses its buffers).
const keptCtrl = 256

// prepare takes the control packets and the next batch of the session's
// queue and lays them out in c.w.bufs, headers encoded, payloads shared.
func (c *conn) prepare(now time.Time) (more bool) {
	w := c.w
	c.mu.Lock()
	// The connection gets the writer's previous buffer for what comes
	// next, unless a burst grew it: an idle connection keeps at most
	// keptCtrl bytes of room, not a burst's acknowledgements.
	next := w.ctrl[:0]
	if cap(next) > keptCtrl {
		next = nil
	}
	w.ctrl, c.ctrl = c.ctrl, next
	c.mu.Unlock()
	w.batch, more = c.sess.Take(w.batch[:0], batchSize, int(c.recvMax), now)
	w.hdr = w.hdr[:0]
	w.spans = w.spans[:0]
	for i := range w.batch {
		c.encode(&w.batch[i], now)
	}
	w.bufs = w.bufs[:0]
	if len(w.ctrl) > 0 {
		w.bufs = append(w.bufs, w.ctrl)
	}
	for _, sp := range w.spans {
		w.bufs = append(w.bufs, w.hdr[sp.start:sp.end])
		if len(sp.payload) > 0 {
			w.bufs = append(w.bufs, sp.payload)
		}
	}
	return more
}

// writeAll writes *bufs on a streamed connection, waiting (within the
// write deadline) for room; it consumes what it wrote.
func (c *conn) writeAll(bufs *net.Buffers) (n int64, err error) {
	for {
		var m int64
		m, err = c.writeBufs(bufs) // transport.go
		n += m
		// Progress before the deadline: the client reads, slowly
		// (a large payload over a slow link). Keep going.
		if err == nil || m == 0 || !errors.Is(err, os.ErrDeadlineExceeded) || !c.extendWrite() {
			return n, err
		}
	}
}

// wrote counts n bytes written and lets go of the batch just written.
func (c *conn) wrote(n int64) {
	w := c.w
	c.s.ctr.bytesOut.Add(n)
	c.stats.bytesOut.Add(uint64(n))
	clear(w.bufs) // drop payload references
	clear(w.batch)
	w.rest = nil
	if cap(w.ctrl) > 64<<10 {
		w.ctrl = nil // give a burst's buffer back
	}
}

// inlineBatches bounds how many batches an inline write (see
// [conn.writeNow]) sends for one connection before it leaves the rest to
// the connection's write task: the publisher's burst that runs it has
// its own connection to read.
const inlineBatches = 2

// writeNow is Wake for a connection that a read burst routed messages
// to, called once at the end of that burst (see [router.wakeLater]). When
// no write is in progress it writes what is queued from the burst's own
// goroutine, with writevs that do not wait: at low rates a message then
// reaches the subscriber's socket without a second goroutine (the hand-
// over to a write task was a scheduler round trip per message, more
// than the writev itself). It falls back to the write task (Wake) when
// other read bursts are queued or running (at high rates: the write task,
// run after them, then writes what all of them routed in one writev; a
// writev per publisher's burst cost fan-in its batching), when a write is
// in progress, or when the connection is not the event loop's, and it
// hands over the rest when the socket is full, the queue needs more than
// inlineBatches batches or a Wake came meanwhile. Only one writer ever runs: writing is claimed under c.mu
// exactly as Wake claims it.
func (c *conn) writeNow() {
	if !c.evMode || c.s.loop.bursts.Load() > 1 {
		c.Wake()
		return
	}
	c.writeClaimed()
}

// writeClaimed is writeNow once the write is to be done here: it claims
// writing and writes inline, or leaves the write to the writer that runs
// (Wake). The poller's batch calls it directly (see [loop.BatchEnd]):
// its batch already gathered what many bursts routed.
func (c *conn) writeClaimed() {
	c.mu.Lock()
	if !c.ready || c.writing || c.stopping {
		c.mu.Unlock()
		c.Wake() // pending for the writer that runs, or the final write
		return
	}
	c.writing = true
	c.pending = false
	c.mu.Unlock()
	c.writeInline()
}

// writeInline is writeNow's write, with writing claimed.
func (c *conn) writeInline() {
	defer func() {
		if r := recover(); r != nil {
			// This connection's fault, not the burst's that runs it.
			c.s.opts.Logger.Error("write panic", "client", c.clientID, "panic", r, "stack", string(debug.Stack()))
			c.releaseWriter()
			c.Kick(packet.ImplementationSpecificError, "internal error")
			c.nc.Close()
			c.writerExit()
		}
	}()
	c.w = writerPool.Get().(*writer)
	w := c.w
	now := time.Now()
	handOver := false
	for i := 0; ; i++ {
		if i == inlineBatches {
			handOver = true
			break
		}
		more := c.prepare(now)
		if len(w.bufs) > 0 {
			w.rest = w.bufs // consumed as written: the part the socket did not take stays
			n, err := c.sock.WritevNow(&w.rest)
			c.s.ctr.bytesOut.Add(n)
			c.stats.bytesOut.Add(uint64(n))
			switch {
			case err == errWouldBlock:
				// The socket is full: the write task writes the rest,
				// waiting for room within the write deadline.
				c.s.loop.pool.Go((*writeTask)(c))
				return
			case err != nil:
				c.writeFailed(err)
				return
			}
			c.wrote(0)
		}
		if !more {
			break
		}
	}
	c.releaseWriter()
	c.mu.Lock()
	if handOver || c.pending || c.stopping {
		c.mu.Unlock()
		c.s.loop.pool.Go((*writeTask)(c))
		return
	}
	c.writing = false
	c.mu.Unlock()
}

// writeRest writes what an inline write left when the socket was full.
func (c *conn) writeRest() error {
	c.mu.Lock()
	c.moveDeadlineLocked(time.Now())
	c.mu.Unlock()
	n, err := c.writeAll(&c.w.rest)
	c.wrote(n)
	return err
}

// extendWrite gives a write that made progress another WriteTimeout, unless
// the connection was kicked meanwhile.
func (c *conn) extendWrite() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopping && !c.graceful {
		return false
	}
	d := time.Now().Add(c.s.opts.WriteTimeout)
	c.wdl = d.UnixNano()
	c.nc.SetWriteDeadline(d)
	return true
}

// encode appends the header of one outgoing packet to the batch.
func (c *conn) encode(o *session.Outgoing, now time.Time) {
	w := c.w
	start := len(w.hdr)
	if o.Pubrel {
		w.hdr, _ = (&packet.Pubrel{Ack: packet.Ack{PacketID: o.PacketID}}).AppendTo(w.hdr, c.v)
		w.spans = append(w.spans, span{start: start, end: len(w.hdr)})
		return
	}
	m := o.Msg
	p := &w.pub
	*p = packet.Publish{Topic: m.Topic, QoS: o.QoS, Retain: o.Retain, Dup: o.Dup, PacketID: o.PacketID, Payload: m.Payload}
	if c.v == packet.V5 {
		p.Props = m.Props
		if !m.Expires.IsZero() {
			p.Props.MessageExpiry = m.RemainingExpiry(now) // [MQTT-3.3.2-6]
			p.Props.Present = p.Props.Present.Add(packet.PropMessageExpiry)
		}
		if o.SubID != 0 {
			w.ids = append(w.ids[:0], o.SubID)
			if len(o.SubIDs) > 0 {
				w.ids = append(w.ids[:0], o.SubIDs...)
			}
			p.Props.SubscriptionIDs = w.ids
		}
	}
	if c.maxOut > 0 && uint32(p.HeaderSize(c.v)+len(p.Payload)) > c.maxOut {
		// Too large for this client: discarded as if delivered
		// [MQTT-3.1.2-25].
		if o.PacketID != 0 {
			c.sess.Drop(o.PacketID)
		}
		c.s.ctr.dropped.Add(1)
		c.s.ctr.droppedTooLarge.Add(1) // for metrics by cause
		c.s.emit(Event{Kind: EventDropped, ClientID: c.clientID, Reason: packet.PacketTooLarge, Topic: m.Topic, Detail: "larger than the client's Maximum Packet Size"})
		return
	}
	if c.aliasMaxOut > 0 {
		c.alias(p)
	}
	var err error
	w.hdr, err = p.AppendHeader(w.hdr, c.v)
	if err != nil {
		w.hdr = w.hdr[:start]
		c.s.opts.Logger.Error("encode PUBLISH", "client", c.clientID, "err", err)
		return
	}
	w.spans = append(w.spans, span{start: start, end: len(w.hdr), payload: m.Payload})
	c.s.ctr.sent.Add(1)
	c.stats.delivered.Add(1)
}

// alias replaces a topic the client already knows by its alias, and assigns
// aliases to new topics while the client's Topic Alias Maximum allows
// [MQTT-3.3.2-11]. Aliases are never reassigned, which keeps the table
// consistent after a resend.
func (c *conn) alias(p *packet.Publish) {
	if a, ok := c.aliases[p.Topic]; ok {
		p.Props.TopicAlias = a
		p.Topic = ""
		return
	}
	if len(c.aliases) >= int(c.aliasMaxOut) {
		return
	}
	if c.aliases == nil {
		c.aliases = make(map[string]uint16)
	}
	a := uint16(len(c.aliases) + 1)
	c.aliases[p.Topic] = a
	p.Props.TopicAlias = a
}
