package topics

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// SharedGroup is the members of one "$share/name/filter" subscription
// [MQTT-4.8.2]. A message matching the filter goes to one member.
//
// A plain group distributes round robin over online members. A sticky group
// (flespi's "$share/name:from:count/filter", or "name:count" for from = 0)
// takes count words of the topic starting at word from as the message's
// fingerprint and sends every message with the same fingerprint to the same
// member while that member stays online; fingerprints are spread over the
// members by rendezvous hashing, and a member that leaves (unsubscribes or
// goes offline) loses its fingerprints to the others.
//
// When no member is online a message goes to a member anyway, so a
// persistent session stores it until it comes back (flespi's "shared group
// sessions storage"): nothing is lost for lack of a live member.
type SharedGroup struct {
	Name    string
	members []*Subscription // copy-on-write under the index lock
	next    atomic.Uint32

	sticky      bool
	from, count int

	mu     sync.Mutex
	assign map[uint64]Subscriber // fingerprint → member (sticky groups)
}

// newSharedGroup parses the group name: "name", "name:count" or
// "name:from:count".
func newSharedGroup(name string) *SharedGroup {
	g := &SharedGroup{Name: name}
	parts := strings.Split(name, ":")
	nums := make([]int, 0, 2)
	for _, p := range parts[1:] {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > MaxLevels {
			return g // not a sticky form: an ordinary share name
		}
		nums = append(nums, n)
	}
	switch len(nums) {
	case 1:
		g.sticky, g.count = true, nums[0]
	case 2:
		g.sticky, g.from, g.count = true, nums[0], nums[1]
	}
	if g.sticky {
		if g.count == 0 {
			g.count = MaxLevels // ":0": the whole topic from `from`
		}
		g.assign = make(map[uint64]Subscriber)
	}
	return g
}

// Sticky reports whether the group is sticky, and its word range.
func (g *SharedGroup) Sticky() (sticky bool, from, count int) { return g.sticky, g.from, g.count }

// Members returns the group's subscriptions; the slice must not be changed.
func (g *SharedGroup) Members() []*Subscription { return g.members }

// pick returns the member to deliver a message on topic levels lv to.
func (g *SharedGroup) pick(lv []string) *Subscription {
	n := len(g.members)
	if n == 0 {
		return nil
	}
	if g.sticky {
		return g.pickSticky(fingerprint(lv, g.from, g.count))
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

// pickSticky returns the member a fingerprint is pinned to, pinning it
// first when it is new or its member left.
func (g *SharedGroup) pickSticky(fp uint64) *Subscription {
	g.mu.Lock()
	defer g.mu.Unlock()
	if who, ok := g.assign[fp]; ok {
		for _, s := range g.members {
			if s.Subscriber == who && s.Subscriber.Online() {
				return s
			}
		}
	}
	// Rendezvous hashing: the online member with the highest
	// hash(fingerprint, member) wins, which spreads fingerprints evenly and
	// is stable for a given set of members.
	var best *Subscription
	var bestScore uint64
	for pass := 0; pass < 2 && best == nil; pass++ {
		for _, s := range g.members {
			if pass == 0 && !s.Subscriber.Online() {
				continue
			}
			if score := mix(fp ^ hashString(s.Subscriber.SubscriberID())); best == nil || score > bestScore {
				best, bestScore = s, score
			}
		}
	}
	if best.Subscriber.Online() {
		g.assign[fp] = best.Subscriber
	}
	return best
}

// forget drops the fingerprints pinned to a member that left the group.
func (g *SharedGroup) forget(who Subscriber) {
	if !g.sticky {
		return
	}
	g.mu.Lock()
	for fp, w := range g.assign {
		if w == who {
			delete(g.assign, fp)
		}
	}
	g.mu.Unlock()
}

// fingerprint hashes count words of lv starting at from (FNV-1a, with the
// separators hashed too, so "a/bc" and "ab/c" differ). It allocates nothing.
func fingerprint(lv []string, from, count int) uint64 {
	h := uint64(14695981039346656037)
	for i := from; i < len(lv) && i < from+count; i++ {
		for j := 0; j < len(lv[i]); j++ {
			h = (h ^ uint64(lv[i][j])) * 1099511628211
		}
		h = (h ^ '/') * 1099511628211
	}
	return h
}

func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return h
}

// mix is a 64-bit finaliser (splitmix64), so member scores for one
// fingerprint are independent.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}
