package storage

import "time"

// Batch is an atomic group of changes for [Store.Apply]. The zero value is
// an empty batch. Values are copied when the batch is applied, not before:
// the caller must not change a slice it passed until Apply has returned.
type Batch struct {
	ops []op
	// Most batches hold one operation (a delivery queued or acknowledged):
	// it and its message live inside the Batch, so such a batch is one
	// allocation, not three.
	first    [1]op
	firstMsg Message
}

func (b *Batch) add(o op) {
	if b.ops == nil {
		b.ops = b.first[:0]
	}
	b.ops = append(b.ops, o)
}

type opKind byte

const (
	opPutSession opKind = iota + 1
	opDeleteSession
	opPutMessage
	opDeleteMessage
	opMarkInbound
	opClearInbound
	opPutRetained
	opDeleteRetained
	opPutKV
	opDeleteKV
	// The sweep's deletions re-check expiry when the batch is applied, so
	// a session that reconnected (or a retained message republished)
	// after the sweep read it is not deleted.
	opSweepSession
	opSweepMessage
	opSweepRetained
)

type op struct {
	kind     opKind
	clientID string // session ops; space for KV ops
	key      string // topic for retained; key for KV
	seq      uint64 // message seq or inbound packet id
	session  *Session
	message  *Message
	retained *Retained
	value    []byte
	now      time.Time // sweep ops: the sweep's clock
}

// Reset empties b for reuse, keeping its memory, once [Store.Apply] has
// returned.
func (b *Batch) Reset() {
	clear(b.ops)
	if cap(b.ops) > 64 {
		b.ops = nil // a large batch gives its memory back
	} else {
		b.ops = b.ops[:0]
	}
	b.firstMsg = Message{}
}

// Len is the number of operations in b.
func (b *Batch) Len() int { return len(b.ops) }

// PutSession creates or replaces s (not its queue, not InboundQoS2).
func (b *Batch) PutSession(s Session) {
	b.add(op{kind: opPutSession, clientID: s.ClientID, session: &s})
}

// DeleteSession deletes the session clientID with its whole queue and its
// inbound QoS 2 ids: a clean start, an expiry, or a session takeover with
// clean start.
func (b *Batch) DeleteSession(clientID string) {
	b.add(op{kind: opDeleteSession, clientID: clientID})
}

// PutMessage adds m to clientID's queue, or replaces the message with the
// same Seq (a state change: Queued -> AwaitingPubrec with a packet id,
// AwaitingPubrec -> AwaitingPubcomp). An engine may drop a Queued put and
// a DeleteMessage of the same Seq that reach it together (the embedded
// store does, within one group), so Queued must be the record's first
// state: a message is put as Queued only when it is new.
func (b *Batch) PutMessage(clientID string, m Message) {
	p := &b.firstMsg
	if len(b.ops) > 0 {
		p = new(Message)
	}
	*p = m
	b.add(op{kind: opPutMessage, clientID: clientID, seq: m.Seq, message: p})
}

// DeleteMessage removes message seq from clientID's queue (PUBACK, PUBCOMP,
// or dropped). Deleting an absent message is not an error.
func (b *Batch) DeleteMessage(clientID string, seq uint64) {
	b.add(op{kind: opDeleteMessage, clientID: clientID, seq: seq})
}

// MarkInbound records that clientID's QoS 2 PUBLISH packetID was received
// and answered with PUBREC, so a resent PUBLISH after a restart is not
// routed twice.
func (b *Batch) MarkInbound(clientID string, packetID uint16) {
	b.add(op{kind: opMarkInbound, clientID: clientID, seq: uint64(packetID)})
}

// ClearInbound forgets packetID when the client's PUBREL arrives.
func (b *Batch) ClearInbound(clientID string, packetID uint16) {
	b.add(op{kind: opClearInbound, clientID: clientID, seq: uint64(packetID)})
}

// PutRetained creates or replaces the retained message of r.Topic.
func (b *Batch) PutRetained(r Retained) {
	b.add(op{kind: opPutRetained, key: r.Topic, retained: &r})
}

// DeleteRetained removes the retained message of topic, if any.
func (b *Batch) DeleteRetained(topic string) {
	b.add(op{kind: opDeleteRetained, key: topic})
}

// PutKV sets key in the opaque keyspace space (tokens, accounts).
func (b *Batch) PutKV(space, key string, value []byte) {
	b.add(op{kind: opPutKV, clientID: space, key: key, value: value})
}

// DeleteKV removes key from space.
func (b *Batch) DeleteKV(space, key string) {
	b.add(op{kind: opDeleteKV, clientID: space, key: key})
}

// sweepSession deletes clientID like DeleteSession if, when applied, the
// stored session is expired at now.
func (b *Batch) sweepSession(clientID string, now time.Time) {
	b.add(op{kind: opSweepSession, clientID: clientID, now: now})
}

// sweepMessage deletes message seq if, when applied, it is still Queued
// and expired at now.
func (b *Batch) sweepMessage(clientID string, seq uint64, now time.Time) {
	b.add(op{kind: opSweepMessage, clientID: clientID, seq: seq, now: now})
}

// sweepRetained deletes the retained message of topic if, when applied,
// it is expired at now.
func (b *Batch) sweepRetained(topic string, now time.Time) {
	b.add(op{kind: opSweepRetained, key: topic, now: now})
}
