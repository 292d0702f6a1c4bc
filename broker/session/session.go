package session

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttboard/mqttboard/broker/message"
	"github.com/mqttboard/mqttboard/broker/storage"
	"github.com/mqttboard/mqttboard/broker/topics"
	"github.com/mqttboard/mqttboard/packet"
)

// Delivery is one message on its way to this session: the shared message
// and what this subscriber gets of it. It is a value in the queue, so a
// fan-out to N sessions allocates nothing per session.
type Delivery struct {
	Msg    *message.Message
	QoS    packet.QoS
	Retain bool
	// Restored: a QoS 1 delivery read back from the store at start, which
	// may have gone out before the broker stopped (its sent state is not
	// stored): it goes out with DUP set.
	Restored bool
	// SubID is the subscription identifier of the matching subscription;
	// SubIDs holds them all when more than one subscription matched.
	SubID  uint32
	SubIDs []uint32
	// Seq is the delivery's key in the store's queue of a persistent
	// session (see [Session.SetStore]); 0 when it is not stored.
	Seq uint64
}

// Outgoing is what the write loop sends next: a PUBLISH (new or resent
// with DUP) or, for a QoS 2 message the client already acknowledged with
// PUBREC, a PUBREL.
type Outgoing struct {
	Delivery
	PacketID uint16
	Dup      bool
	Pubrel   bool
}

type inflight struct {
	Delivery
	seq      uint64
	released bool // QoS 2: PUBREC received, PUBREL owed until PUBCOMP
}

// Conn is the live network connection of a session, as the session and the
// router need it.
type Conn interface {
	// Kick closes the connection with a reason code (DISCONNECT in 5.0);
	// it must not block.
	Kick(code packet.ReasonCode, reason string)
	// Wake tells the connection there is something to send; it must not
	// block.
	Wake()
}

// Limits bound a session's memory (flespi: 256 MB queue, 100 MB of QoS 1
// unacknowledged).
type Limits struct {
	MaxQueueBytes    int
	MaxInflightBytes int
}

// Result says what Enqueue did with a delivery.
type Result int

// Enqueue results.
const (
	Queued Result = iota
	// DroppedOffline: QoS 0 for a session without a connection.
	DroppedOffline
	// DroppedFull: the queue is full; QoS 0 online, or any QoS offline.
	DroppedFull
	// Overflow: a QoS 1/2 message was queued past the limit of an online
	// session; the caller disconnects that slow consumer with 0x97. Until
	// it has gone (and while it is offline), further messages past the
	// limit are dropped (DroppedFull): the queue never holds more than its
	// limit and one message, whatever the client's socket does.
	Overflow
)

// Session is one client's session.
type Session struct {
	// ClientID is the client identifier, fixed for the session's life.
	ClientID string
	// Seq orders sessions by creation; the router sorts matches by it to
	// merge overlapping subscriptions without a map.
	Seq uint64
	// Account is the account (flespi cid) of the token that attached the
	// session, 0 without token authentication; the broker reads and
	// writes it under its own lock.
	Account uint64

	online atomic.Bool
	// Expiry is the session expiry interval in seconds; 0xFFFFFFFF never.
	// Written by the connection that owns the session.
	Expiry uint32
	// limits are shared by the sessions made with the same ones (see
	// New): one pointer, not two ints, per session.
	limits *Limits

	mu         sync.Mutex
	conn       Conn
	overflowed bool // an Overflow was reported for the current connection
	// f is the message flow's state, nil until the first message is
	// queued, taken in flight or received with QoS 2 (see flow): most
	// sessions of an idle broker never have one; guarded by mu.
	f    *flow
	subs map[string]*topics.Subscription
	// dur is the journalling state of a persistent session (persist.go),
	// made by SetStore or Restore: nil for a clean one and whenever the
	// broker runs without --data, so those carry one pointer for it.
	dur *durable

	// off is what the session waits with while offline (see Park), nil
	// while online or with nothing pending; guarded by mu.
	off *parked
}

// flow is a session's message state: its queue, the deliveries in flight
// and the QoS 2 packet ids received. It is made by the first message that
// needs it (flowMade) and kept for the session's life, so a subscriber's
// deliveries do not allocate it again: an idle session, the common case,
// carries one pointer instead of these 96 bytes (issue 15).
type flow struct {
	queue         []Delivery
	head          int
	queueBytes    int
	inflight      map[uint16]inflight
	inflightBytes int
	resend        *[]uint16 // the ids Attach found in flight, to resend first; made when there are some
	outSeq        uint64
	dropped       uint64
	incoming      map[uint16]struct{}
	nextID        uint16
}

// flowMade is the session's flow, made if it has none; under mu.
func (s *Session) flowMade() *flow {
	if s.f == nil {
		s.f = new(flow)
	}
	return s.f
}

// durable is what a persistent session journals with.
type durable struct {
	// store journals the queue (persist.go); nil once the session was
	// made clean again.
	store   storage.Store
	lastSeq uint64 // the last Delivery.Seq given
	// staged is what Take took while a QoS 2 delivery's sent state was
	// being stored: it goes out once stagedGate is durable (see Take).
	staged     []Outgoing
	stagedGate *storage.Commit
}

// store is the session's store, nil when it is clean; under mu.
func (s *Session) store() storage.Store {
	if s.dur == nil {
		return nil
	}
	return s.dur.store
}

// parked is an offline session's pending will of its last connection and
// the timers that publish it and end the session. It is made by Park, so
// an online session carries one pointer for it instead of three.
type parked struct {
	will        *message.Message
	willTimer   *time.Timer
	expiryTimer *time.Timer
}

// sharedLimits is the Limits value the last session was made with: every
// session of a broker has the same, so they share one.
var sharedLimits atomic.Pointer[Limits]

func internLimits(l Limits) *Limits {
	if p := sharedLimits.Load(); p != nil && *p == l {
		return p
	}
	p := new(Limits) // not &l: l would move to the heap at every call, shared or not
	*p = l
	sharedLimits.Store(p)
	return p
}

// New returns an offline session.
func New(clientID string, seq uint64, l Limits) *Session {
	return &Session{
		ClientID: clientID,
		Seq:      seq,
		limits:   internLimits(l),
		// The flow and subs are made on first use: most sessions of an
		// idle broker never receive a message, publish QoS 2 or
		// subscribe.
	}
}

// SubscriberID implements [topics.Subscriber].
func (s *Session) SubscriberID() string { return s.ClientID }

// Online implements [topics.Subscriber].
func (s *Session) Online() bool { return s.online.Load() }

// wake tells the connection its write loop has something to take; it is
// called with no session lock held.
func wake(c Conn) {
	if c != nil {
		c.Wake()
	}
}

// Attach makes c the session's connection and schedules every unacknowledged
// PUBLISH and owed PUBREL to be resent first, in their original order
// [MQTT-4.4.0-1].
func (s *Session) Attach(c Conn) {
	s.mu.Lock()
	s.conn = c
	s.overflowed = false
	if d := s.dur; d != nil {
		clear(d.staged) // in the inflight table: resent below
		d.staged, d.stagedGate = d.staged[:0], nil
	}
	if f := s.f; f != nil {
		if f.resend != nil {
			*f.resend = (*f.resend)[:0]
		}
		if len(f.inflight) > 0 {
			if f.resend == nil {
				f.resend = new([]uint16)
			}
			ids := *f.resend
			for id := range f.inflight {
				ids = append(ids, id)
			}
			slices.SortFunc(ids, func(a, b uint16) int {
				return cmp.Compare(f.inflight[a].seq, f.inflight[b].seq)
			})
			*f.resend = ids
		}
	}
	s.mu.Unlock()
	s.online.Store(true)
	c.Wake()
}

// Detach clears the connection if it is still c.
func (s *Session) Detach(c Conn) {
	s.mu.Lock()
	if s.conn == c {
		s.conn = nil
		s.online.Store(false)
	}
	s.mu.Unlock()
}

// Conn returns the live connection or nil.
func (s *Session) Conn() Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn
}

// Enqueue adds d to the outgoing queue without blocking. For a persistent
// session it also stores a QoS 1/2 delivery (see [Session.EnqueueDurable]).
func (s *Session) Enqueue(d Delivery) Result {
	r, _ := s.EnqueueDurable(d)
	return r
}

// EnqueueDurable is Enqueue that, for a persistent session (see
// [Session.SetStore]), stores a queued QoS 1/2 delivery and returns the
// Commit the publisher's acknowledgement waits for (nil when nothing was
// stored). It is applied under the session lock, before the delivery can
// be taken, so the session's later updates of it (sent, acknowledged) are
// applied after it: commits are applied in order, and an update can never
// be overtaken by the record it updates.
func (s *Session) EnqueueDurable(d Delivery) (Result, *storage.Commit) {
	r, commit, c := s.EnqueueDeferred(d)
	wake(c)
	return r, commit
}

// EnqueueDeferred is EnqueueDurable without the wake-up: it returns the
// connection (nil when offline or dropped) for the caller to wake, so a
// publisher's burst can wake each subscriber once, after routing all it
// read (see the broker's router).
func (s *Session) EnqueueDeferred(d Delivery) (Result, *storage.Commit, Conn) {
	size := d.Msg.Size()
	var commit *storage.Commit
	s.mu.Lock()
	online := s.conn != nil
	if !online && d.QoS == 0 {
		s.mu.Unlock()
		return DroppedOffline, nil, nil
	}
	r := Queued
	f := s.flowMade()
	if f.queueBytes+size > s.limits.MaxQueueBytes {
		if d.QoS == 0 || !online || s.overflowed {
			f.dropped++
			s.mu.Unlock()
			return DroppedFull, nil, nil
		}
		// The first QoS 1/2 message past the limit is kept and the
		// consumer is disconnected; the messages after it are dropped
		// until it has gone, as for an offline session: a client that
		// stops reading cannot make the broker hold more than its limit.
		r = Overflow
		s.overflowed = true
	}
	if st := s.store(); st != nil && d.QoS > 0 {
		s.dur.lastSeq++
		d.Seq = s.dur.lastSeq
		sc := getScratch()
		sc.b.PutMessage(s.ClientID, stored(&d, storage.Queued, 0, sc))
		commit = st.Apply(&sc.b) // does not wait for the disk
		sc.release()
	}
	f.queue = append(f.queue, d)
	f.queueBytes += size
	c := s.conn
	s.mu.Unlock()
	return r, commit, c
}

// Take appends what the write loop should send next to out, at most max
// entries: resends first, then queued deliveries. QoS 1/2 deliveries get a
// packet identifier and enter the inflight table, as long as fewer than
// recvMax are unacknowledged (the client's Receive Maximum
// [MQTT-3.3.4-9]) and the inflight bytes are under the limit. Expired
// messages are dropped [MQTT-3.3.2-5]. more reports whether Take stopped
// with sendable work left.
//
// For a persistent session, a QoS 2 delivery's sent state and packet id
// are stored when Take takes it, and the whole batch is held back (staged)
// until that record is durable, so that a client that answered PUBREC can
// never be sent the message again as a new one (new packet id, no DUP)
// after a crash, which would deliver it twice. A goroutine waits for that
// commit and wakes the writer. A QoS 1 delivery's sent state is not stored
// at all: the record stays Queued until the PUBACK deletes it, and after a
// crash it goes out again with DUP and a new packet id, which QoS 1 (at
// least once) allows; this saves a record rewrite per delivery.
func (s *Session) Take(out []Outgoing, max, recvMax int, now time.Time) (res []Outgoing, more bool) {
	// journal is taken from the scratch pool by the first record: a
	// batch declared here would be moved to the heap, a 384-byte
	// allocation per call for every session, persistent or not.
	var journal *storage.Batch
	var sc *scratch
	record := func() *storage.Batch {
		if journal == nil {
			sc = getScratch()
			journal = &sc.b
		}
		return journal
	}
	gated := false // journal holds a QoS 2 delivery's sent state
	s.mu.Lock()
	st := s.store()
	if dur := s.dur; dur != nil && dur.stagedGate != nil {
		select {
		case <-dur.stagedGate.Durable():
		default:
			s.mu.Unlock()
			return out, false // the waiting goroutine wakes the writer
		}
		out = append(out, dur.staged...)
		clear(dur.staged)
		dur.staged, dur.stagedGate = dur.staged[:0], nil
	}
	start := len(out)
	f := s.f // nil: nothing queued or in flight, ever
	defer func() {
		if journal != nil && journal.Len() > 0 {
			// Under the lock, like every update of the session's records,
			// so they are applied in the order they happened.
			commit := st.Apply(journal)
			if gated && len(res) > start {
				dur := s.dur // st != nil: dur is set
				dur.staged = append(dur.staged[:0], res[start:]...)
				clear(res[start:])
				res, more = res[:start], false
				dur.stagedGate = commit
				c := s.conn
				go func() {
					<-commit.Durable()
					wake(c)
				}()
			}
		}
		if sc != nil {
			sc.release() // Apply keeps nothing of its batch
		}
		s.mu.Unlock()
	}()
	if f == nil {
		return out, false
	}
	for f.resending() && len(out) < max {
		id := (*f.resend)[0]
		*f.resend = (*f.resend)[1:]
		fl, ok := f.inflight[id]
		if !ok {
			continue
		}
		out = append(out, Outgoing{Delivery: fl.Delivery, PacketID: id, Dup: !fl.released, Pubrel: fl.released})
	}
	for f.head < len(f.queue) && len(out) < max {
		d := f.queue[f.head]
		if d.QoS > 0 && (len(f.inflight) >= recvMax || f.inflightBytes >= s.limits.MaxInflightBytes) {
			return out, false // an acknowledgement will wake the writer
		}
		f.queue[f.head] = Delivery{}
		f.head++
		size := d.Msg.Size()
		f.queueBytes -= size
		if d.Msg.Expired(now) {
			if st != nil && d.Seq != 0 {
				record().DeleteMessage(s.ClientID, d.Seq)
			}
			continue
		}
		o := Outgoing{Delivery: d}
		if d.QoS > 0 {
			o.PacketID = f.newID()
			f.outSeq++
			if f.inflight == nil {
				f.inflight = make(map[uint16]inflight)
			}
			f.inflight[o.PacketID] = inflight{Delivery: d, seq: f.outSeq} // a value: no allocation per delivery
			f.inflightBytes += size
			if st != nil && d.Seq != 0 && d.QoS == 2 {
				// Only QoS 2 stores its packet id (see Take's comment).
				gated = true
				record().PutMessage(s.ClientID, stored(&d, storage.AwaitingPubrec, o.PacketID, nil))
			}
			o.Dup = d.Restored
		}
		out = append(out, o)
	}
	if f.head == len(f.queue) {
		f.queue = f.queue[:0]
		f.head = 0
		if cap(f.queue) > 1024 { // give memory back after a burst
			f.queue = nil
		}
	} else if f.head > 1024 && f.head*2 > len(f.queue) {
		n := copy(f.queue, f.queue[f.head:])
		clear(f.queue[n:])
		f.queue = f.queue[:n]
		f.head = 0
	}
	return out, f.resending() || f.head < len(f.queue)
}

// resending reports whether ids Attach found in flight are still to be
// resent; under the session's mu.
func (f *flow) resending() bool { return f.resend != nil && len(*f.resend) > 0 }

func (f *flow) newID() uint16 {
	for {
		f.nextID++
		if f.nextID == 0 {
			f.nextID = 1
		}
		if _, used := f.inflight[f.nextID]; !used {
			return f.nextID
		}
	}
}

// Drop forgets an inflight message the writer could not send (larger than
// the client's Maximum Packet Size: discarded as if delivered
// [MQTT-3.1.2-25]).
func (s *Session) Drop(id uint16) { s.complete(id, 0, false) }

// Puback completes a QoS 1 delivery; it reports false for an unknown id.
func (s *Session) Puback(id uint16) bool { return s.complete(id, 1, false) }

// Pubrec records the client's PUBREC for a QoS 2 delivery. With a failure
// code the exchange ends there; otherwise a PUBREL is owed. It reports false
// for an unknown id.
func (s *Session) Pubrec(id uint16, failed bool) bool {
	ok, _ := s.PubrecDurable(id, failed)
	return ok
}

// PubrecDurable is Pubrec returning, for a persistent session, the commit
// that stores the new state (AwaitingPubcomp): the PUBREL must wait for
// it, or a crash could resend the PUBLISH to a client that already
// completed the exchange and forgot the packet id.
func (s *Session) PubrecDurable(id uint16, failed bool) (bool, *storage.Commit) {
	if failed {
		return s.complete(id, 2, false), nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return false, nil
	}
	f, ok := s.f.inflight[id]
	if !ok || f.QoS != 2 {
		return false, nil
	}
	f.released = true
	s.f.inflight[id] = f
	if st := s.store(); st != nil && f.Seq != 0 {
		sc := getScratch()
		defer sc.release()
		sc.b.PutMessage(s.ClientID, stored(&f.Delivery, storage.AwaitingPubcomp, id, sc))
		return true, st.Apply(&sc.b) // under mu: Apply does not wait for the disk, and the order of a session's updates must hold
	}
	return true, nil
}

// Pubcomp completes a QoS 2 delivery; false for an unknown id.
func (s *Session) Pubcomp(id uint16) bool { return s.complete(id, 2, true) }

func (s *Session) complete(id uint16, qos packet.QoS, released bool) bool {
	s.mu.Lock()
	fl := s.f
	if fl == nil {
		s.mu.Unlock()
		return false
	}
	f, ok := fl.inflight[id]
	if !ok || (qos != 0 && (f.QoS != qos || f.released != released)) {
		s.mu.Unlock()
		return false
	}
	delete(fl.inflight, id)
	fl.inflightBytes -= f.Msg.Size()
	if st := s.store(); st != nil && f.Seq != 0 {
		sc := getScratch()
		sc.b.DeleteMessage(s.ClientID, f.Seq)
		st.Apply(&sc.b)
		sc.release()
	}
	var c Conn
	if fl.head < len(fl.queue) {
		c = s.conn // a slot under Receive Maximum is free for a queued message
	}
	s.mu.Unlock()
	wake(c)
	return true
}

// ReceiveQoS2 records an incoming QoS 2 packet identifier; it reports true
// when the identifier was already held, i.e. the PUBLISH is a duplicate that
// must not be routed again [MQTT-4.3.3-10].
func (s *Session) ReceiveQoS2(id uint16) (dup bool, held int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.flowMade()
	_, dup = f.incoming[id]
	if f.incoming == nil {
		f.incoming = make(map[uint16]struct{})
	}
	f.incoming[id] = struct{}{}
	return dup, len(f.incoming)
}

// IncomingQoS2 is the number of QoS 2 messages received and not released.
func (s *Session) IncomingQoS2() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return 0
	}
	return len(s.f.incoming)
}

// Release handles PUBREL: it forgets the identifier and reports whether it
// was held.
func (s *Session) Release(id uint16) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return false
	}
	_, ok := s.f.incoming[id]
	delete(s.f.incoming, id)
	return ok
}

// AddSub records a subscription; it returns the previous one with the
// same filter.
func (s *Session) AddSub(sub *topics.Subscription) *topics.Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.subs[sub.Filter]
	if s.subs == nil {
		s.subs = make(map[string]*topics.Subscription)
	}
	s.subs[sub.Filter] = sub
	return old
}

// RemoveSub forgets a subscription and reports whether it existed.
func (s *Session) RemoveSub(filter string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.subs[filter]
	delete(s.subs, filter)
	return ok
}

// Subs returns the session's subscriptions.
func (s *Session) Subs() []*topics.Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*topics.Subscription, 0, len(s.subs))
	for _, v := range s.subs {
		out = append(out, v)
	}
	return out
}

// Park keeps the session after its connection ended: will (if any) is
// handed to publish after willDelay, unless the session resumes first
// [MQTT-3.1.3-9]; expire runs after expiry unless it resumes first
// (expiry 0 or 0xFFFFFFFF: no timer). Both callbacks run on timer
// goroutines with no lock held.
func (s *Session) Park(will *message.Message, willDelay time.Duration, publish func(*message.Message), expiry time.Duration, expire func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopTimers()
	if will == nil && expiry <= 0 {
		return
	}
	if s.off == nil {
		s.off = new(parked)
	}
	if will != nil {
		s.off.will = will
		s.off.willTimer = time.AfterFunc(willDelay, func() { publish(s.willDue()) })
	}
	if expiry > 0 {
		s.off.expiryTimer = time.AfterFunc(expiry, expire)
	}
}

// Resume stops the offline timers and returns the pending will: a
// reconnect cancels it, a clean start (which ends the session) sends it.
func (s *Session) Resume() *message.Message { return s.TakeWill() }

// TakeWill stops the offline timers and returns the pending will, nil if
// there is none or it was taken already: exactly one caller gets it.
func (s *Session) TakeWill() *message.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopTimers()
	if s.off == nil {
		return nil
	}
	w := s.off.will
	s.off = nil
	return w
}

// HasWill reports whether a will is pending.
func (s *Session) HasWill() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.off != nil && s.off.will != nil
}

// willDue takes the will when its delay ran out; the expiry timer runs on.
func (s *Session) willDue() *message.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.off
	if p == nil {
		return nil
	}
	w := p.will
	p.will, p.willTimer = nil, nil
	if p.expiryTimer == nil {
		s.off = nil
	}
	return w
}

// stopTimers stops the offline timers; a pending will stays (TakeWill
// takes it).
func (s *Session) stopTimers() {
	p := s.off
	if p == nil {
		return
	}
	if p.willTimer != nil {
		p.willTimer.Stop()
		p.willTimer = nil
	}
	if p.expiryTimer != nil {
		p.expiryTimer.Stop()
		p.expiryTimer = nil
	}
	if p.will == nil {
		s.off = nil
	}
}

// Stats is a snapshot of a session's queues.
type Stats struct {
	Queued, Inflight, QueueBytes, InflightBytes int
	Dropped                                     uint64
}

// Stats returns the session's queue figures.
func (s *Session) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.f
	if f == nil {
		return Stats{}
	}
	return Stats{Queued: len(f.queue) - f.head, Inflight: len(f.inflight), QueueBytes: f.queueBytes, InflightBytes: f.inflightBytes, Dropped: f.dropped}
}
