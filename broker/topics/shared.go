package topics

import (
	"strconv"
	"strings"
	"sync/atomic"
)

// SharedGroup is the members of one "$share/name/filter" subscription
// [MQTT-4.8.2]. A message matching the filter goes to one member.
//
// A plain group distributes round robin over online members. A sticky group
// (flespi's "$share/name:from:count/filter", or "name:count" for from = 0)
// takes count words of the topic starting at word from as the message's
// fingerprint and sends every message with the same fingerprint to the same
// member: the online member that wins the fingerprint by rendezvous
// (highest random weight) hashing. That makes moves minimal and
// predictable:
//
//   - while the group's online members stay the same, no fingerprint moves;
//   - a member that joins (or comes back online) takes exactly the
//     fingerprints it now wins, from whoever had them (flespi: a new worker
//     "can pull some publishers from old workers"), about 1/n of them;
//   - a member that leaves (unsubscribes, or goes offline) hands each of its
//     fingerprints to that fingerprint's next winner; nobody else's move.
//
// When no member is online a message goes to a member anyway (the
// rendezvous winner among all of them), so a persistent session stores it
// until it comes back (flespi's "shared group sessions storage"): nothing
// is lost for lack of a live member.
type SharedGroup struct {
	Name    string
	members []*Subscription // copy-on-write under the index lock
	weights []uint64        // hash of each member's client id, same order
	next    atomic.Uint32

	sticky      bool
	from, count int
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
	if g.sticky && g.count == 0 {
		g.count = MaxLevels // ":0": the whole topic from `from`
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

// pickSticky returns the member a fingerprint goes to: the online member
// with the highest mix(fingerprint ^ hash(client id)), or the highest of
// all members when none is online. It takes no lock and allocates nothing.
func (g *SharedGroup) pickSticky(fp uint64) *Subscription {
	best := -1
	var bestScore uint64
	for pass := 0; pass < 2 && best < 0; pass++ {
		for i, s := range g.members {
			if pass == 0 && !s.Subscriber.Online() {
				continue
			}
			if score := mix(fp ^ g.weights[i]); best < 0 || score > bestScore {
				best, bestScore = i, score
			}
		}
	}
	return g.members[best]
}

// setMembers replaces the member list (under the index's write lock).
func (g *SharedGroup) setMembers(m []*Subscription) {
	w := make([]uint64, len(m))
	for i, s := range m {
		w[i] = hashString(s.Subscriber.SubscriberID())
	}
	g.members, g.weights = m, w
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
