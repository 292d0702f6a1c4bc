package session

import (
	"sync"

	"github.com/mqttboard/mqttboard/broker/message"
	"github.com/mqttboard/mqttboard/broker/storage"
	"github.com/mqttboard/mqttboard/packet"
)

// SetStore makes the session persistent (st non-nil) or clean (nil). A
// persistent session stores each QoS 1/2 delivery when it is queued, a
// QoS 2 one's packet id and state when it is sent and when PUBREC comes
// (not a QoS 1 one's: see [Session.Take]), and deletes it on PUBACK,
// PUBCOMP, expiry or drop (see storage's package doc).
func (s *Session) SetStore(st storage.Store) {
	s.mu.Lock()
	if s.dur == nil && st != nil {
		s.dur = &durable{}
	}
	if s.dur != nil {
		s.dur.store = st
	}
	s.mu.Unlock()
}

// Persistent reports whether the session journals to a store.
func (s *Session) Persistent() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.store() != nil
}

// Restore puts a stored message back into the session at start, before
// anything else uses it, in the store's Seq order: a Queued one at the end
// of the queue, a sent one into the inflight table under its packet id, to
// be resent with DUP (or as PUBREL once PUBREC came) when the client
// attaches [MQTT-4.4.0-1]. The queue limit does not apply: what was
// acknowledged is delivered.
//
// Two sent messages with one packet id mean the earlier exchange completed
// (its id was free again) and its deletion was lost in the crash: the
// later one keeps the id, and Restore returns the earlier one's Seq for
// the caller to delete (0 when there is none). Resending the earlier
// would release the later one's id at the client, which would then take
// the later one, sent again, for a new message.
func (s *Session) Restore(sm *storage.Message) (stale uint64) {
	m := message.FromStored(sm)
	d := Delivery{Msg: m, QoS: packet.QoS(sm.QoS), Retain: sm.Retain, Seq: sm.Seq}
	if ids := sm.Props.SubscriptionIDs; len(ids) == 1 {
		d.SubID = ids[0]
	} else if len(ids) > 1 {
		d.SubID, d.SubIDs = ids[0], ids
	}
	size := m.Size()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dur == nil {
		s.dur = &durable{}
	}
	s.dur.lastSeq = max(s.dur.lastSeq, sm.Seq)
	f := s.flowMade()
	if sm.State != storage.Queued && sm.PacketID != 0 && d.QoS > 0 {
		if old, used := f.inflight[sm.PacketID]; used {
			f.inflightBytes -= old.Msg.Size()
			stale = old.Seq
		}
		f.outSeq++
		if f.inflight == nil {
			f.inflight = make(map[uint16]inflight) // made on first use (session.New)
		}
		f.inflight[sm.PacketID] = inflight{Delivery: d, seq: f.outSeq, released: sm.State == storage.AwaitingPubcomp}
		f.inflightBytes += size
		return stale
	}
	// A Queued QoS 1 record may have been sent before the crash (its sent
	// state is not stored): DUP says it might be a redelivery.
	d.Restored = d.QoS == 1
	f.queue = append(f.queue, d)
	f.queueBytes += size
	return 0
}

// RestoreInbound marks a QoS 2 packet id from the client as received and
// not released, as the store had it at start.
func (s *Session) RestoreInbound(id uint16) { s.ReceiveQoS2(id) }

// scratch is a reusable one-operation batch for a session's store updates
// (the hot path: a delivery queued, a QoS 2 one released, one
// acknowledged), so they allocate nothing once the pool is warm: Apply
// keeps nothing of a batch (see [storage.Store]).
type scratch struct {
	b    storage.Batch
	user []storage.UserProperty
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func getScratch() *scratch { return scratchPool.Get().(*scratch) }

// release returns sc to the pool once its batch was applied.
func (sc *scratch) release() {
	sc.b.Reset()
	clear(sc.user) // do not keep old messages' strings alive
	if cap(sc.user) > 16 {
		sc.user = nil
	}
	scratchPool.Put(sc)
}

// stored is d as the store keeps it in a session's queue. With sc, its
// user properties go into sc's buffer (one record per scratch batch).
func stored(d *Delivery, state storage.MessageState, packetID uint16, sc *scratch) storage.Message {
	m := d.Msg
	var sp storage.Properties
	if sc != nil {
		sp = message.StoredPropsBuf(&m.Props, sc.user)
		if sp.UserProperties != nil {
			sc.user = sp.UserProperties[:0]
		}
	} else {
		sp = message.StoredProps(&m.Props)
	}
	sm := storage.Message{
		Seq:      d.Seq,
		State:    state,
		PacketID: packetID,
		QoS:      byte(d.QoS),
		Retain:   d.Retain,
		Topic:    m.Topic,
		Payload:  m.Payload,
		Props:    sp,
		Created:  message.TimeOf(m.Timestamp),
		Expires:  m.Expires,
	}
	switch {
	case len(d.SubIDs) > 0:
		sm.Props.SubscriptionIDs = d.SubIDs
	case d.SubID != 0:
		sm.Props.SubscriptionIDs = []uint32{d.SubID}
	}
	return sm
}
