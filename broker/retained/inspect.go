package retained

import (
	"github.com/mqttboard/mqttboard/broker/message"
	"github.com/mqttboard/mqttboard/broker/topics"
)

// Delete removes m if it is still the retained message of its topic (a
// newer message that replaced it meanwhile stays), and reports whether it
// did.
func (s *Store) Delete(m *message.Message) bool {
	var l topics.Levels
	if !topics.Split(m.Topic, &l) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.root(m.CID, false)
	if r == nil {
		return false
	}
	n := r
	for _, w := range l.Slice() {
		n = n.children[w]
		if n == nil {
			return false
		}
	}
	if n.msg != m {
		return false
	}
	return s.delete(r, l.Slice())
}

// Size returns the number of retained messages and what they cost in
// memory ([message.Message.Size]), for metrics. It walks the whole store
// under the read lock: call it on a scrape, not per message.
func (s *Store) Size() (count int, bytes int64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var walk func(n *node)
	walk = func(n *node) {
		if n.msg != nil {
			bytes += int64(n.msg.Size())
		}
		for _, c := range n.children {
			walk(c)
		}
	}
	for _, r := range s.roots {
		walk(r)
	}
	return s.count, bytes
}
