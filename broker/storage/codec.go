package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Stored records are a version byte and then fields in a fixed order:
// uvarint integers, uvarint-length-prefixed strings and bytes, times as
// varint Unix nanoseconds (0 for the zero time). The decoders check every
// length against what is left, so damaged bytes give an error naming the
// field and offset, never a panic or a huge allocation.

const recordVersion = 1

type encoder struct{ b []byte }

func (e *encoder) byte(v byte)     { e.b = append(e.b, v) }
func (e *encoder) uint(v uint64)   { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) bytes(v []byte)  { e.uint(uint64(len(v))); e.b = append(e.b, v...) }
func (e *encoder) string(v string) { e.uint(uint64(len(v))); e.b = append(e.b, v...) }
func (e *encoder) bool(v bool)     { e.byte(b2u(v)) }
func (e *encoder) nilBytes(v []byte) {
	// nil and empty differ for payloads and correlation data only in Go;
	// keep the difference so a round trip is exact.
	if v == nil {
		e.uint(0)
		return
	}
	e.uint(uint64(len(v)) + 1)
	e.b = append(e.b, v...)
}

func (e *encoder) time(t time.Time) {
	if t.IsZero() {
		e.b = binary.AppendVarint(e.b, 0)
		return
	}
	e.b = binary.AppendVarint(e.b, t.UnixNano())
}

func b2u(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func (e *encoder) props(p Properties) {
	e.byte(p.PayloadFormat)
	e.string(p.ContentType)
	e.string(p.ResponseTopic)
	e.nilBytes(p.CorrelationData)
	e.uint(uint64(len(p.UserProperties)))
	for _, u := range p.UserProperties {
		e.string(u.Key)
		e.string(u.Value)
	}
	e.uint(uint64(len(p.SubscriptionIDs)))
	for _, id := range p.SubscriptionIDs {
		e.uint(uint64(id))
	}
}

func encodeSession(s *Session) []byte {
	return appendSession(make([]byte, 0, 64+len(s.ClientID)), s)
}

// appendSession appends s's record to dst: the group commit encodes into
// one buffer per group instead of a slice per record.
func appendSession(dst []byte, s *Session) []byte {
	e := encoder{b: dst}
	e.byte(recordVersion)
	e.string(s.ClientID)
	e.byte(s.Protocol)
	e.uint(uint64(s.ExpiryInterval))
	e.time(s.DisconnectedAt)
	if w := s.Will; w != nil {
		e.byte(1)
		e.string(w.Topic)
		e.nilBytes(w.Payload)
		e.byte(w.QoS)
		e.bool(w.Retain)
		e.uint(uint64(w.DelayInterval))
		e.props(w.Props)
	} else {
		e.byte(0)
	}
	e.uint(uint64(len(s.Subscriptions)))
	for _, sub := range s.Subscriptions {
		e.string(sub.Filter)
		e.byte(sub.QoS | b2u(sub.NoLocal)<<2 | b2u(sub.RetainAsPublished)<<3 | sub.RetainHandling<<4)
		e.uint(uint64(sub.ID))
	}
	// Last, optional on read: a record without them (phase 1) still decodes.
	e.string(s.Username)
	e.uint(s.Account)
	e.uint(s.TokenID)
	// Then, only when one is set (so records without them stay readable by
	// the code before them): the will's message expiry and each
	// subscription's cid option.
	var willExpiry uint32
	if s.Will != nil {
		willExpiry = s.Will.MessageExpiry
	}
	anyCID := false
	for _, sub := range s.Subscriptions {
		anyCID = anyCID || sub.HasCID
	}
	if willExpiry != 0 || anyCID {
		e.uint(uint64(willExpiry))
		e.uint(uint64(len(s.Subscriptions)))
		for _, sub := range s.Subscriptions {
			e.bool(sub.HasCID)
			if sub.HasCID {
				e.uint(sub.CID)
			}
		}
	}
	return e.b
}

func encodeMessage(m *Message) []byte {
	return appendMessage(make([]byte, 0, 48+len(m.Topic)+len(m.Payload)), m)
}

func appendMessage(dst []byte, m *Message) []byte {
	e := encoder{b: dst}
	e.byte(recordVersion)
	e.uint(m.Seq)
	e.byte(byte(m.State))
	e.uint(uint64(m.PacketID))
	e.byte(m.QoS)
	e.bool(m.Retain)
	e.string(m.Topic)
	e.nilBytes(m.Payload)
	e.props(m.Props)
	e.time(m.Created)
	e.time(m.Expires)
	return e.b
}

func encodeRetained(r *Retained) []byte {
	return appendRetained(make([]byte, 0, 48+len(r.Topic)+len(r.Payload)), r)
}

func appendRetained(dst []byte, r *Retained) []byte {
	e := encoder{b: dst}
	e.byte(recordVersion)
	e.string(r.Topic)
	e.nilBytes(r.Payload)
	e.byte(r.QoS)
	e.props(r.Props)
	e.time(r.Created)
	e.time(r.Expires)
	return e.b
}

// decoder reads what encoder wrote; the first error sticks and names the
// field and the byte offset where it happened.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(field, what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%s at byte %d: %s", field, d.off, what)
	}
}

func (d *decoder) byte(field string) byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.b) {
		d.fail(field, "record ends early")
		return 0
	}
	v := d.b[d.off]
	d.off++
	return v
}

func (d *decoder) bool(field string) bool {
	switch d.byte(field) {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail(field, "not 0 or 1")
	return false
}

func (d *decoder) qos(field string) byte {
	q := d.byte(field)
	if q > 2 {
		d.fail(field, fmt.Sprintf("QoS %d", q))
	}
	return q
}

func (d *decoder) uint(field string, max uint64) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail(field, "bad varint")
		return 0
	}
	if v > max {
		d.fail(field, fmt.Sprintf("%d is above %d", v, max))
		return 0
	}
	d.off += n
	return v
}

// count reads an element count; each element takes at least one byte, so
// a count above what is left is damage, not a reason to allocate.
func (d *decoder) count(field string) int {
	return int(d.uint(field, uint64(len(d.b)-d.off)))
}

func (d *decoder) raw(field string, n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)-d.off) {
		d.fail(field, fmt.Sprintf("length %d runs past the end", n))
		return nil
	}
	v := d.b[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	return v
}

func (d *decoder) string(field string) string {
	return string(d.raw(field, d.uint(field, uint64(len(d.b)))))
}

func (d *decoder) nilBytes(field string) []byte {
	n := d.uint(field, uint64(len(d.b))+1)
	if n == 0 || d.err != nil {
		return nil
	}
	return cloneBytes(d.raw(field, n-1))
}

func (d *decoder) time(field string) time.Time {
	if d.err != nil {
		return time.Time{}
	}
	v, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		d.fail(field, "bad varint")
		return time.Time{}
	}
	d.off += n
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, v).UTC()
}

func (d *decoder) version() {
	if v := d.byte("version"); d.err == nil && v != recordVersion {
		d.fail("version", fmt.Sprintf("record version %d, this broker reads %d", v, recordVersion))
	}
}

func (d *decoder) end() error {
	if d.err == nil && d.off != len(d.b) {
		d.fail("end", fmt.Sprintf("%d bytes left over", len(d.b)-d.off))
	}
	return d.err
}

func (d *decoder) props() Properties {
	var p Properties
	p.PayloadFormat = d.byte("payload format")
	p.ContentType = d.string("content type")
	p.ResponseTopic = d.string("response topic")
	p.CorrelationData = d.nilBytes("correlation data")
	if n := d.count("user property count"); n > 0 {
		p.UserProperties = make([]UserProperty, 0, n)
		for range n {
			k := d.string("user property key")
			v := d.string("user property value")
			p.UserProperties = append(p.UserProperties, UserProperty{k, v})
		}
	}
	if n := d.count("subscription id count"); n > 0 {
		p.SubscriptionIDs = make([]uint32, 0, n)
		for range n {
			p.SubscriptionIDs = append(p.SubscriptionIDs, uint32(d.uint("subscription id", 1<<32-1)))
		}
	}
	return p
}

var errEmptyRecord = errors.New("empty record")

func decodeSession(b []byte) (Session, error) {
	if len(b) == 0 {
		return Session{}, errEmptyRecord
	}
	d := decoder{b: b}
	var s Session
	d.version()
	s.ClientID = d.string("client id")
	s.Protocol = d.byte("protocol")
	s.ExpiryInterval = uint32(d.uint("expiry interval", 1<<32-1))
	s.DisconnectedAt = d.time("disconnected at")
	if d.bool("will present") {
		w := &Will{}
		w.Topic = d.string("will topic")
		w.Payload = d.nilBytes("will payload")
		w.QoS = d.qos("will qos")
		w.Retain = d.bool("will retain")
		w.DelayInterval = uint32(d.uint("will delay", 1<<32-1))
		w.Props = d.props()
		s.Will = w
	}
	if n := d.count("subscription count"); n > 0 {
		s.Subscriptions = make([]Subscription, 0, n)
		for range n {
			var sub Subscription
			sub.Filter = d.string("subscription filter")
			o := d.byte("subscription options")
			if o&3 == 3 || o>>4 > 2 || o&0xc0 != 0 {
				d.fail("subscription options", fmt.Sprintf("bad options byte %#x", o))
			}
			sub.QoS, sub.NoLocal, sub.RetainAsPublished, sub.RetainHandling = o&3, o&4 != 0, o&8 != 0, o>>4&3
			sub.ID = uint32(d.uint("subscription id", 1<<32-1))
			s.Subscriptions = append(s.Subscriptions, sub)
		}
	}
	if d.err == nil && d.off < len(d.b) {
		s.Username = d.string("user name")
		s.Account = d.uint("account", 1<<64-1)
		s.TokenID = d.uint("token id", 1<<64-1)
	}
	if d.err == nil && d.off < len(d.b) {
		willExpiry := uint32(d.uint("will message expiry", 1<<32-1))
		if s.Will != nil {
			s.Will.MessageExpiry = willExpiry
		}
		if n := d.count("subscription cid count"); d.err == nil && n != len(s.Subscriptions) {
			d.fail("subscription cid count", fmt.Sprintf("%d for %d subscriptions", n, len(s.Subscriptions)))
		}
		for i := range s.Subscriptions {
			if d.err != nil {
				break
			}
			if s.Subscriptions[i].HasCID = d.bool("subscription has cid"); s.Subscriptions[i].HasCID {
				s.Subscriptions[i].CID = d.uint("subscription cid", 1<<64-1)
			}
		}
	}
	return s, d.end()
}

func decodeMessage(b []byte) (Message, error) {
	if len(b) == 0 {
		return Message{}, errEmptyRecord
	}
	d := decoder{b: b}
	var m Message
	d.version()
	m.Seq = d.uint("seq", 1<<64-1)
	m.State = MessageState(d.byte("state"))
	if m.State > maxMessageState {
		d.fail("state", fmt.Sprintf("unknown state %d", m.State))
	}
	m.PacketID = uint16(d.uint("packet id", 1<<16-1))
	m.QoS = d.qos("qos")
	m.Retain = d.bool("retain")
	m.Topic = d.string("topic")
	m.Payload = d.nilBytes("payload")
	m.Props = d.props()
	m.Created = d.time("created")
	m.Expires = d.time("expires")
	return m, d.end()
}

func decodeRetained(b []byte) (Retained, error) {
	if len(b) == 0 {
		return Retained{}, errEmptyRecord
	}
	d := decoder{b: b}
	var r Retained
	d.version()
	r.Topic = d.string("topic")
	r.Payload = d.nilBytes("payload")
	r.QoS = d.qos("qos")
	r.Props = d.props()
	r.Created = d.time("created")
	r.Expires = d.time("expires")
	return r, d.end()
}
