package storage

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

// opener makes a fresh store for one conformance case; reopen (nil for
// stores that keep nothing) closes it and opens the same data again.
type opener struct {
	open   func(t *testing.T) Store
	reopen func(t *testing.T, s Store) Store
}

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func sampleProps() Properties {
	return Properties{
		PayloadFormat:   1,
		ContentType:     "application/json",
		ResponseTopic:   "reply/to",
		CorrelationData: []byte{0, 1, 2},
		UserProperties:  []UserProperty{{"a", "1"}, {"a", "2"}, {"", ""}},
		SubscriptionIDs: []uint32{1, 268435455},
	}
}

func sampleSession(id string) Session {
	return Session{
		ClientID:       id,
		Protocol:       5,
		ExpiryInterval: 3600,
		DisconnectedAt: t0,
		Username:       "user-" + id,
		Account:        42,
		TokenID:        7,
		Will: &Will{Topic: "will/" + id, Payload: []byte("bye"), QoS: 1, Retain: true,
			DelayInterval: 30, Props: sampleProps()},
		Subscriptions: []Subscription{
			{Filter: "a/+/c", QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: 2, ID: 7},
			{Filter: "$share/g1/x/#", QoS: 1},
			{Filter: "$filter/payload=1/t,u", QoS: 0, RetainHandling: 1},
		},
	}
}

func sampleMessage(seq uint64, st MessageState) Message {
	return Message{Seq: seq, State: st, PacketID: uint16(seq), QoS: 2, Retain: seq%2 == 0,
		Topic: "a/b/c", Payload: []byte{byte(seq), 0, 255}, Props: sampleProps(),
		Created: t0.Add(time.Duration(seq) * time.Millisecond)}
}

func mustApply(t *testing.T, s Store, b *Batch) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Apply(b).Wait(ctx); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

func allSessions(t *testing.T, s Store) []Session {
	t.Helper()
	var out []Session
	if err := s.Sessions(func(ss Session) error { out = append(out, ss); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func allMessages(t *testing.T, s Store, id string) []Message {
	t.Helper()
	var out []Message
	if err := s.Messages(id, func(m Message) error { out = append(out, m); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func allRetained(t *testing.T, s Store) []Retained {
	t.Helper()
	var out []Retained
	if err := s.Retained(func(r Retained) error { out = append(out, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %#v\nwant %#v", what, got, want)
	}
}

// runConformance is the one suite every [Store] passes.
func runConformance(t *testing.T, o opener) {
	// maybeReopen checks that what was committed also survives a restart.
	maybeReopen := func(t *testing.T, s Store) Store {
		if o.reopen == nil {
			return s
		}
		return o.reopen(t, s)
	}

	t.Run("SessionsRoundTrip", func(t *testing.T) {
		s := o.open(t)
		var b Batch
		a, c := sampleSession("a"), sampleSession("c")
		c.Will = nil
		c.DisconnectedAt = time.Time{}
		c.Protocol = 4
		b.PutSession(c)
		b.PutSession(a)
		b.PutSession(sampleSession("gone"))
		b.DeleteSession("gone")
		b.MarkInbound("a", 9)
		b.MarkInbound("a", 2)
		b.MarkInbound("a", 5)
		b.ClearInbound("a", 5)
		mustApply(t, s, &b)
		s = maybeReopen(t, s)
		a.InboundQoS2 = []uint16{2, 9}
		equal(t, "sessions", allSessions(t, s), []Session{a, c})
	})

	t.Run("QueueOrderStatesAndDelete", func(t *testing.T) {
		s := o.open(t)
		var b Batch
		b.PutSession(sampleSession("q"))
		for seq := uint64(1); seq <= 300; seq++ {
			b.PutMessage("q", sampleMessage(seq, Queued))
		}
		b.PutMessage("other", sampleMessage(1, Queued))
		mustApply(t, s, &b)
		b = Batch{}
		b.PutMessage("q", sampleMessage(1, AwaitingPuback))
		b.PutMessage("q", sampleMessage(2, AwaitingPubcomp))
		for seq := uint64(3); seq <= 299; seq++ {
			b.DeleteMessage("q", seq)
		}
		b.DeleteMessage("q", 1000) // absent: not an error
		mustApply(t, s, &b)
		s = maybeReopen(t, s)
		equal(t, "queue", allMessages(t, s, "q"),
			[]Message{sampleMessage(1, AwaitingPuback), sampleMessage(2, AwaitingPubcomp), sampleMessage(300, Queued)})
		equal(t, "other", allMessages(t, s, "other"), []Message{sampleMessage(1, Queued)})
		equal(t, "none", allMessages(t, s, "nobody"), []Message(nil))
	})

	t.Run("DeleteSessionDropsQueueAndInbound", func(t *testing.T) {
		s := o.open(t)
		var b Batch
		// "x" and "x\x00y"-like neighbours must not share a key prefix.
		for _, id := range []string{"x", "xy", "x/"} {
			b.PutSession(sampleSession(id))
			b.PutMessage(id, sampleMessage(1, Queued))
			b.MarkInbound(id, 1)
		}
		mustApply(t, s, &b)
		b = Batch{}
		b.DeleteSession("x")
		mustApply(t, s, &b)
		s = maybeReopen(t, s)
		got := allSessions(t, s)
		if len(got) != 2 || got[0].ClientID != "x/" || got[1].ClientID != "xy" {
			t.Fatalf("sessions after delete: %+v", got)
		}
		equal(t, "x queue", allMessages(t, s, "x"), []Message(nil))
		equal(t, "xy queue", allMessages(t, s, "xy"), []Message{sampleMessage(1, Queued)})
	})

	t.Run("RetainedUpsertDelete", func(t *testing.T) {
		s := o.open(t)
		var b Batch
		r1 := Retained{Topic: "t/1", Payload: []byte("one"), QoS: 1, Props: sampleProps(), Created: t0}
		r2 := Retained{Topic: "t/2", Payload: []byte("two"), Created: t0, Expires: t0.Add(time.Hour)}
		b.PutRetained(r1)
		b.PutRetained(r2)
		b.PutRetained(Retained{Topic: "t/3", Payload: []byte("x")})
		b.DeleteRetained("t/3")
		mustApply(t, s, &b)
		b = Batch{}
		r1.Payload = []byte("one, again")
		b.PutRetained(r1)
		mustApply(t, s, &b)
		s = maybeReopen(t, s)
		equal(t, "retained", allRetained(t, s), []Retained{r1, r2})
	})

	t.Run("KV", func(t *testing.T) {
		s := o.open(t)
		var b Batch
		b.PutKV("tokens", "k2", []byte("v2"))
		b.PutKV("tokens", "k1", []byte("v1"))
		b.PutKV("tokensx", "k1", []byte("other space"))
		b.PutKV("tokens", "gone", []byte("x"))
		b.DeleteKV("tokens", "gone")
		mustApply(t, s, &b)
		s = maybeReopen(t, s)
		v, ok, err := s.GetKV("tokens", "k1")
		if err != nil || !ok || string(v) != "v1" {
			t.Fatalf("GetKV = %q %v %v", v, ok, err)
		}
		if _, ok, _ := s.GetKV("tokens", "gone"); ok {
			t.Fatal("deleted key still present")
		}
		var keys []string
		if err := s.ScanKV("tokens", func(k string, v []byte) error { keys = append(keys, k+"="+string(v)); return nil }); err != nil {
			t.Fatal(err)
		}
		equal(t, "scan", keys, []string{"k1=v1", "k2=v2"})
	})

	t.Run("ReadsDoNotAlias", func(t *testing.T) {
		s := o.open(t)
		var b Batch
		m := sampleMessage(1, Queued)
		b.PutMessage("a", m)
		mustApply(t, s, &b)
		m.Payload[0] = 99 // the caller reuses its buffer after Apply returned
		got := allMessages(t, s, "a")
		got[0].Payload[1] = 42
		equal(t, "stored", allMessages(t, s, "a"), []Message{sampleMessage(1, Queued)})
	})

	t.Run("Sweep", func(t *testing.T) {
		s := o.open(t)
		var b Batch
		old := sampleSession("old") // disconnected at t0 with 3600 s
		never := sampleSession("never")
		never.ExpiryInterval = NeverExpire
		conn := sampleSession("connected")
		conn.DisconnectedAt = time.Time{}
		for _, ss := range []Session{old, never, conn} {
			b.PutSession(ss)
		}
		b.PutMessage("old", sampleMessage(1, Queued))
		b.MarkInbound("old", 1)
		exp := sampleMessage(1, Queued)
		exp.Expires = t0.Add(time.Minute)
		inflight := sampleMessage(2, AwaitingPuback)
		inflight.Expires = t0.Add(time.Minute)
		keep := sampleMessage(3, Queued)
		keep.Expires = t0.Add(3 * time.Hour)
		b.PutMessage("never", exp)
		b.PutMessage("never", inflight)
		b.PutMessage("never", keep)
		b.PutRetained(Retained{Topic: "r/old", Expires: t0.Add(time.Minute)})
		b.PutRetained(Retained{Topic: "r/keep"})
		mustApply(t, s, &b)
		st, err := s.Sweep(context.Background(), t0.Add(2*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "stats", st, SweepStats{Sessions: 1, Messages: 1, Retained: 1})
		s = maybeReopen(t, s)
		got := allSessions(t, s)
		if len(got) != 2 || got[0].ClientID != "connected" || got[1].ClientID != "never" {
			t.Fatalf("sessions after sweep: %+v", got)
		}
		equal(t, "old queue", allMessages(t, s, "old"), []Message(nil))
		equal(t, "never queue", allMessages(t, s, "never"), []Message{inflight, keep})
		rs := allRetained(t, s)
		if len(rs) != 1 || rs[0].Topic != "r/keep" {
			t.Fatalf("retained after sweep: %+v", rs)
		}
		if st, err := s.Sweep(context.Background(), t0.Add(2*time.Hour)); err != nil || st != (SweepStats{}) {
			t.Fatalf("second sweep = %+v, %v", st, err)
		}
		if err := s.Compact(context.Background()); err != nil {
			t.Fatalf("Compact: %v", err)
		}
	})

	t.Run("SweepRechecksWhenApplied", func(t *testing.T) {
		// What a sweep read as expired may change before its batch is
		// applied: a reconnect, a republish, a send. Those writes win.
		s := o.open(t)
		var b Batch
		b.PutSession(sampleSession("s"))
		m := sampleMessage(1, Queued)
		m.Expires = t0
		b.PutMessage("s", m)
		b.PutRetained(Retained{Topic: "r", Expires: t0})
		mustApply(t, s, &b)
		back := sampleSession("s")
		back.DisconnectedAt = time.Time{}
		sent := m
		sent.State = AwaitingPuback
		republished := Retained{Topic: "r", Payload: []byte("new")}
		b = Batch{}
		b.PutSession(back)
		b.PutMessage("s", sent)
		b.PutRetained(republished)
		mustApply(t, s, &b)
		now := t0.Add(2 * time.Hour)
		b = Batch{}
		b.sweepSession("s", now)
		b.sweepMessage("s", 1, now)
		b.sweepRetained("r", now)
		b.sweepSession("absent", now)
		b.sweepMessage("absent", 1, now)
		b.sweepRetained("absent", now)
		mustApply(t, s, &b)
		s = maybeReopen(t, s)
		equal(t, "sessions", allSessions(t, s), []Session{back})
		equal(t, "queue", allMessages(t, s, "s"), []Message{sent})
		equal(t, "retained", allRetained(t, s), []Retained{republished})
	})

	t.Run("ManyConcurrentCommits", func(t *testing.T) {
		s := o.open(t)
		const writers, each = 8, 200
		errs := make(chan error, writers)
		for w := range writers {
			go func() {
				var commits []*Commit
				for i := range each {
					var b Batch
					b.PutMessage("c", Message{Seq: uint64(w*each + i), Payload: make([]byte, 64)})
					commits = append(commits, s.Apply(&b))
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				for _, c := range commits {
					if err := c.Wait(ctx); err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}()
		}
		for range writers {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		s = maybeReopen(t, s)
		if n := len(allMessages(t, s, "c")); n != writers*each {
			t.Fatalf("%d messages after concurrent commits, want %d", n, writers*each)
		}
	})

	t.Run("Closed", func(t *testing.T) {
		s := o.open(t)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		var b Batch
		b.PutKV("a", "b", nil)
		if err := s.Apply(&b).Wait(context.Background()); !errors.Is(err, ErrClosed) {
			t.Fatalf("Apply after Close: %v", err)
		}
		if err := s.Sessions(func(Session) error { return nil }); !errors.Is(err, ErrClosed) {
			t.Fatalf("Sessions after Close: %v", err)
		}
	})
}

func TestMemConformance(t *testing.T) {
	runConformance(t, opener{open: func(t *testing.T) Store {
		s := NewMem()
		t.Cleanup(func() { s.Close() })
		return s
	}})
}

func TestParseFsyncMode(t *testing.T) {
	for in, want := range map[string]FsyncMode{"": FsyncBatch, "batch": FsyncBatch, "always": FsyncAlways, "never": FsyncNever} {
		got, err := ParseFsyncMode(in)
		if err != nil || got != want {
			t.Errorf("ParseFsyncMode(%q) = %v, %v", in, got, err)
		}
		if in != "" && got.String() != in {
			t.Errorf("%v.String() = %q", got, got.String())
		}
	}
	if _, err := ParseFsyncMode("sometimes"); err == nil {
		t.Error("ParseFsyncMode(sometimes) accepted")
	}
}
