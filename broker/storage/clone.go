package storage

import "slices"

// The clone functions give every record its own slices, so a record a
// caller holds never aliases one a store holds.

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

func cloneProps(p Properties) Properties {
	p.CorrelationData = cloneBytes(p.CorrelationData)
	p.UserProperties = slices.Clone(p.UserProperties)
	p.SubscriptionIDs = slices.Clone(p.SubscriptionIDs)
	return p
}

func cloneSession(s Session) Session {
	if s.Will != nil {
		w := *s.Will
		w.Payload = cloneBytes(w.Payload)
		w.Props = cloneProps(w.Props)
		s.Will = &w
	}
	s.Subscriptions = slices.Clone(s.Subscriptions)
	s.InboundQoS2 = slices.Clone(s.InboundQoS2)
	return s
}

func cloneMessage(m Message) Message {
	m.Payload = cloneBytes(m.Payload)
	m.Props = cloneProps(m.Props)
	return m
}

func cloneRetained(r Retained) Retained {
	r.Payload = cloneBytes(r.Payload)
	r.Props = cloneProps(r.Props)
	return r
}
