package broker

import (
	"fmt"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/broker/message"
	"github.com/mqttboard/mqttboard/broker/session"
	"github.com/mqttboard/mqttboard/broker/topics"
	"github.com/mqttboard/mqttboard/packet"
)

// BenchmarkTokenACL is the per-message cost of an ACL token's check: a
// PUBLISH (or a checked delivery) against a token granting n filters, for
// a topic the last grant allows and one no grant allows.
func BenchmarkTokenACL(b *testing.B) {
	for _, n := range []int{1, 10, 100, 1000} {
		id := &Identity{Type: 2}
		for i := range n {
			id.Grants = append(id.Grants, Grant{Topic: fmt.Sprintf("fleet/%d/+/telemetry", i), Publish: true, Subscribe: true})
		}
		compiled := tokenACL(id)
		linear := &clientACL{rules: compiled.rules} // the rules one by one, as before the trie
		for _, c := range []struct{ name, topic string }{
			{"allowed", fmt.Sprintf("fleet/%d/truck/telemetry", n-1)},
			{"denied", "other/1/truck/telemetry"},
		} {
			for _, acl := range []*clientACL{compiled, linear} {
				kind := "as-built"
				if acl == linear {
					kind = "linear"
				}
				b.Run(fmt.Sprintf("grants=%d/%s/%s", n, c.name, kind), func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						if acl.publish(c.topic) != (c.name == "allowed") {
							b.Fatal("wrong decision")
						}
					}
				})
			}
		}
	}
}

// TestACLTrieAgrees: the trie of many rules decides every topic as trying
// the rules one by one does (first matching rule, '$' topics, selectors,
// '+' and '#').
func TestACLTrieAgrees(t *testing.T) {
	words := []string{"a", "b", "$SYS", "c,d", "+", "#"}
	var filters []string
	for _, w1 := range words {
		for _, w2 := range words[:5] {
			filters = append(filters, w1, w1+"/"+w2, w1+"/"+w2+"/#")
		}
	}
	var rules []clientRule
	for i, f := range filters {
		if packet.ValidateFilter(f) != nil {
			continue
		}
		rules = append(rules, clientRule{pub: i%3 != 0, sub: i%3 != 1, allow: i%2 == 0, topics: []string{f}})
	}
	linear := &clientACL{rules: rules}
	trie := (&clientACL{rules: rules}).index()
	if trie.trie == nil {
		t.Fatal("no trie for many rules")
	}
	levels := []string{"a", "b", "c", "d", "e", "$SYS"}
	n := 0
	for _, l1 := range levels {
		for _, l2 := range append(levels, "") {
			for _, l3 := range []string{"", "x"} {
				topic := l1
				if l2 != "" {
					topic += "/" + l2
					if l3 != "" {
						topic += "/" + l3
					}
				}
				for _, pub := range []bool{true, false} {
					n++
					if linear.topicAllowed(pub, topic) != trie.topicAllowed(pub, topic) {
						t.Errorf("%q pub=%v: linear %v, trie %v", topic, pub, linear.topicAllowed(pub, topic), trie.topicAllowed(pub, topic))
					}
				}
			}
		}
	}
	if n < 100 {
		t.Fatalf("only %d cases", n)
	}
}

// treeAuth is an Authenticator for benchmarks: account 2 is a child of 1.
type treeAuth struct{}

func (treeAuth) Authenticate(string, []byte, bool) (*Identity, packet.ReasonCode, string) {
	return nil, packet.NotAuthorized, ""
}
func (treeAuth) Acquire(uint64)             {}
func (treeAuth) Release(uint64)             {}
func (treeAuth) Watch(func(uint64, string)) {}
func (treeAuth) Sees(viewer, owner uint64) bool {
	return viewer == owner || (viewer == 1 && owner == 2)
}

// BenchmarkRouteAccounts is BenchmarkRoute's 100 QoS 1 subscribers with
// token authentication: each delivery checks the subscriber's account
// against the message's, the same account (own) or the parent's view of a
// child's message (parent, which asks the Authenticator).
func BenchmarkRouteAccounts(b *testing.B) {
	for _, c := range []struct {
		name   string
		viewer uint64
	}{{"own", 2}, {"parent", 1}} {
		b.Run(c.name+"/subs=100", func(b *testing.B) {
			s := New(Options{Auth: treeAuth{}})
			sessions := make([]*session.Session, 100)
			for i := range sessions {
				sess := session.New(fmt.Sprint("s", i), uint64(i+1), session.Limits{MaxQueueBytes: 1 << 30, MaxInflightBytes: 1 << 30})
				sess.Attach(nopConn{})
				sub := &topics.Subscription{Subscriber: sess, Filter: "#", Topic: "#", QoS: 1, Account: c.viewer,
					Cond: &condition{auth: treeAuth{}, viewer: c.viewer}}
				s.index.Add(sub)
				sessions[i] = sess
			}
			m := &message.Message{Topic: "bench/room/temp", Payload: make([]byte, 64), CID: 2}
			var r router
			out := make([]session.Outgoing, 0, 64)
			now := time.Now()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if s.route(m, &r) != 100 {
					b.Fatal("not delivered to every subscriber")
				}
				if i%32 == 31 {
					b.StopTimer()
					for _, sess := range sessions {
						for more := true; more; {
							out, more = sess.Take(out[:0], 64, 65535, now)
						}
					}
					b.StartTimer()
				}
			}
		})
	}
}
