package broker

import (
	"time"

	"github.com/mqttboard/mqttboard/broker/session"
)

// Metrics is a snapshot of the broker's state for monitoring (the REST
// API's /metrics): the counters the message path keeps anyway ([Stats]),
// and sums over sessions, subscriptions and retained messages computed
// when asked. Taking it locks each session and walks the retained store
// briefly: call it on a scrape, not per message.
type Metrics struct {
	Stats
	Uptime time.Duration
	// ConnectionsByProtocol counts live connections by "3.1", "3.1.1",
	// "5.0".
	ConnectionsByProtocol map[string]int
	SessionsOnline        int
	SessionsOffline       int
	// Queued and Inflight sum every session's outgoing queue and
	// unacknowledged messages, with the memory they take.
	Queued, QueuedBytes, Inflight, InflightBytes int64
	RetainedBytes                                int64
	// DroppedQueueFull and DroppedTooLarge split Stats.MessagesDropped by
	// cause: a session's queue was full, or the message was larger than
	// the client's Maximum Packet Size.
	DroppedQueueFull, DroppedTooLarge int64
	// SharedGroups counts distinct shared subscription groups (share name
	// and filter).
	SharedGroups int
	// RouteLatency is the time from a PUBLISH's arrival (after decoding)
	// to its being queued for every subscriber, sampled on one message in
	// 64 per connection.
	RouteLatency LatencySnapshot
	// LogRecords is the number of records in the log ring, LogPublished
	// how many were published over MQTT.
	LogRecords   int
	LogPublished uint64
	// StoreBytes is the persistent store's size on disk ([Server.StoreSize]);
	// HasStore is false without one (no --data) or when its engine cannot
	// tell, and then StoreBytes is not reported.
	StoreBytes int64
	HasStore   bool
}

// Metrics returns a snapshot of the broker's figures.
func (s *Server) Metrics() Metrics {
	m := Metrics{Stats: s.Stats(), Uptime: time.Since(s.started), ConnectionsByProtocol: map[string]int{}}
	s.mu.Lock()
	sessions := make([]*session.Session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()
	groups := map[string]struct{}{}
	for _, sess := range sessions {
		if c, _ := sess.Conn().(*conn); c != nil {
			m.SessionsOnline++
			m.ConnectionsByProtocol[protocolName(c.v)]++
		} else {
			m.SessionsOffline++
		}
		st := sess.Stats()
		m.Queued += int64(st.Queued)
		m.QueuedBytes += int64(st.QueueBytes)
		m.Inflight += int64(st.Inflight)
		m.InflightBytes += int64(st.InflightBytes)
		for _, sub := range sess.Subs() {
			if sub.Group != "" {
				groups[sub.Group+"\x00"+sub.Topic] = struct{}{}
			}
		}
	}
	m.SharedGroups = len(groups)
	m.RouteLatency = s.routeLatency.snapshot()
	m.DroppedTooLarge = s.ctr.droppedTooLarge.Load()
	m.DroppedQueueFull = max(m.MessagesDropped-m.DroppedTooLarge, 0)
	m.Retained, m.RetainedBytes = s.retained.Size()
	ls := s.logStats()
	m.LogRecords, m.LogPublished = ls.Records, ls.Published
	m.StoreBytes, m.HasStore = s.StoreSize()
	return m
}
