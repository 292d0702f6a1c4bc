package topics

import "sync/atomic"

// SharedGroup is the members of one "$share/name/filter" subscription
// [MQTT-4.8.2]. A message matching the filter goes to one member.
//
// Distribution is round robin over online members. flespi's sticky groups
// ("name:from:count") will add a fingerprint → member table here; the
// index and the callback contract stay the same.
type SharedGroup struct {
	Name    string
	members []*Subscription // copy-on-write under the index lock
	next    atomic.Uint32
}

// Members returns the group's subscriptions; the slice must not be changed.
func (g *SharedGroup) Members() []*Subscription { return g.members }

// pick returns the member to deliver to: the next online member in round
// robin order, or when none is online the next member at all, so a
// persistent session queues it (flespi's "shared group sessions storage").
func (g *SharedGroup) pick() *Subscription {
	n := len(g.members)
	if n == 0 {
		return nil
	}
	start := int(g.next.Add(1)-1) % n
	for i := 0; i < n; i++ {
		s := g.members[(start+i)%n]
		if s.Subscriber.Online() {
			return s
		}
	}
	return g.members[start]
}
