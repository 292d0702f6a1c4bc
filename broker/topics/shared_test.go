package topics

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
)

// member is a test subscriber whose online state can change.
type member struct {
	id     string
	online atomic.Bool
}

func (m *member) SubscriberID() string { return m.id }
func (m *member) Online() bool         { return m.online.Load() }

func newMember(id string) *member {
	m := &member{id: id}
	m.online.Store(true)
	return m
}

func join(x *Index, m *member, filter string) {
	g, t := ParseShared(filter)
	x.Add(&Subscription{Subscriber: m, Filter: filter, Topic: t, Group: g})
}

// route sends each topic once, in a shuffled order, and returns who got it.
func route(t *testing.T, x *Index, topics []string, rng *rand.Rand) map[string]string {
	t.Helper()
	got := map[string]string{}
	for _, i := range rng.Perm(len(topics)) {
		n := 0
		x.Match(topics[i], func(s *Subscription) {
			n++
			got[topics[i]] = s.Subscriber.SubscriberID()
		})
		if n != 1 {
			t.Fatalf("%s delivered to %d members of the group", topics[i], n)
		}
	}
	return got
}

func TestStickyGroup(t *testing.T) {
	x := NewIndex()
	const filter = "$share/g:1:1/dev/+/data"
	m1, m2, m3 := newMember("m1"), newMember("m2"), newMember("m3")
	for _, m := range []*member{m1, m2, m3} {
		join(x, m, filter)
	}
	var topics []string
	for i := range 300 {
		topics = append(topics, fmt.Sprintf("dev/%d/data", i))
	}
	rng := rand.New(rand.NewPCG(1, 2))

	first := route(t, x, topics, rng)
	load := map[string]int{}
	for _, who := range first {
		load[who]++
	}
	for _, m := range []string{"m1", "m2", "m3"} {
		if load[m] < 50 { // 100 each on average
			t.Fatalf("fingerprints not spread: %v", load)
		}
	}
	// Shuffled traffic keeps every fingerprint on its member.
	for round := range 5 {
		again := route(t, x, topics, rng)
		for tp, who := range again {
			if first[tp] != who {
				t.Fatalf("round %d: %s moved from %s to %s", round, tp, first[tp], who)
			}
		}
	}
	// A member joining takes exactly the fingerprints it wins by
	// rendezvous, about a quarter of them, and nothing else moves.
	m4 := newMember("m4")
	join(x, m4, filter)
	joined := route(t, x, topics, rng)
	moved := 0
	for tp, who := range joined {
		switch {
		case who == first[tp]:
		case who == "m4":
			moved++
		default:
			t.Fatalf("after m4 joined: %s moved from %s to %s, not to the new member", tp, first[tp], who)
		}
	}
	if moved < 40 || moved > 120 { // 75 on average
		t.Fatalf("m4 took %d of 300 fingerprints, want about a quarter", moved)
	}
	first = joined
	// A member leaving: only its fingerprints move, to the others.
	if !x.Remove(m2, filter) {
		t.Fatal("remove m2")
	}
	after := route(t, x, topics, rng)
	for tp, who := range after {
		switch {
		case first[tp] == "m2" && who == "m2":
			t.Fatalf("%s still goes to m2, which left", tp)
		case first[tp] != "m2" && who != first[tp]:
			t.Fatalf("%s moved from %s to %s though its member stayed", tp, first[tp], who)
		}
	}
	// A member going offline loses its fingerprints to online members.
	m3.online.Store(false)
	for tp, who := range route(t, x, topics, rng) {
		if who == "m3" {
			t.Fatalf("%s delivered to offline m3 while others are online", tp)
		}
		if after[tp] != "m3" && who != after[tp] {
			t.Fatalf("%s moved from %s to %s", tp, after[tp], who)
		}
	}
	// Back online, m3 takes back exactly what it wins: the state before.
	m3.online.Store(true)
	for tp, who := range route(t, x, topics, rng) {
		if who != after[tp] {
			t.Fatalf("m3 back: %s went to %s, was %s before m3 left", tp, who, after[tp])
		}
	}
	// Nobody online: messages still go to a member, whose persistent
	// session stores them.
	for _, m := range []*member{m1, m3, m4} {
		m.online.Store(false)
	}
	if got := route(t, x, topics[:10], rng); len(got) != 10 {
		t.Fatalf("messages dropped while no member is online: %v", got)
	}
}

func TestStickyGroupForms(t *testing.T) {
	for _, tc := range []struct {
		name        string
		sticky      bool
		from, count int
	}{{"g", false, 0, 0}, {"g:2", true, 0, 2}, {"g:1:3", true, 1, 3}, {"g:x", false, 0, 0}, {"a:b:c", false, 0, 0}} {
		g := newSharedGroup(tc.name)
		if s, f, c := g.Sticky(); s != tc.sticky || (s && (f != tc.from || c != tc.count)) {
			t.Errorf("%s: sticky=%t from=%d count=%d", tc.name, s, f, c)
		}
	}
	// "g:2" fingerprints the first two words: a/b/x and a/b/y go together.
	x := NewIndex()
	for _, id := range []string{"m1", "m2", "m3", "m4"} {
		join(x, newMember(id), "$share/g:2/#")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for p := range 20 {
		var tps []string
		for s := range 10 {
			tps = append(tps, fmt.Sprintf("p%d/q/%d", p, s))
		}
		got := route(t, x, tps, rng)
		for _, tp := range tps {
			if got[tp] != got[tps[0]] {
				t.Fatalf("same fingerprint, two members: %v", got)
			}
		}
	}
}

// BenchmarkSharedPick compares a sticky group's pick with round robin.
func BenchmarkSharedPick(b *testing.B) {
	for _, name := range []string{"rr", "sticky:1:1"} {
		b.Run(name, func(b *testing.B) {
			x := NewIndex()
			for i := range 8 {
				join(x, newMember(fmt.Sprint("m", i)), "$share/"+name+"/dev/+/data")
			}
			var tps []string
			for i := range 1000 {
				tps = append(tps, fmt.Sprintf("dev/%d/data", i))
			}
			fn := func(*Subscription) {}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				x.Match(tps[i%len(tps)], fn)
				i++
			}
		})
	}
}
