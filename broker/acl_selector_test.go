package broker

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/mqttboard/mqttboard/broker/topics"
	"github.com/mqttboard/mqttboard/packet"
)

func levelsOf(f string) []string {
	var l topics.Levels
	topics.Split(f, &l)
	return append([]string(nil), l.Slice()...)
}

func TestACLFiltersWithSelectors(t *testing.T) {
	for _, tc := range []struct {
		f, t string
		want bool
	}{{"t/a,b/x", "t/a/x", true}, {"t/a,b/x", "t/c/x", false}, {"+/a,b", "$SYS/a", false}, {"t/+/x", "t/z/x", true}} {
		if got := packet.MatchTopic(tc.f, tc.t); got != tc.want {
			t.Errorf("packet.MatchTopic(%q, %q) = %t", tc.f, tc.t, got)
		}
	}
	for _, tc := range []struct {
		f, sub string
		want   bool
	}{
		{"t/+", "t/a,b", true}, {"t/a,b,c", "t/a,b", true}, {"t/a,b", "t/a,b,c", false},
		{"t/a", "t/a,b", false}, {"t/a,b", "t/+", false}, {"t/a,b", "t/b", true}, {"#", "t/a,b/#", true},
		{"#", "$SYS/#", false}, {"+/x", "$a,b/x", false}, {"a/#", "a", true}, {"a/+", "a/#", false},
		{"secret/#", "#", false}, {"#", "#", true},
	} {
		if got := coversLevels(tc.f, levelsOf(tc.sub)); got != tc.want {
			t.Errorf("coversLevels(%q, %q) = %t", tc.f, tc.sub, got)
		}
	}
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"t/a,b", "t/b,c", true}, {"t/a,b", "t/c,d", false}, {"t/a,b", "t/+", true}, {"t/a,b", "t/a", true},
		{"t/a,b", "t/c", false}, {"$SYS/#", "#", false}, {"#", "$a,b/x", true}, {"#", "$a,$b/x", false},
	} {
		if got := overlapsLevels(tc.a, levelsOf(tc.b)); got != tc.want {
			t.Errorf("overlapsLevels(%q, %q) = %t", tc.a, tc.b, got)
		}
	}
}

// TestACLSubscribeDecisions is the table of item 10: SUBSCRIBE is decided
// on the filter as written.
func TestACLSubscribeDecisions(t *testing.T) {
	a := &ACL{Default: "deny", Rules: []ACLRule{
		{Action: "subscribe", Allow: false, Topics: []string{"secret/#"}},
		{Action: "subscribe", Allow: true, Topics: []string{"#"}},
	}}
	c := a.forClient("u", "c")
	for _, tc := range []struct {
		filter string
		want   bool
		check  bool // deliveries checked one by one
	}{
		{"#", true, true}, {"+/x", true, true}, {"data/#", true, false}, {"secret/x", false, true},
		{"secret/#", false, true}, {"secret/+", false, true}, {"a,secret/x", false, true}, {"a,b/x", true, false},
		{"$SYS/#", false, true},
	} {
		if got := c.subscribe(tc.filter); got != tc.want {
			t.Errorf("subscribe(%q) = %t, want %t", tc.filter, got, tc.want)
		}
		if got := c.readChecked(tc.filter); got != tc.check {
			t.Errorf("readChecked(%q) = %t, want %t", tc.filter, got, tc.check)
		}
	}
	for topic, want := range map[string]bool{"secret/x": false, "public/x": true, "secret": false, "$SYS/x": false} {
		if got := c.read(topic); got != want {
			t.Errorf("read(%q) = %t, want %t", topic, got, want)
		}
	}
	// Selectors: every alternative decides.
	b := &ACL{Default: "deny", Rules: []ACLRule{
		{Action: "subscribe", Allow: true, Topics: []string{"t/a"}},
		{Action: "subscribe", Allow: true, Topics: []string{"t/b"}},
	}}
	if cb := b.forClient("u", "c"); !cb.subscribe("t/a,b") || cb.subscribe("t/a,c") {
		t.Error("selector alternatives are not decided one by one")
	}
	// %u and %c substitute only names that cannot widen a filter.
	p := &ACL{Default: "deny", Rules: []ACLRule{{Action: "all", Allow: true, Topics: []string{"u/%u/#"}}}}
	if !p.forClient("joe", "c").publish("u/joe/x") || p.forClient("#", "c").publish("u/x/y") || p.forClient("", "c").publish("u//x") {
		t.Error("%u substitution")
	}
}

// TestACLRelationsSound checks coversLevels, overlapsLevels and readChecked
// against the matcher on every topic of a small alphabet: covers means
// every topic of sub matches f, no overlap means none matches both, and an
// unchecked subscription never receives a topic read refuses.
func TestACLRelationsSound(t *testing.T) {
	words := []string{"a", "b", "$x", ""}
	var all []string
	var gen func(prefix string, depth int)
	gen = func(prefix string, depth int) {
		for _, w := range words {
			tp := w
			if depth > 0 {
				tp = prefix + "/" + w
			}
			all = append(all, tp)
			if depth < 2 {
				gen(tp, depth+1)
			}
		}
	}
	gen("", 0)
	filterWords := []string{"a", "b", "$x", "", "+", "#", "a,b", "b,$x", "a,"}
	r := rand.New(rand.NewPCG(5, 6))
	randFilter := func() string {
		lv := make([]string, 1+r.IntN(3))
		for i := range lv {
			lv[i] = filterWords[r.IntN(len(filterWords))]
		}
		return strings.Join(lv, "/")
	}
	checked := 0
	for range 4000 {
		f, s := randFilter(), randFilter()
		if packet.ValidateFilter(f) != nil || packet.ValidateFilter(s) != nil {
			continue
		}
		checked++
		sl := levelsOf(s)
		cov, ovl := coversLevels(f, sl), overlapsLevels(f, sl)
		for _, tp := range all {
			inS, inF := packet.MatchTopic(s, tp), packet.MatchTopic(f, tp)
			if cov && inS && !inF {
				t.Fatalf("coversLevels(%q, %q) but %q matches only the second", f, s, tp)
			}
			if !ovl && inS && inF {
				t.Fatalf("!overlapsLevels(%q, %q) but both match %q", f, s, tp)
			}
		}
		c := (&ACL{Default: []string{"allow", "deny"}[r.IntN(2)], Rules: []ACLRule{
			{Action: "subscribe", Allow: r.IntN(2) == 0, Topics: []string{f}},
			{Action: "subscribe", Allow: r.IntN(2) == 0, Topics: []string{randFilter()}},
		}}).forClient("u", "c")
		if packet.ValidateFilter(c.rules[1].topics[0]) != nil {
			continue
		}
		if !c.readChecked(s) {
			for _, tp := range all {
				if packet.MatchTopic(s, tp) && !c.read(tp) {
					t.Fatalf("rules %+v: %q unchecked but read(%q) refuses", c.rules, s, tp)
				}
			}
		}
	}
	if checked < 500 {
		t.Fatalf("only %d pairs checked", checked)
	}
}
