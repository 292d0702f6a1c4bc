// Package retained is the broker's store of retained messages: a trie of
// topic levels so a subscription's filter (with '+' and '#') finds its
// retained messages without scanning them all, and so a wildcard pattern
// can delete many at once (flespi's bulk deletion).
package retained

import (
	"math"
	"sync"
	"time"

	"github.com/mqttboard/mqttboard/broker/message"
	"github.com/mqttboard/mqttboard/broker/topics"
)

type node struct {
	children map[string]*node
	msg      *message.Message
	// version is the store's version when msg was set by [Store.SetLive];
	// 0 for [Store.Set]: every lookup returns it.
	version uint64
}

// everyVersion is the version of a lookup that returns every message.
const everyVersion = math.MaxUint64

// Store holds at most one message per topic [MQTT-3.3.1-5] in each
// account: accounts (a message's CID) are isolated namespaces, so the same
// topic retained in two accounts is two messages. Without token
// authentication every message is in one account.
type Store struct {
	mu    sync.RWMutex
	roots map[uint64]*node // by account
	count int
	// version counts the calls of SetLive (see [Store.Version]).
	version uint64
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
// [MQTT-3.3.1-6]. Every later lookup returns m: Set is for messages
// nobody received as they were retained (recovered from a store, caught
// up from another node); a message the broker routes to the current
// subscribers as it retains it goes through [Store.SetLive].
func (s *Store) Set(m *message.Message) { s.set(m, false) }

// SetLive is [Store.Set] for a message the broker then routes to every
// subscription its index holds at that moment. It gives m the next
// [Store.Version], so that a subscription added to the index before that
// version was read (and which therefore receives m live) can leave m out
// of its retained messages with [Store.MatchAsOf] instead of receiving it
// twice. The caller must retain before it routes.
func (s *Store) SetLive(m *message.Message) { s.set(m, true) }

// Version is the number of [Store.SetLive] calls so far. A subscriber
// reads it after adding its subscriptions to the index and before looking
// up their retained messages with [Store.MatchAsOf]: every message set live
// after that read is routed to the new subscriptions, so the lookup skips
// it.
func (s *Store) Version() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.version
}

func (s *Store) set(m *message.Message, live bool) {
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
	n.msg, n.version = m, 0
	if live {
		s.version++
		n.version = s.version
	}
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
	s.MatchAsOf(filter, now, everyVersion, fn)
}

// MatchAsOf is [Store.Match] leaving out the messages set by
// [Store.SetLive] after the store was at version (see [Store.Version]).
func (s *Store) MatchAsOf(filter string, now time.Time, version uint64, fn func(*message.Message)) {
	var l topics.Levels
	if !topics.Split(filter, &l) {
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	w := walker{now: now, version: version, fn: fn}
	for _, r := range s.roots {
		w.walk(r, l.Slice(), true)
	}
}

// walker is one lookup: the messages alive at now and set at or before
// version go to fn.
type walker struct {
	now     time.Time
	version uint64
	fn      func(*message.Message)
}

// visit gives n's message to fn if the lookup wants it.
func (w *walker) visit(n *node) {
	if n.msg != nil && n.version <= w.version && !n.msg.Expired(w.now) {
		w.fn(n.msg)
	}
}

func (w *walker) walk(n *node, lv []string, first bool) {
	if len(lv) == 0 {
		w.visit(n)
		return
	}
	switch lv[0] {
	case "#":
		if !first { // "a/#" matches "a"
			w.visit(n)
		}
		for word, c := range n.children {
			if first && len(word) > 0 && word[0] == '$' { // [MQTT-4.7.2-1]
				continue
			}
			w.all(c)
		}
	case "+":
		for word, c := range n.children {
			if first && len(word) > 0 && word[0] == '$' {
				continue
			}
			w.walk(c, lv[1:], false)
		}
	default:
		if topics.IsSelector(lv[0]) {
			// flespi topic selector: the listed words, each a child.
			for _, word := range topics.SelectorWords(lv[0]) {
				if c := n.children[word]; c != nil {
					w.walk(c, lv[1:], false)
				}
			}
			return
		}
		if c := n.children[lv[0]]; c != nil {
			w.walk(c, lv[1:], false)
		}
	}
}

// all visits n and everything under it.
func (w *walker) all(n *node) {
	w.visit(n)
	for _, c := range n.children {
		w.all(c)
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
	w := walker{version: everyVersion, fn: func(m *message.Message) { doomed = append(doomed, m) }}
	for c, r := range s.roots {
		if every || c == cid {
			w.walk(r, l.Slice(), true)
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
