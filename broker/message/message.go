// Package message is the broker's in-memory form of an application message:
// decoded once from the publisher's PUBLISH and shared read-only by every
// queue, inflight table and retained slot that holds it.
package message

import (
	"strconv"
	"time"
	"unsafe"

	"github.com/mqttboard/mqttboard/packet"
)

// Message is an application message. It is immutable once routed: queues
// hold the pointer, and writers encode a header per delivery and write the
// same Payload to every subscriber (net.Buffers), never copying it.
type Message struct {
	Topic   string
	Payload []byte
	QoS     packet.QoS
	Retain  bool
	// Props are the PUBLISH properties to forward: payload format, content
	// type, response topic, correlation data and user properties in their
	// order [MQTT-3.3.2-17]. Topic Alias and Subscription Identifiers are
	// per connection and are never stored here.
	Props packet.Properties
	// Expires is when Message Expiry Interval runs out; zero means never.
	Expires time.Time
	// Origin is the client identifier of the publisher, for No Local.
	Origin string
	// Timestamp is the message's time in UNIX seconds: its "timestamp"
	// user property when the publisher set one, else when the broker
	// received it. The retained store keeps the newest; $filter and
	// modified_since compare against it.
	Timestamp float64
	// CID is the publisher's account (flespi "cid").
	CID uint64
	// TokenID is the token the publisher authenticated with, stamped as
	// flespi's "token_id" user property; 0 without token authentication.
	TokenID uint64

	// Inline room for a few user properties and the stamped timestamp's
	// text, so that forwarding and stamping a message allocate nothing
	// beyond the Message itself (see [Message.UserRoom]).
	userRoom [4]packet.UserProperty
	tsRoom   [24]byte
}

// UserRoom returns an empty slice for n user properties: the Message's own
// inline room when they fit, else a new slice. A Message holding a slice
// into its own room must not be copied by value (clone Props.User first).
func (m *Message) UserRoom(n int) []packet.UserProperty {
	if n <= len(m.userRoom) {
		return m.userRoom[:0]
	}
	return make([]packet.UserProperty, 0, n)
}

// FormatTimestamp formats ts (UNIX seconds) as the "timestamp" user
// property's value, in the Message's inline room when it fits.
func (m *Message) FormatTimestamp(ts float64) string {
	b := strconv.AppendFloat(m.tsRoom[:0], ts, 'f', -1, 64)
	if &b[0] != &m.tsRoom[0] {
		return string(b) // did not fit: AppendFloat made its own
	}
	return unsafe.String(&b[0], len(b)) // the room is written once, before the message is shared
}

// Expired reports whether the message's expiry interval has run out at now.
func (m *Message) Expired(now time.Time) bool {
	return !m.Expires.IsZero() && !now.Before(m.Expires)
}

// RemainingExpiry is the Message Expiry Interval to send at now: the
// received interval minus the time the message waited [MQTT-3.3.2-6].
func (m *Message) RemainingExpiry(now time.Time) uint32 {
	if m.Expires.IsZero() {
		return 0
	}
	d := m.Expires.Sub(now)
	if d <= 0 {
		return 0
	}
	return uint32((d + time.Second - 1) / time.Second)
}

// Size is what the message costs in memory, for the queue and inflight
// limits: its bytes (topic, payload, properties) and the Message value
// itself, so a flood of small messages is bounded by the memory it really
// takes, not by payload bytes alone (a 64-byte payload costs ~600 bytes).
func (m *Message) Size() int {
	n := len(m.Topic) + len(m.Payload) + int(unsafe.Sizeof(*m)) + allocOverhead
	p := &m.Props
	n += len(p.ContentType) + len(p.ResponseTopic) + len(p.CorrelationData)
	for _, u := range p.User {
		n += len(u.Key) + len(u.Value) + int(unsafe.Sizeof(u))
	}
	return n
}

// allocOverhead is the allocator's rounding and the packet buffer's header
// bytes that a message keeps alive beyond its topic and payload.
const allocOverhead = 64
