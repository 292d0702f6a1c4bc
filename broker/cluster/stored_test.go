package cluster

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/broker/storage"
	"github.com/nats-io/nats-server/v2/server/gsl"
)

// TestAwaitAnswersLostNodeFailsOnlyItsTopics drives awaitAnswers with a
// batch on two topics, peers "a" and "b", and "b" lost (before the wait
// or while it waits) with an interest that may match only "load/#":
// only the batch's messages that b's sessions could receive get their
// error at once; the others wait for a's answer alone and succeed (the
// whole batch failed before). When every message matches, or b's
// interest is unknown (nil topics), it returns at once with an error.
func TestAwaitAnswersLostNodeFailsOnlyItsTopics(t *testing.T) {
	batch := []awaiting{{topic: "load/p1"}, {topic: "kept/p2"}, {topic: "load/p3"}, {topic: "kept/p4"}}
	for _, c := range []struct {
		name    string
		filters []string // b's interest; nil: unknown
		during  bool     // b is lost while awaitAnswers waits, not before
		want    []bool   // errs[i] set
		err     bool     // returns an error at once, without a's answer
	}{
		{"some match", []string{"load/#"}, false, []bool{true, false, true, false}, false},
		{"some match, lost while waiting", []string{"load/#"}, true, []bool{true, false, true, false}, false},
		{"none match", []string{"other/+"}, false, []bool{false, false, false, false}, false},
		{"every one matches", []string{"load/#", "kept/+"}, false, []bool{true, true, true, true}, true},
		{"every one matches, lost while waiting", []string{"#"}, true, []bool{true, true, true, true}, true},
		{"interest unknown", nil, false, []bool{true, true, true, true}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var topics *gsl.SimpleSublist
			if c.filters != nil {
				topics = gsl.NewSimpleSublist() // as lostTopics builds it
				for _, f := range c.filters {
					for _, s := range filterSubjects("m.", f) {
						topics.Insert(s, struct{}{})
					}
				}
			}
			n := &Node{closed: make(chan struct{})}
			n.fo.lost = make(map[string]lostNode)
			n.fo.lostCh = make(chan struct{})
			lose := func() { // as noteMembers does
				n.mu.Lock()
				n.fo.lost["b"] = lostNode{since: time.Now(), topics: topics}
				close(n.fo.lostCh)
				n.fo.lostCh = make(chan struct{})
				n.mu.Unlock()
			}
			lost := n.fo.lostCh // as confirm takes it
			if !c.during {
				lose()
			}
			ch := make(chan countAnswer, 2)
			errs := make([]error, len(batch))
			done := make(chan error, 1)
			start := time.Now()
			go func() { done <- n.awaitAnswers(ch, []string{"a", "b"}, batch, errs, lost) }()
			if c.during {
				lose()
			}
			var err error
			if c.err {
				select {
				case err = <-done:
				case <-time.After(commitTimeout / 2):
					t.Fatalf("awaitAnswers still waits after %v; want an error at once", time.Since(start))
				}
				if !errors.Is(err, storage.ErrWrite) || !strings.Contains(err.Error(), "node b,") {
					t.Errorf("awaitAnswers = %v; want a storage.ErrWrite naming node b", err)
				}
			} else {
				select {
				case err = <-done:
					t.Fatalf("awaitAnswers = %v before a answered; want it to wait for a", err)
				case <-time.After(50 * time.Millisecond):
				}
				ch <- countAnswer{node: "a"}
				select {
				case err = <-done:
				case <-time.After(commitTimeout / 2):
					t.Fatalf("awaitAnswers still waits %v after a answered", time.Since(start))
				}
				if err != nil {
					t.Errorf("awaitAnswers = %v after a answered; want nil", err)
				}
			}
			for i, a := range batch {
				if got := errs[i] != nil; got != c.want[i] {
					t.Errorf("errs[%d] (%s) = %v; want set: %v", i, a.topic, errs[i], c.want[i])
				} else if got && !errors.Is(errs[i], storage.ErrWrite) {
					t.Errorf("errs[%d] (%s) = %v; want a storage.ErrWrite", i, a.topic, errs[i])
				}
			}
		})
	}
}
