package topics

import (
	"slices"
	"strings"
	"testing"
)

type who string

func (w who) SubscriberID() string { return string(w) }
func (w who) Online() bool         { return true }

func add(x *Index, id, filter string) *Subscription {
	g, t := ParseShared(filter)
	s := &Subscription{Subscriber: who(id), Filter: filter, Topic: t, Group: g}
	x.Add(s)
	return s
}

func matches(x *Index, topic string) []string {
	var got []string
	x.Match(topic, func(s *Subscription) { got = append(got, string(s.Subscriber.(who))+" "+s.Filter) })
	slices.Sort(got)
	return got
}

func TestMatch(t *testing.T) {
	x := NewIndex()
	for _, f := range []string{"a/b/c", "a/+/c", "a/#", "#", "+/b/#", "+", "$SYS/#", "+/monitor", "a/b/c/#"} {
		add(x, "c1", f)
	}
	tests := []struct {
		topic string
		want  []string
	}{
		{"a/b/c", []string{"c1 #", "c1 +/b/#", "c1 a/#", "c1 a/+/c", "c1 a/b/c", "c1 a/b/c/#"}},
		{"a", []string{"c1 #", "c1 +", "c1 a/#"}},
		{"x/b", []string{"c1 #", "c1 +/b/#"}},
		{"$SYS/uptime", []string{"c1 $SYS/#"}},
		{"$SYS/monitor", []string{"c1 $SYS/#"}}, // '+' first does not match '$' [MQTT-4.7.2-1]
		{"/monitor", []string{"c1 #", "c1 +/monitor"}},
	}
	for _, tt := range tests {
		if got := matches(x, tt.topic); !slices.Equal(got, tt.want) {
			t.Errorf("Match(%q) = %q, want %q", tt.topic, got, tt.want)
		}
	}
}

func TestRemovePrunes(t *testing.T) {
	x := NewIndex()
	add(x, "c1", "a/b/c")
	add(x, "c2", "a/b/c")
	add(x, "c1", "$share/g/a/+/c")
	if x.Len() != 3 {
		t.Fatalf("Len = %d", x.Len())
	}
	if x.Remove(who("c1"), "a/b") {
		t.Fatal("removed a filter never added")
	}
	if !x.Remove(who("c1"), "a/b/c") || !x.Remove(who("c2"), "a/b/c") || !x.Remove(who("c1"), "$share/g/a/+/c") {
		t.Fatal("remove failed")
	}
	if !x.root.empty() || x.Len() != 0 {
		t.Fatalf("trie not pruned: %+v", x.root)
	}
}

func TestSharedRoundRobin(t *testing.T) {
	x := NewIndex()
	add(x, "c1", "$share/g/t/#")
	add(x, "c2", "$share/g/t/#")
	add(x, "c3", "t/#")
	counts := map[string]int{}
	for range 10 {
		x.Match("t/x", func(s *Subscription) { counts[s.Subscriber.SubscriberID()]++ })
	}
	if counts["c1"] != 5 || counts["c2"] != 5 || counts["c3"] != 10 {
		t.Fatalf("distribution %v", counts)
	}
}

func TestReplace(t *testing.T) {
	x := NewIndex()
	add(x, "c1", "a")
	s := &Subscription{Subscriber: who("c1"), Filter: "a", Topic: "a"}
	if x.Add(s) == nil {
		t.Fatal("re-subscribe not reported as replace")
	}
	if x.Len() != 1 {
		t.Fatalf("Len = %d, want 1", x.Len())
	}
}

func TestTooDeep(t *testing.T) {
	x := NewIndex()
	var l Levels
	deep := "a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y"
	if Split(deep, &l) {
		t.Fatal("25 levels accepted")
	}
	if x.Match(deep, func(*Subscription) {}) {
		t.Fatal("Match accepted 25 levels")
	}
}

func BenchmarkMatch(b *testing.B) {
	x := NewIndex()
	for i := range 100 {
		add(x, string(rune('a'+i%26))+string(rune('0'+i/26)), "sensors/+/temp")
	}
	add(x, "z", "sensors/#")
	b.ReportAllocs()
	n := 0
	fn := func(*Subscription) { n++ }
	for b.Loop() {
		x.Match("sensors/room1/temp", fn)
	}
}

// TestWatch: the watcher sees each subscription added and removed once,
// shared members included, and not a re-subscription that replaces one.
func TestWatch(t *testing.T) {
	x := NewIndex()
	var log []string
	x.Watch(func(s *Subscription, added bool) {
		op := "-"
		if added {
			op = "+"
		}
		log = append(log, op+string(s.Subscriber.(who))+" "+s.Topic)
	})
	add(x, "c1", "a/+")
	add(x, "c1", "a/+") // replaces: no change of interest
	add(x, "c2", "$share/g/b/#")
	x.Remove(who("c1"), "a/+")
	x.Remove(who("c1"), "a/+") // gone already
	x.Remove(who("c2"), "$share/g/b/#")
	want := []string{"+c1 a/+", "+c2 b/#", "-c1 a/+", "-c2 b/#"}
	if strings.Join(log, ",") != strings.Join(want, ",") {
		t.Fatalf("watched %q, want %q", log, want)
	}
}

func TestHasFirstLevel(t *testing.T) {
	x := NewIndex()
	for _, f := range []string{"#", "+/log", "a/b", "$share/g/other/#"} {
		add(x, "c1", f)
	}
	if x.HasFirstLevel("flespi") {
		t.Fatal("flespi found without a filter beginning with it")
	}
	for _, f := range []string{"flespi/log/#", "$share/g/flespi/+", "x,flespi/#"} {
		add(x, "c2", f)
		if !x.HasFirstLevel("flespi") {
			t.Fatalf("flespi not found with %q", f)
		}
		x.Remove(who("c2"), f)
		if x.HasFirstLevel("flespi") {
			t.Fatalf("flespi found after removing %q", f)
		}
	}
}
