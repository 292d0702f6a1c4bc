package broker

import (
	"slices"
	"sync"

	"github.com/mqttboard/mqttboard/broker/message"
	"github.com/mqttboard/mqttboard/broker/session"
	"github.com/mqttboard/mqttboard/broker/storage"
	"github.com/mqttboard/mqttboard/packet"
)

// routerPool serves routes that do not come from a read loop (wills).
var routerPool = sync.Pool{New: func() any { return new(router) }}

// route retains m if asked and enqueues it for every matching session,
// returning the number of deliveries. Overlapping plain subscriptions of one
// session give one delivery with the highest granted QoS and every
// subscription identifier [MQTT-3.3.4-2] [MQTT-3.3.4-3]; each shared group
// gives one delivery to the member it picks.
func (s *Server) route(m *message.Message, r *router) int {
	if s.bridge != nil && !r.remote {
		s.bridge.Publish(m) // cluster.go: the other nodes' subscribers
	}
	if m.Retain {
		s.retained.SetLive(m)   // before the index: see handleSubscribe
		r.persistRetained(s, m) // persist.go: nothing without a store
	}
	r.matches = r.matches[:0]
	r.msg, r.fm = m, nil
	if s.store != nil {
		r.resetCommits()
	}
	s.index.Match(m.Topic, r.add)
	ms := r.matches
	// Plain matches are sorted by session so overlapping subscriptions are
	// adjacent; shared picks (seq 0) come first and are never merged.
	slices.SortFunc(ms, func(a, b match) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	n := 0
	for i := 0; i < len(ms); {
		j := i + 1
		if ms[i].seq != 0 {
			for j < len(ms) && ms[j].seq == ms[i].seq {
				j++
			}
		}
		if s.deliver(m, ms[i:j], r) {
			n++
		}
		i = j
	}
	clear(ms) // do not keep subscriptions alive through the scratch slice
	r.msg, r.fm = nil, nil
	if s.store != nil {
		r.applyRoute(s)
	}
	return n
}

// deliver enqueues m once for the session of subs (all the same session).
func (s *Server) deliver(m *message.Message, subs []match, r *router) bool {
	sess, ok := subs[0].sub.Subscriber.(*session.Session)
	if !ok { // a shared group's member on another node (cluster_shared.go)
		return forwardShared(m, subs[0].sub, false)
	}
	d := session.Delivery{Msg: m}
	found := false
	var ids int
	for _, x := range subs {
		sub := x.sub
		if sub.NoLocal && sess.ClientID == m.Origin { // [MQTT-3.8.3-3]
			continue
		}
		if c, ok := sub.Cond.(*condition); ok && !c.accept(m, r.view) {
			continue // flespi cid or $filter
		}
		if !found || sub.QoS > d.QoS {
			d.QoS = sub.QoS
		}
		found = true
		if sub.RetainAsPublished {
			d.Retain = m.Retain // [MQTT-3.3.1-13]
		}
		if sub.ID != 0 && !hasSubID(&d, ids, sub.ID) {
			ids++
			if ids == 1 {
				d.SubID = sub.ID
			} else {
				if ids == 2 {
					d.SubIDs = []uint32{d.SubID}
				}
				d.SubIDs = append(d.SubIDs, sub.ID)
			}
		}
	}
	if !found {
		return false
	}
	d.QoS = min(d.QoS, m.QoS)
	s.enqueue(sess, d, r)
	return true
}

// enqueue queues d for sess; r (nil: nobody waits) collects the commits
// of what persistent sessions stored, for the publisher's acknowledgement.
func (s *Server) enqueue(sess *session.Session, d session.Delivery, r *router) {
	var res session.Result
	var commit *storage.Commit
	if r != nil && r.deferWakes {
		var c session.Conn
		res, commit, c = sess.EnqueueDeferred(d)
		if c != nil {
			r.wakeLater(c)
		}
	} else {
		res, commit = sess.EnqueueDurable(d)
	}
	if commit != nil && r != nil {
		r.commits = append(r.commits, commit)
	}
	switch res {
	case session.DroppedFull:
		s.ctr.dropped.Add(1)
		s.emit(Event{Kind: EventDropped, ClientID: sess.ClientID, Reason: packet.QuotaExceeded, Topic: d.Msg.Topic, Detail: "outgoing queue full"})
	case session.Overflow:
		if c := sess.Conn(); c != nil {
			c.Kick(packet.QuotaExceeded, "outgoing queue exceeds its limit: the client reads too slowly")
		}
	}
}

// hasSubID reports whether d already carries subscription identifier id
// (ids of them so far): several subscriptions made with one identifier
// give it once [MQTT-3.3.4-3].
func hasSubID(d *session.Delivery, ids int, id uint32) bool {
	switch {
	case ids == 0:
		return false
	case ids == 1:
		return d.SubID == id
	}
	return slices.Contains(d.SubIDs, id)
}

// wakeLater remembers, once, that c has something new to send: the read
// loop calls flushWakes before it reads from its socket again or ends,
// so a subscriber gets one write for all the burst routed to it.
func (r *router) wakeLater(sc session.Conn) {
	c, ok := sc.(*conn)
	if !ok {
		sc.Wake()
		return
	}
	r.wakes.add(c)
}

// flushWakes writes to (or wakes) every connection routed to since the
// last flush (see [conn.writeNow]), or, in a burst on the poller's
// goroutine, hands them to the poller's batch (r.sink), which writes them
// at its end (see [loop.BatchEnd]). r may be nil (no buffers borrowed).
func (r *router) flushWakes() {
	if r == nil || len(r.wakes.list) == 0 {
		return
	}
	if r.sink != nil {
		for _, c := range r.wakes.list {
			r.sink.add(c)
		}
		r.wakes.reset()
		return
	}
	for i, c := range r.wakes.list {
		r.wakes.list[i] = nil
		c.writeNow()
	}
	r.wakes.reset()
}

// wakeSet is a set of connections to write to, in the order first added:
// a list, with a map beside it once there are many.
type wakeSet struct {
	list []*conn
	seen map[*conn]struct{}
}

// add puts c in the set unless it is there already.
func (w *wakeSet) add(c *conn) {
	switch {
	case len(w.seen) > 0:
		if _, dup := w.seen[c]; dup {
			return
		}
		w.seen[c] = struct{}{}
	case len(w.list) < 8:
		if slices.Contains(w.list, c) {
			return
		}
	default: // many: a map from here on
		if w.seen == nil {
			w.seen = make(map[*conn]struct{})
		}
		for _, x := range w.list {
			w.seen[x] = struct{}{}
		}
		if _, dup := w.seen[c]; dup {
			return
		}
		w.seen[c] = struct{}{}
	}
	w.list = append(w.list, c)
}

// reset empties the set, keeping its room unless a large fan-out grew it.
func (w *wakeSet) reset() {
	clear(w.list)
	w.list = w.list[:0]
	clear(w.seen)
	if cap(w.list) > 4096 {
		w.list, w.seen = nil, nil // a large fan-out's: let them go
	}
}

// packetBuffered reports whether the read buffer holds a whole packet,
// which the next readPacket decodes without reading the socket.
func (c *conn) packetBuffered() bool {
	if c.route == nil {
		return false
	}
	n := c.route.br.Buffered()
	if n < 2 {
		return false
	}
	b, _ := c.route.br.Peek(n) // n is buffered: Peek does not read
	size, mul := 0, 1
	for i := 1; i < len(b) && i < 5; i++ {
		size += int(b[i]&0x7f) * mul
		if b[i]&0x80 == 0 {
			return 1+i+size <= n
		}
		mul <<= 7
	}
	return false
}
