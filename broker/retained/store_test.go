package retained

import (
	"slices"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/broker/message"
)

func topicsOf(s *Store, filter string) []string {
	var got []string
	s.Match(filter, time.Now(), func(m *message.Message) { got = append(got, m.Topic) })
	slices.Sort(got)
	return got
}

func TestStore(t *testing.T) {
	s := New()
	for _, tp := range []string{"a", "a/b", "a/b/c", "x/b", "$SYS/up"} {
		s.Set(&message.Message{Topic: tp, Payload: []byte("1")})
	}
	s.Set(&message.Message{Topic: "gone", Payload: []byte("1"), Expires: time.Now().Add(-time.Second)})
	tests := map[string][]string{
		"#":       {"a", "a/b", "a/b/c", "x/b"},
		"a/#":     {"a", "a/b", "a/b/c"},
		"+/b":     {"a/b", "x/b"},
		"$SYS/#":  {"$SYS/up"},
		"+":       {"a"},
		"a/b":     {"a/b"},
		"nothing": nil,
		// flespi topic selectors: the listed words only
		"a,x/b":   {"a/b", "x/b"},
		"x,y/b":   {"x/b"},
		"+/b,c":   {"a/b", "x/b"},
		"a/b,z/#": {"a/b", "a/b/c"},
	}
	for f, want := range tests {
		if got := topicsOf(s, f); !slices.Equal(got, want) {
			t.Errorf("Match(%q) = %q, want %q", f, got, want)
		}
	}
	s.Set(&message.Message{Topic: "a/b"}) // empty payload deletes
	if got := topicsOf(s, "a/#"); !slices.Equal(got, []string{"a", "a/b/c"}) {
		t.Errorf("after delete: %q", got)
	}
	if n := s.Sweep(time.Now()); n != 1 {
		t.Errorf("Sweep removed %d, want 1", n)
	}
	if s.Len() != 4 {
		t.Errorf("Len = %d, want 4", s.Len())
	}
}

// TestMatchAsOf: a lookup at a version leaves out what SetLive retained
// after it (those messages were routed to the new subscription), keeps
// what Set retained whenever (recovered or caught up: nobody received it),
// and a message replaced live after the version is left out too (its
// replacement went out live).
func TestMatchAsOf(t *testing.T) {
	s := New()
	s.SetLive(&message.Message{Topic: "a/old", Payload: []byte("1")})
	s.Set(&message.Message{Topic: "a/restored", Payload: []byte("1")})
	s.SetLive(&message.Message{Topic: "a/replaced", Payload: []byte("1")})
	v := s.Version()
	if v != 2 {
		t.Fatalf("Version = %d after two SetLive, want 2", v)
	}
	s.SetLive(&message.Message{Topic: "a/new", Payload: []byte("1")})
	s.SetLive(&message.Message{Topic: "a/replaced", Payload: []byte("2")})
	s.Set(&message.Message{Topic: "a/late-restored", Payload: []byte("1")})
	var got []string
	s.MatchAsOf("a/#", time.Now(), v, func(m *message.Message) { got = append(got, m.Topic) })
	slices.Sort(got)
	if want := []string{"a/late-restored", "a/old", "a/restored"}; !slices.Equal(got, want) {
		t.Fatalf("MatchAsOf(%d) = %q, want %q", v, got, want)
	}
	if got := topicsOf(s, "a/#"); len(got) != 5 {
		t.Fatalf("Match = %q, want all five", got)
	}
}
