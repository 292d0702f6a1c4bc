package broker

import (
	"github.com/mqttboard/mqttboard/broker/storage"
	"github.com/mqttboard/mqttboard/packet"
)

// Acknowledgements held until the store has what they promise.
//
// With a store (Options.Store), a PUBACK or PUBREC may go out only once the
// Commit that stored the message (in every persistent session it reached,
// and as retained) is durable; likewise a CONNACK, SUBACK or UNSUBACK for a
// persistent session waits for its session record, and a PUBCOMP for the
// forgetting of the inbound QoS 2 id. The read loop never waits: it encodes
// the packet into the connection's held queue (sendAfter) and goes on
// reading, so a pipelining publisher keeps flowing and the acks of many
// publishes share one fsync. Everything the connection sends after a held
// packet is held behind it too, so acks keep the PUBLISH order
// [MQTT-4.6.0-2].
//
// One goroutine per server (ackLoop) waits for the commits, in the order
// they were applied (which is the order they resolve in), and moves what
// is durable into the connection's control bytes and wakes its writer.
// The write loop itself knows nothing of this: it sends conn.ctrl as
// always.
//
// A commit that fails (disk full, I/O error: storage.ErrWrite) turns a
// 5.0 PUBACK or PUBREC into one with 0x97 Quota exceeded, which tells the
// publisher the message was not taken; MQTT 3.1.1 has no negative
// acknowledgement, so that client is disconnected without the ack, and it
// resends the PUBLISH when it reconnects. Any other held packet that
// fails (CONNACK, SUBACK, ...) disconnects the client with 0x97: what it
// would confirm was not stored.

// heldAcks is a connection's queue of encoded packets waiting for commits,
// guarded by conn.mu. buf holds them back to back; each mark ends the run
// of bytes that may go once its commit is durable.
type heldAcks struct {
	buf   []byte
	marks []heldMark
	// waiting is the commit of the last wait queued to ackLoop for this
	// connection, until a release finds it done. The store's batches share
	// one Commit per group, so the many acks of one group need one wait:
	// a mark for the same commit is released by that wait's releaseHeld,
	// which cannot have run yet (it would have cleared waiting).
	waiting *storage.Commit
}

// heldMark is one commit and the packets waiting for it: buf[start:end],
// of which the first ackLen bytes are the packet the commit is for.
type heldMark struct {
	commit *storage.Commit   // the last one applied: it resolves last
	others []*storage.Commit // the earlier ones, checked for errors

	start, end int
	ackLen     int
	// For a failed commit: a PUBACK or PUBREC is answered with 0x97 in
	// 5.0 (kind is its type, id its packet id); anything else ends the
	// connection.
	kind packet.Type
	id   uint16
}

// ackWait is one entry of the server's wait queue.
type ackWait struct {
	c      *conn
	commit *storage.Commit
}

// sendAfter sends p once every commit is durable (see the comment
// above); with none it is [conn.send], which also queues behind held
// packets. Commits resolve in the order they were applied, so the last one
// tells when; the others are only checked for errors.
func (c *conn) sendAfter(p packet.Packet, commits ...*storage.Commit) {
	if len(commits) == 0 {
		c.send(p)
		return
	}
	commit := commits[len(commits)-1] // every one is non-nil
	if isDone(commit) && commitsErr(commit, commits) == nil {
		c.send(p)
		return
	}
	c.mu.Lock()
	if c.stopping {
		c.mu.Unlock()
		return
	}
	h := c.held
	if h == nil {
		h = new(heldAcks)
		c.held = h
	}
	if len(c.ctrl)+len(h.buf) > c.s.opts.ControlQueueBytes {
		c.mu.Unlock()
		c.Kick(packet.QuotaExceeded, "client does not read its acknowledgements")
		return
	}
	start := len(h.buf)
	var err error
	h.buf, err = p.AppendTo(h.buf, c.v)
	if err != nil {
		h.buf = h.buf[:start]
		c.mu.Unlock()
		c.s.opts.Logger.Error("encode failed", "client", c.clientID, "packet", p.Type(), "err", err)
		return
	}
	m := heldMark{commit: commit, start: start, end: len(h.buf), ackLen: len(h.buf) - start, kind: p.Type()}
	// The earlier commits, once each: a message routed to many persistent
	// sessions gets the same group's Commit from most of them.
	for i, o := range commits[:len(commits)-1] {
		if o != commit && (i == 0 || o != commits[i-1]) {
			m.others = append(m.others, o)
		}
	}
	switch a := p.(type) {
	case *packet.Puback:
		m.id = a.PacketID
	case *packet.Pubrec:
		m.id = a.PacketID
	}
	h.marks = append(h.marks, m)
	queued := h.waiting == commit
	h.waiting = commit
	c.mu.Unlock()
	if queued {
		return
	}
	select {
	case c.s.ackq <- ackWait{c, commit}:
	case <-c.s.done:
	}
}

// holdLocked appends an encoded packet behind the held ones; it reports
// false when nothing is held, and the caller queues it as usual. c.mu is
// held.
func (c *conn) holdLocked(p packet.Packet) (bool, error) {
	h := c.held
	if h == nil || len(h.marks) == 0 {
		return false, nil
	}
	var err error
	n := len(h.buf)
	if h.buf, err = p.AppendTo(h.buf, c.v); err != nil {
		h.buf = h.buf[:n]
		return true, err
	}
	h.marks[len(h.marks)-1].end = len(h.buf)
	return true, nil
}

// ackLoop waits for held commits in order and releases what they hold.
func (s *Server) ackLoop() {
	for {
		select {
		case w := <-s.ackq:
			select {
			case <-w.commit.Durable():
			case <-s.done:
				return
			}
			w.c.releaseHeld()
		case <-s.done:
			return
		}
	}
}

// releaseHeld moves the packets whose commits are done into the control
// bytes, in order, and wakes the writer.
func (c *conn) releaseHeld() {
	var failed *heldMark
	var released []uint16 // refused QoS 2 ids: the exchange ends with the failed PUBREC
	c.mu.Lock()
	h := c.held
	if c.stopping || h == nil {
		c.mu.Unlock()
		return
	}
	if h.waiting != nil && isDone(h.waiting) {
		h.waiting = nil
	}
	i := 0
	for ; i < len(h.marks); i++ {
		m := &h.marks[i]
		if !isDone(m.commit) {
			break
		}
		if err := commitsErr(m.commit, m.others); err != nil {
			if c.v != packet.V5 || (m.kind != packet.PUBACK && m.kind != packet.PUBREC) {
				f := *m
				failed = &f
				break
			}
			c.s.opts.Logger.Warn("store write failed: publish refused with 0x97", "client", c.clientID, "packet id", m.id, "err", err)
			c.ctrl = c.appendRefusal(c.ctrl, m)
			if m.kind == packet.PUBREC {
				released = append(released, m.id)
			}
			c.ctrl = append(c.ctrl, h.buf[m.start+m.ackLen:m.end]...)
			continue
		}
		c.ctrl = append(c.ctrl, h.buf[m.start:m.end]...)
	}
	if i > 0 && failed == nil {
		if i == len(h.marks) {
			h.buf, h.marks = h.buf[:0], h.marks[:0]
			if cap(h.buf) > 64<<10 {
				c.held = nil // give a burst's buffer back
			}
		} else {
			cut := h.marks[i].start
			n := copy(h.buf, h.buf[cut:])
			h.buf = h.buf[:n]
			n = copy(h.marks, h.marks[i:])
			clear(h.marks[n:])
			h.marks = h.marks[:n]
			for j := range h.marks {
				h.marks[j].start -= cut
				h.marks[j].end -= cut
			}
		}
	}
	c.mu.Unlock()
	for _, id := range released {
		c.sess.Release(id) // after conn.mu: Session.mu comes first (LOCKS.md)
	}
	if failed != nil {
		c.s.opts.Logger.Warn("store write failed: client disconnected without its acknowledgement", "client", c.clientID, "packet", failed.kind, "err", commitsErr(failed.commit, failed.others))
		c.Kick(packet.QuotaExceeded, "the broker could not store the session or message (disk full or I/O error)")
		return
	}
	if i > 0 {
		c.Wake()
	}
}

// appendRefusal encodes the 0x97 answer to the PUBLISH of a failed mark.
func (c *conn) appendRefusal(dst []byte, m *heldMark) []byte {
	ack := packet.Ack{PacketID: m.id, ReasonCode: packet.QuotaExceeded}
	if c.problemInfo() {
		ack.Props.ReasonString = c.s.reasonString("the broker could not store the message (disk full or I/O error): not accepted")
	}
	var out []byte
	var err error
	if m.kind == packet.PUBREC {
		out, err = (&packet.Pubrec{Ack: ack}).AppendTo(dst, c.v)
	} else {
		out, err = (&packet.Puback{Ack: ack}).AppendTo(dst, c.v)
	}
	if err != nil {
		return dst
	}
	return out
}

// commitsErr is the first error among last and others, once last (and so
// every earlier commit) has resolved.
func commitsErr(last *storage.Commit, others []*storage.Commit) error {
	for _, o := range others {
		if isDone(o) {
			if err := o.Err(); err != nil {
				return err
			}
		}
	}
	return last.Err()
}

func isDone(cm *storage.Commit) bool {
	select {
	case <-cm.Durable():
		return true
	default:
		return false
	}
}

// durable waits for commit (nil: nothing to wait for) and reports whether
// it is durable; when it failed, the client is disconnected with 0x97.
// CONNECT and SUBSCRIBE/UNSUBSCRIBE of a persistent session use it: they
// are rare, and waiting keeps CONNACK before the session's first PUBLISH
// and SUBACK before the retained messages it sends.
func (c *conn) durable(commit *storage.Commit) bool {
	if commit == nil {
		return true
	}
	<-commit.Durable()
	if err := commit.Err(); err != nil {
		c.s.opts.Logger.Warn("store write failed", "client", c.clientID, "err", err)
		c.Kick(packet.QuotaExceeded, "the broker could not store the session (disk full or I/O error)")
		return false
	}
	return true
}
