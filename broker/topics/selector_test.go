package topics

import (
	"slices"
	"strings"
	"testing"
)

func TestSelectors(t *testing.T) {
	x := NewIndex()
	for _, f := range []string{"t/a,b/e,f/x", "t/b,a/#", "$share/g/t/a,b/+/x", "s/one,two", "u/,x"} {
		add(x, "c1", f)
	}
	tests := []struct {
		topic string
		want  []string
	}{
		{"t/a/e/x", []string{"c1 $share/g/t/a,b/+/x", "c1 t/a,b/e,f/x", "c1 t/b,a/#"}},
		{"t/b/f/x", []string{"c1 $share/g/t/a,b/+/x", "c1 t/a,b/e,f/x", "c1 t/b,a/#"}},
		{"t/c/e/x", nil}, // a neighbour word is not selected
		{"t/a/g/x", []string{"c1 $share/g/t/a,b/+/x", "c1 t/b,a/#"}}, // the second selector of t/a,b/e,f/x refuses g
		{"t/ab/e/x", nil},                   // words match whole, not by prefix
		{"t/a,b/e/x", nil},                  // a topic level with a comma is just a word
		{"s/two", []string{"c1 s/one,two"}}, //
		{"s/three", nil},                    //
		{"u/", []string{"c1 u/,x"}},         // an empty word selects an empty level
		{"u/x", []string{"c1 u/,x"}},        //
	}
	for _, tt := range tests {
		if got := matches(x, tt.topic); !slices.Equal(got, tt.want) {
			t.Errorf("Match(%q) = %q, want %q", tt.topic, got, tt.want)
		}
	}
	// "t/b,a/#" and "t/a,b/..." share the canonical slot; removing one
	// keeps the other working.
	if !x.Remove(who("c1"), "t/b,a/#") {
		t.Fatal("remove t/b,a/#")
	}
	if got := matches(x, "t/a/e/x"); !slices.Equal(got, []string{"c1 $share/g/t/a,b/+/x", "c1 t/a,b/e,f/x"}) {
		t.Fatalf("after remove: %q", got)
	}
	for _, f := range []string{"t/a,b/e,f/x", "$share/g/t/a,b/+/x", "s/one,two", "u/,x"} {
		if !x.Remove(who("c1"), f) {
			t.Fatalf("remove %s", f)
		}
	}
	if !x.root.empty() {
		t.Fatal("trie not pruned after removing every selector subscription")
	}
}

func TestLevelMatches(t *testing.T) {
	for _, tc := range []struct {
		level, word string
		want        bool
	}{{"+", "x", true}, {"a,b", "b", true}, {"a,b", "c", false}, {"a", "a", true}, {"a", "b", false}, {"a,b", "a,b", false}} {
		if got := LevelMatches(tc.level, tc.word); got != tc.want {
			t.Errorf("LevelMatches(%q, %q) = %t", tc.level, tc.word, got)
		}
	}
}

// BenchmarkSelectorVsPlus compares matching through a selector level with
// the same trie walk through '+': selectors must cost what the walk costs.
func BenchmarkSelectorVsPlus(b *testing.B) {
	for _, tc := range []struct{ name, filter string }{
		{"plus", "devices/+/telemetry/+"},
		{"selector-2", "devices/d1,d7/telemetry/speed,rpm"},
		{"selector-16", "devices/" + words("d", 16) + "/telemetry/" + words("f", 16)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			x := NewIndex()
			add(x, "c1", tc.filter)
			n := 0
			fn := func(*Subscription) { n++ }
			b.ReportAllocs()
			for b.Loop() {
				x.Match("devices/d7/telemetry/rpm", fn)
			}
			if n == 0 {
				b.Fatal("no match")
			}
		})
	}
}

func words(prefix string, n int) string {
	var w []string
	for i := range n {
		w = append(w, prefix+string(rune('a'+i)))
	}
	w[n-1] = map[string]string{"d": "d7", "f": "rpm"}[prefix]
	return strings.Join(w, ",")
}
