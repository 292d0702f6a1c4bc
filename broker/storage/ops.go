package storage

import "time"

// What an engine outside this package (the cluster's replicated store,
// broker/cluster) needs to stand behind [Store]: the operations of a
// [Batch] and the record encoding of the embedded store.

// OpKind says what one [Op] does.
type OpKind byte

// The operations a [Batch] holds, one per Batch method.
const (
	OpPutSession     = OpKind(opPutSession)
	OpDeleteSession  = OpKind(opDeleteSession)
	OpPutMessage     = OpKind(opPutMessage)
	OpDeleteMessage  = OpKind(opDeleteMessage)
	OpMarkInbound    = OpKind(opMarkInbound)
	OpClearInbound   = OpKind(opClearInbound)
	OpPutRetained    = OpKind(opPutRetained)
	OpDeleteRetained = OpKind(opDeleteRetained)
	OpPutKV          = OpKind(opPutKV)
	OpDeleteKV       = OpKind(opDeleteKV)
	// OpSweepSession, OpSweepMessage and OpSweepRetained are the deletions
	// of this package's own Sweep, which re-check expiry at Now.
	OpSweepSession  = OpKind(opSweepSession)
	OpSweepMessage  = OpKind(opSweepMessage)
	OpSweepRetained = OpKind(opSweepRetained)
)

// Op is one change of a [Batch], read-only: the pointers are the batch's.
type Op struct {
	Kind OpKind
	// ClientID is the session of session, message and inbound ops, and
	// the space of KV ops.
	ClientID string
	// Key is the retained message's topic key, or the KV key.
	Key string
	// Seq is the message's Seq, or the inbound QoS 2 packet id.
	Seq      uint64
	Session  *Session
	Message  *Message
	Retained *Retained
	Value    []byte
	Now      time.Time // sweep ops: the sweep's clock
}

// Ops calls fn for each operation of b, in the order they were added.
func (b *Batch) Ops(fn func(Op)) {
	for _, o := range b.ops {
		fn(Op{Kind: OpKind(o.kind), ClientID: o.clientID, Key: o.key, Seq: o.seq,
			Session: o.session, Message: o.message, Retained: o.retained, Value: o.value, Now: o.now})
	}
}

// EncodeSession returns the embedded store's record of s (without
// InboundQoS2); [DecodeSession] reads it back.
func EncodeSession(s *Session) []byte { return encodeSession(s) }

// DecodeSession reads what [EncodeSession] wrote; a bad record is an
// error naming the field and byte offset.
func DecodeSession(b []byte) (Session, error) { return decodeSession(b) }

// EncodeMessage returns the embedded store's record of m.
func EncodeMessage(m *Message) []byte { return encodeMessage(m) }

// DecodeMessage reads what [EncodeMessage] wrote.
func DecodeMessage(b []byte) (Message, error) { return decodeMessage(b) }

// EncodeRetained returns the embedded store's record of r.
func EncodeRetained(r *Retained) []byte { return encodeRetained(r) }

// DecodeRetained reads what [EncodeRetained] wrote.
func DecodeRetained(b []byte) (Retained, error) { return decodeRetained(b) }

// SessionExpired reports whether ss has expired at now (the rule of
// [Store.Sweep]).
func SessionExpired(ss Session, now time.Time) bool { return sessionExpired(ss, now) }

// RetainedExpired reports whether r has expired at now.
func RetainedExpired(r Retained, now time.Time) bool {
	return !r.Expires.IsZero() && !now.Before(r.Expires)
}

// Shared is a [Store] that several brokers use at once: the nodes of a
// cluster, each holding some of the sessions. [Store.Sessions] lists only
// the sessions this broker holds (it wrote their record last); another
// node's session is read with Session when its client connects here.
type Shared interface {
	Store
	// Session reads the session clientID, whichever broker wrote it, with
	// InboundQoS2 filled; ok is false when there is none. It sees every
	// batch any broker's Commit resolved before the call.
	Session(clientID string) (s Session, ok bool, err error)
}
