// Package retained is the broker's store of retained messages: a trie of
// topic levels so a subscription's filter (with '+' and '#') finds its
// retained messages without scanning them all, and so a wildcard pattern
// can delete many at once (flespi's bulk deletion).
package retained

import (
	"sync"
	"time"

	"github.com/mqttboard/mqttboard/broker/message"
	"github.com/mqttboard/mqttboard/broker/topics"
)

type node struct {
	children map[string]*node
	msg      *message.Message
}

// Store holds at most one message per topic [MQTT-3.3.1-5] in each
// account: accounts (a message's CID) are isolated namespaces, so the same
// topic retained in two accounts is two messages. Without token
// authentication every message is in one account.
type Store struct {
	mu    sync.RWMutex
	roots map[uint64]*node // by account
	count int
}

// New returns an empty store.
func New() *Store { return &Store{roots: map[uint64]*node{}} }

// root returns the trie of account cid, creating it if asked (else nil
// when the account has none).
func (s *Store) root(cid uint64, create bool) *node {
	n := s.roots[cid]
	if n == nil && create {
		if s.roots == nil {
			s.roots = map[uint64]*node{}
		}
		n = &node{}
		s.roots[cid] = n
	}
	return n
}

// Len is the number of retained messages.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.count
}

// Set retains m under m.Topic, replacing the previous message unless that
// one has a newer Timestamp; an empty payload deletes instead
// [MQTT-3.3.1-6].
func (s *Store) Set(m *message.Message) {
	var l topics.Levels
	if !topics.Split(m.Topic, &l) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(m.Payload) == 0 {
		if r := s.root(m.CID, false); r != nil {
			s.delete(r, l.Slice())
		}
		return
	}
	n := s.root(m.CID, true)
	for _, w := range l.Slice() {
		if n.children == nil {
			n.children = make(map[string]*node)
		}
		c := n.children[w]
		if c == nil {
			c = &node{}
			n.children[w] = c
		}
		n = c
	}
	switch {
	case n.msg == nil:
		s.count++
	case m.Timestamp < n.msg.Timestamp:
		// flespi: the retained slot keeps the message with the newest
		// timestamp; an older one arriving later does not replace it.
		return
	}
	n.msg = m
}

func (s *Store) delete(n *node, lv []string) bool {
	if len(lv) == 0 {
		if n.msg == nil {
			return false
		}
		n.msg = nil
		s.count--
		return true
	}
	c := n.children[lv[0]]
	if c == nil || !s.delete(c, lv[1:]) {
		return false
	}
	if c.msg == nil && len(c.children) == 0 {
		delete(n.children, lv[0])
	}
	return true
}

// Match calls fn for every unexpired retained message whose topic matches
// filter (not a "$share/" filter), in every account: the caller keeps
// those of the accounts it may see. Expired messages are removed lazily by
// [Store.Sweep]. fn runs under the read lock and must not block.
func (s *Store) Match(filter string, now time.Time, fn func(*message.Message)) {
	var l topics.Levels
	if !topics.Split(filter, &l) {
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, r := range s.roots {
		walk(r, l.Slice(), true, now, fn)
	}
}

func walk(n *node, lv []string, first bool, now time.Time, fn func(*message.Message)) {
	if len(lv) == 0 {
		if n.msg != nil && !n.msg.Expired(now) {
			fn(n.msg)
		}
		return
	}
	switch lv[0] {
	case "#":
		if !first && n.msg != nil && !n.msg.Expired(now) { // "a/#" matches "a"
			fn(n.msg)
		}
		for w, c := range n.children {
			if first && len(w) > 0 && w[0] == '$' { // [MQTT-4.7.2-1]
				continue
			}
			all(c, now, fn)
		}
	case "+":
		for w, c := range n.children {
			if first && len(w) > 0 && w[0] == '$' {
				continue
			}
			walk(c, lv[1:], false, now, fn)
		}
	default:
		if topics.IsSelector(lv[0]) {
			// flespi topic selector: the listed words, each a child.
			for _, w := range topics.SelectorWords(lv[0]) {
				if c := n.children[w]; c != nil {
					walk(c, lv[1:], false, now, fn)
				}
			}
			return
		}
		if c := n.children[lv[0]]; c != nil {
			walk(c, lv[1:], false, now, fn)
		}
	}
}

func all(n *node, now time.Time, fn func(*message.Message)) {
	if n.msg != nil && !n.msg.Expired(now) {
		fn(n.msg)
	}
	for _, c := range n.children {
		all(c, now, fn)
	}
}

// Sweep deletes expired messages [MQTT-3.3.2-5]; the broker calls it
// periodically so expired retained messages do not hold memory.
func (s *Store) Sweep(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := 0
	for cid, r := range s.roots {
		d += s.sweep(r, now)
		if r.msg == nil && len(r.children) == 0 {
			delete(s.roots, cid)
		}
	}
	return d
}

func (s *Store) sweep(n *node, now time.Time) int {
	d := 0
	if n.msg != nil && n.msg.Expired(now) {
		n.msg = nil
		s.count--
		d++
	}
	for w, c := range n.children {
		d += s.sweep(c, now)
		if c.msg == nil && len(c.children) == 0 {
			delete(n.children, w)
		}
	}
	return d
}

// DeleteMatching deletes every retained message whose topic matches the
// filter pattern (flespi's bulk deletion by an empty PUBLISH to a wildcard
// topic) and returns how many it deleted. As in subscriptions, a pattern
// starting with a wildcard leaves '$' topics alone [MQTT-4.7.2-1].
// It deletes in every account; see [Store.DeleteMatchingIn].
func (s *Store) DeleteMatching(pattern string) int { return s.deleteMatching(pattern, 0, true) }

// DeleteMatchingIn is [Store.DeleteMatching] within account cid only.
func (s *Store) DeleteMatchingIn(pattern string, cid uint64) int {
	return s.deleteMatching(pattern, cid, false)
}

func (s *Store) deleteMatching(pattern string, cid uint64, every bool) int {
	return len(s.DeleteMatchingMessages(pattern, cid, every))
}

// DeleteMatchingMessages is [Store.DeleteMatchingIn] (every: in every
// account, as [Store.DeleteMatching]) returning the messages it deleted,
// for the broker's persistent store to delete them too.
func (s *Store) DeleteMatchingMessages(pattern string, cid uint64, every bool) []*message.Message {
	var l topics.Levels
	if !topics.Split(pattern, &l) {
		return nil
	}
	var doomed []*message.Message
	s.mu.RLock()
	for c, r := range s.roots {
		if every || c == cid {
			walk(r, l.Slice(), true, time.Time{}, func(m *message.Message) { doomed = append(doomed, m) })
		}
	}
	s.mu.RUnlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	gone := doomed[:0]
	for _, m := range doomed {
		var tl topics.Levels
		topics.Split(m.Topic, &tl)
		if r := s.root(m.CID, false); r != nil && s.delete(r, tl.Slice()) {
			gone = append(gone, m)
		}
	}
	return gone
}
