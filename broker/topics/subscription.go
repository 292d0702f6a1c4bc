package topics

import (
	"github.com/mqttboard/mqttboard/packet"
)

// Subscriber is who a subscription delivers to: the broker's session. The
// index only needs a stable identity; the broker type-asserts it back.
type Subscriber interface {
	// SubscriberID is the client identifier owning the subscription.
	SubscriberID() string
	// Online reports whether the subscriber has a live connection, so a
	// shared group prefers members that can take the message now.
	Online() bool
}

// Subscription is one topic filter of one session with its options. The
// index stores the pointer; the fields are immutable once added (a
// re-subscribe replaces the value), so the routing path reads them without
// locks.
type Subscription struct {
	Subscriber Subscriber
	// Filter is the filter as the client sent it, including any
	// "$share/group/" prefix; it is the key for unsubscribing.
	Filter string
	// Topic is the filter the trie matches on (Filter without the share
	// prefix).
	Topic string
	// Group is the share name, "" for a plain subscription.
	Group string

	QoS               packet.QoS
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte
	// ID is the MQTT 5 subscription identifier, 0 for none.
	ID uint32
	// Account is the subscriber's account with token authentication, 0
	// without: shared groups of one name in two accounts are two groups.
	Account uint64
	// Cond is a delivery condition the broker checks per message (flespi
	// cid and $filter subscriptions); nil for none. The index never looks
	// at it.
	Cond any
}

// ParseShared splits "$share/group/filter" into group and the filter the
// trie matches on; for any other filter the group is "". Sticky forms
// "group:from:count" are kept whole in group ([SharedGroup] reads them). A
// flespi "$filter/params/filter" gives the filter after its parameters.
// topic is [packet.InnerFilter] of filter ("" when that is malformed, which
// packet.ValidateFilter refuses before a filter gets here).
func ParseShared(filter string) (group, topic string) {
	group, _, _ = packet.CutShare(filter)
	topic, _ = packet.InnerFilter(filter)
	return group, topic
}
