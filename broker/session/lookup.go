package session

import "github.com/mqttboard/mqttboard/broker/topics"

// Sub returns the session's subscription with filter (as the client sent
// it, "$share/..." included), nil when it has none. Unlike [Session.Subs]
// it allocates nothing: the cluster looks a shared-group member up for
// each message another node forwards to it.
func (s *Session) Sub(filter string) *topics.Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subs[filter]
}
