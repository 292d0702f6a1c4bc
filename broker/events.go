package broker

import (
	"sync/atomic"

	"github.com/mqttboard/mqttboard/packet"
)

// EventKind says what happened.
type EventKind int

// Event kinds.
const (
	EventConnected EventKind = iota + 1
	EventDisconnected
	EventSubscribed
	EventUnsubscribed
	EventDropped // a message dropped for a session (slow consumer, too large, offline QoS 0 is not reported)
	EventExpired // a session's expiry interval ran out while it was offline: its state is gone
)

// String names the kind for logs.
func (k EventKind) String() string {
	switch k {
	case EventConnected:
		return "connected"
	case EventDisconnected:
		return "disconnected"
	case EventSubscribed:
		return "subscribed"
	case EventUnsubscribed:
		return "unsubscribed"
	case EventDropped:
		return "dropped"
	case EventExpired:
		return "expired"
	}
	return "unknown"
}

// Event is one thing the broker did, for the TUI and for tests to wait on
// instead of sleeping.
type Event struct {
	Kind     EventKind
	ClientID string
	// Reason is the disconnect reason, or why a message was dropped.
	Reason packet.ReasonCode
	// Topic is the filter subscribed to, or the topic published/dropped.
	Topic string
	// Detail is a human sentence (an error message, a remote address).
	Detail string
}

// Stats are the broker's counters since it started.
type Stats struct {
	// Connections is the number of network connections the broker holds,
	// connected or not yet (CONNECT pending), until each is fully released.
	Connections      int
	ClientsConnected int64
	ClientsTotal     int64
	MessagesReceived int64
	MessagesSent     int64
	MessagesDropped  int64
	BytesReceived    int64
	BytesSent        int64
	Subscriptions    int
	Retained         int
	Sessions         int
}

type counters struct {
	connected, total, received, sent, dropped, bytesIn, bytesOut atomic.Int64
	// droppedTooLarge counts the drops (included in dropped) of messages
	// larger than the client's Maximum Packet Size; the rest are queue-full
	// drops. Counted on the drop path only.
	droppedTooLarge atomic.Int64
}

func (s *Server) emit(e Event) {
	switch e.Kind {
	case EventSubscribed, EventUnsubscribed, EventExpired:
		s.logFromEvent(&e) // never the per-message EventDropped
	}
	if s.bridge != nil {
		s.onlineChanged(&e) // cluster_shared.go
	}
	if s.opts.OnEvent != nil {
		s.opts.OnEvent(e)
	}
}

// Stats returns a snapshot of the broker's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	n := len(s.sessions)
	nc := len(s.conns)
	s.mu.Unlock()
	return Stats{
		Connections:      nc,
		ClientsConnected: s.ctr.connected.Load(),
		ClientsTotal:     s.ctr.total.Load(),
		MessagesReceived: s.ctr.received.Load(),
		MessagesSent:     s.ctr.sent.Load(),
		MessagesDropped:  s.ctr.dropped.Load(),
		BytesReceived:    s.ctr.bytesIn.Load(),
		BytesSent:        s.ctr.bytesOut.Load(),
		Subscriptions:    s.index.Len(),
		Retained:         s.retained.Len(),
		Sessions:         n,
	}
}
