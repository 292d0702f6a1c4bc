package conn

import (
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/client"
	"github.com/mqttboard/mqttboard/profiles"
)

// TestSubscriptionCounts is issue #10's item 5: the board's own matcher
// split "a,b" selectors at the comma over the whole filter and gave up on
// $filter, so those subscriptions counted 0 while messages arrived. Counts
// now come from packet.MatchFilter, the broker's matcher.
func TestSubscriptionCounts(t *testing.T) {
	c := New(1, 0, "", profiles.Profile{})
	want := map[string]uint64{
		"$filter/cid=1/a/+":  2, // a/b, a/c
		"$share/g/a/#":       3,
		"$share/g:1:2/a/b":   1,
		"$share/g:2/+/c":     2, // a/c, x/c
		"a,x/c":              2, // per level: a/c and x/c
		"a/b,c":              2,
		"$filter/x=%2F1/x/#": 1,
		"#":                  4,
		"nothing/here":       0,
	}
	for f := range want {
		c.Subs = append(c.Subs, &Subscription{Subscription: profiles.Subscription{Filter: f}})
	}
	for _, topic := range []string{"a/b", "a/c", "x/c", "a"} {
		e := &client.MessageEvent{Time: time.Now()}
		e.Topic = topic
		c.Push(e)
	}
	c.Drain()
	for _, s := range c.Subs {
		if s.Count != want[s.Filter] {
			t.Errorf("%s counted %d, want %d", s.Filter, s.Count, want[s.Filter])
		}
	}
}
