package topics

import (
	"slices"
	"sync"
)

// node is one topic level. Literal words are children by name; '+' and '#'
// have their own slots so matching never scans the children map.
type node struct {
	children map[string]*node
	plus     *node       // '+': any one level
	hash     *node       // '#': this level and everything below
	sels     []*selector // flespi topic selectors "a,b": one of the listed words
	subs     []*Subscription
	groups   map[groupKey]*SharedGroup
}

// groupKey names a shared group at its node: the share name within an
// account (see [Subscription.Account]).
type groupKey struct {
	name    string
	account uint64
}

func (n *node) empty() bool {
	return len(n.children) == 0 && n.plus == nil && n.hash == nil && len(n.sels) == 0 && len(n.subs) == 0 && len(n.groups) == 0
}

// Index is the subscription trie. Match takes a read lock, Add and Remove
// the write lock; the callback of Match runs under the read lock and must
// not block or call back into the index.
type Index struct {
	mu    sync.RWMutex
	root  node
	count int
	watch func(sub *Subscription, added bool)
}

// Watch makes the index call fn, under its write lock, whenever a
// subscription is added (not when one replaces another of the same
// subscriber and filter, whose Topic is the same) and whenever one is
// removed, whatever path adds or removes it. fn must not block or call
// back into the index. The cluster bridge uses it to follow the topics
// its node has interest in; set it before the index is used. Match never
// calls it, so routing costs the same with or without a watcher.
func (x *Index) Watch(fn func(sub *Subscription, added bool)) {
	x.mu.Lock()
	x.watch = fn
	x.mu.Unlock()
}

// NewIndex returns an empty index.
func NewIndex() *Index { return &Index{} }

// Len returns the number of subscriptions, shared members included
// (not those of other nodes, see [RemoteSubscriber]).
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.count
}

// Add inserts sub, replacing the subscription of the same subscriber with
// the same Filter; it returns the replaced one (nil when new), which the
// broker needs for retain handling 1 [MQTT-3.3.1-10]. sub.Topic and
// sub.Group must be set (see [ParseShared]) and have at most [MaxLevels]
// levels.
func (x *Index) Add(sub *Subscription) (replaced *Subscription) {
	var l Levels
	if !Split(sub.Topic, &l) {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	n := &x.root
	for _, w := range l.Slice() {
		n = n.child(w)
	}
	if sub.Group == "" {
		for i, s := range n.subs {
			if s.Subscriber == sub.Subscriber && s.Filter == sub.Filter {
				n.subs[i] = sub
				return s
			}
		}
		n.subs = append(n.subs, sub)
		x.count++
		if x.watch != nil {
			x.watch(sub, true)
		}
		return nil
	}
	if n.groups == nil {
		n.groups = make(map[groupKey]*SharedGroup)
	}
	key := groupKey{sub.Group, sub.Account}
	g := n.groups[key]
	if g == nil {
		g = newSharedGroup(sub.Group)
		n.groups[key] = g
	}
	for i, s := range g.members {
		if s.Subscriber == sub.Subscriber {
			m := append([]*Subscription(nil), g.members...)
			m[i] = sub
			g.setMembers(m)
			return s
		}
	}
	g.setMembers(append(append([]*Subscription(nil), g.members...), sub))
	if !isRemote(sub.Subscriber) {
		x.count++
	}
	if x.watch != nil {
		x.watch(sub, true)
	}
	return nil
}

func (n *node) child(w string) *node {
	switch w {
	case "+":
		if n.plus == nil {
			n.plus = &node{}
		}
		return n.plus
	case "#":
		if n.hash == nil {
			n.hash = &node{}
		}
		return n.hash
	}
	if IsSelector(w) {
		key, words := parseSelector(w)
		for _, s := range n.sels {
			if s.key == key {
				return s.node
			}
		}
		s := &selector{key: key, words: words, node: &node{}}
		n.sels = append(n.sels, s)
		return s.node
	}
	if n.children == nil {
		n.children = make(map[string]*node)
	}
	c := n.children[w]
	if c == nil {
		c = &node{}
		n.children[w] = c
	}
	return c
}

// Remove deletes the subscription of subscriber with the given filter (as
// sent, "$share/..." included) and reports whether it existed. Empty nodes
// are pruned so the trie does not grow with churn.
func (x *Index) Remove(subscriber Subscriber, filter string) bool {
	group, topic := ParseShared(filter)
	var l Levels
	if !Split(topic, &l) {
		return false
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	gone := remove(&x.root, l.Slice(), subscriber, filter, group)
	if gone == nil {
		return false
	}
	if !isRemote(gone.Subscriber) {
		x.count--
	}
	if x.watch != nil {
		x.watch(gone, false)
	}
	return true
}

// remove deletes the subscription and returns it, nil when there was none.
func remove(n *node, lv []string, who Subscriber, filter, group string) *Subscription {
	if len(lv) == 0 {
		if group == "" {
			for i, s := range n.subs {
				if s.Subscriber == who && s.Filter == filter {
					last := len(n.subs) - 1
					n.subs[i] = n.subs[last]
					n.subs[last] = nil
					n.subs = n.subs[:last]
					return s
				}
			}
			return nil
		}
		// The subscriber's group of that name, in whichever account.
		for key, g := range n.groups {
			if key.name != group {
				continue
			}
			for i, s := range g.members {
				if s.Subscriber == who {
					m := make([]*Subscription, 0, len(g.members)-1)
					m = append(append(m, g.members[:i]...), g.members[i+1:]...)
					g.setMembers(m)
					if len(m) == 0 {
						delete(n.groups, key)
					}
					return s
				}
			}
		}
		return nil
	}
	var c *node
	sel := -1
	switch {
	case lv[0] == "+":
		c = n.plus
	case lv[0] == "#":
		c = n.hash
	case IsSelector(lv[0]):
		key, _ := parseSelector(lv[0])
		if sel = slices.IndexFunc(n.sels, func(s *selector) bool { return s.key == key }); sel >= 0 {
			c = n.sels[sel].node
		}
	default:
		c = n.children[lv[0]]
	}
	if c == nil {
		return nil
	}
	gone := remove(c, lv[1:], who, filter, group)
	if gone == nil {
		return nil
	}
	if c.empty() {
		switch {
		case lv[0] == "+":
			n.plus = nil
		case lv[0] == "#":
			n.hash = nil
		case sel >= 0:
			n.sels = slices.Delete(n.sels, sel, sel+1)
		default:
			delete(n.children, lv[0])
		}
	}
	return gone
}

// Match calls plain for every plain subscription whose filter matches
// topic, and shared once per matching shared group with the member chosen
// to receive it. Filters starting with a wildcard do not match topics
// starting with '$' [MQTT-4.7.2-1]. It reports false when topic has more
// than [MaxLevels] levels. Match allocates nothing.
func (x *Index) Match(topic string, fn func(s *Subscription)) bool {
	var l Levels
	if !Split(topic, &l) {
		return false
	}
	dollar := len(topic) > 0 && topic[0] == '$'
	x.mu.RLock()
	all := l.Slice()
	match(&x.root, all, all, dollar, fn)
	x.mu.RUnlock()
	return true
}

// match walks the trie: lv is what is left of the topic, all the whole
// topic (sticky shared groups fingerprint it).
func match(n *node, lv, all []string, noWild bool, fn func(*Subscription)) {
	if len(lv) == 0 {
		emit(n, all, fn)
		if n.hash != nil { // "a/#" also matches "a" [MQTT-4.7.1-2]
			emit(n.hash, all, fn)
		}
		return
	}
	if !noWild {
		if n.hash != nil {
			emit(n.hash, all, fn)
		}
		if n.plus != nil {
			match(n.plus, lv[1:], all, false, fn)
		}
	}
	for _, s := range n.sels {
		if s.has(lv[0]) {
			match(s.node, lv[1:], all, false, fn)
		}
	}
	if c := n.children[lv[0]]; c != nil {
		match(c, lv[1:], all, false, fn)
	}
}

func emit(n *node, all []string, fn func(*Subscription)) {
	for _, s := range n.subs {
		fn(s)
	}
	for _, g := range n.groups {
		if s := g.pick(all); s != nil {
			fn(s)
		}
	}
}

// HasFirstLevel reports whether a subscription's filter begins with the
// word w, literally or in a topic selector: whether a topic whose first
// level is w can match a filter that does not begin with a wildcard. It
// lets a publisher that skips wildcard-rooted filters (the broker's own
// logs) know there is no one to build a message for.
func (x *Index) HasFirstLevel(w string) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if c := x.root.children[w]; c != nil && !c.empty() {
		return true
	}
	for _, s := range x.root.sels {
		if s.has(w) {
			return true
		}
	}
	return false
}
