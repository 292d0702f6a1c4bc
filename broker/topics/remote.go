package topics

// RemoteSubscriber is a subscriber whose session lives on another node of
// a cluster: the cluster adds one to a node's index for each member of a
// shared group held on another node, so that the group balances (and a
// sticky group pins) over its members on every node. The index treats it
// as any member when it picks one, and leaves it out of [Index.Len]: the
// subscription is counted on the node that holds it.
type RemoteSubscriber interface {
	Subscriber
	// Node names the node that holds the subscription.
	Node() string
}

func isRemote(s Subscriber) bool {
	_, ok := s.(RemoteSubscriber)
	return ok
}

// PickShared returns the member of the shared group of filter ("$share/
// name/topic filter") in account that would receive a message on topic,
// as [Index.Match] picks it, or nil when the group has no member here.
// The cluster uses it when a message forwarded for a member finds the
// member gone: the group's current members get it instead.
func (x *Index) PickShared(filter string, account uint64, topic string) *Subscription {
	group, inner := ParseShared(filter)
	var fl, tl Levels
	if group == "" || !Split(inner, &fl) || !Split(topic, &tl) {
		return nil
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	n := &x.root
	for _, w := range fl.Slice() {
		if n = n.find(w); n == nil {
			return nil
		}
	}
	g := n.groups[groupKey{group, account}]
	if g == nil {
		return nil
	}
	return g.pick(tl.Slice())
}

// find returns the child for filter level w without creating it.
func (n *node) find(w string) *node {
	switch w {
	case "+":
		return n.plus
	case "#":
		return n.hash
	}
	if IsSelector(w) {
		key, _ := parseSelector(w)
		for _, s := range n.sels {
			if s.key == key {
				return s.node
			}
		}
		return nil
	}
	return n.children[w]
}
