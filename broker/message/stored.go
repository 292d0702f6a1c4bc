package message

import (
	"math"
	"time"

	"github.com/mqttboard/mqttboard/broker/storage"
	"github.com/mqttboard/mqttboard/packet"
)

// The conversions between a Message and the store's records (package
// storage), used only by a broker with a store: a restart must give back
// the same message, properties in their order, timestamp and expiry.

// StoredProps is p as the store keeps it. Slices are shared, not copied:
// the store copies them when the batch is applied.
func StoredProps(p *packet.Properties) storage.Properties {
	return StoredPropsBuf(p, nil)
}

// StoredPropsBuf is [StoredProps] with the user properties appended to
// buf[:0] instead of a new slice, for a caller that reuses one buffer for
// record after record (a session's store updates).
func StoredPropsBuf(p *packet.Properties, buf []storage.UserProperty) storage.Properties {
	sp := storage.Properties{
		PayloadFormat:   p.PayloadFormat,
		ContentType:     p.ContentType,
		ResponseTopic:   p.ResponseTopic,
		CorrelationData: p.CorrelationData,
	}
	if len(p.User) > 0 {
		if buf == nil {
			buf = make([]storage.UserProperty, 0, len(p.User))
		}
		buf = buf[:0]
		for _, u := range p.User {
			buf = append(buf, storage.UserProperty{Key: u.Key, Value: u.Value})
		}
		sp.UserProperties = buf
	}
	return sp
}

// PropsFromStored is the inverse of [StoredProps] (subscription ids are
// per delivery and left out).
func PropsFromStored(sp *storage.Properties) packet.Properties {
	p := packet.Properties{
		PayloadFormat:   sp.PayloadFormat,
		ContentType:     sp.ContentType,
		ResponseTopic:   sp.ResponseTopic,
		CorrelationData: sp.CorrelationData,
	}
	if p.PayloadFormat != 0 {
		p.Present = p.Present.Add(packet.PropPayloadFormat)
	}
	if p.CorrelationData != nil {
		p.Present = p.Present.Add(packet.PropCorrelationData)
	}
	if len(sp.UserProperties) > 0 {
		p.User = make([]packet.UserProperty, len(sp.UserProperties))
		for i, u := range sp.UserProperties {
			p.User[i] = packet.UserProperty{Key: u.Key, Value: u.Value}
		}
	}
	return p
}

// FromStored is a queued message back from the store.
func FromStored(sm *storage.Message) *Message {
	return &Message{
		Topic:     sm.Topic,
		Payload:   sm.Payload,
		QoS:       packet.QoS(sm.QoS),
		Retain:    sm.Retain,
		Props:     PropsFromStored(&sm.Props),
		Expires:   sm.Expires,
		Timestamp: UnixSeconds(sm.Created),
	}
}

// FromRetained is a retained message back from the store.
func FromRetained(r *storage.Retained) *Message {
	return &Message{
		Topic:     r.Topic,
		Payload:   r.Payload,
		QoS:       packet.QoS(r.QoS),
		Retain:    true,
		Props:     PropsFromStored(&r.Props),
		Expires:   r.Expires,
		Timestamp: UnixSeconds(r.Created),
	}
}

// ToRetained is m as the store keeps a retained message.
func ToRetained(m *Message) storage.Retained {
	return storage.Retained{
		Topic:   m.Topic,
		Payload: m.Payload,
		QoS:     byte(m.QoS),
		Props:   StoredProps(&m.Props),
		Created: TimeOf(m.Timestamp),
		Expires: m.Expires,
	}
}

// TimeOf turns a Timestamp (UNIX seconds) into a time.Time.
func TimeOf(ts float64) time.Time {
	sec, frac := math.Modf(ts)
	return time.Unix(int64(sec), int64(frac*1e9))
}

// UnixSeconds is t as a Timestamp; the zero time is 0.
func UnixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}
