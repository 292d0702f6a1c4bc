package broker_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/broker/storage"
	"github.com/mqttboard/mqttboard/packet"
)

// storedBroker runs a broker over st on 127.0.0.1:0 and returns its address
// and a function that closes it (connections, then the store).
func storedBroker(t *testing.T, st storage.Store, opts broker.Options) (string, func()) {
	t.Helper()
	opts.Listen = "127.0.0.1:0"
	opts.Store = st
	s, err := broker.Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(context.Background()) }()
	var once atomic.Bool
	stop := func() {
		if once.Swap(true) {
			return
		}
		s.Close()
		<-done
	}
	t.Cleanup(stop)
	return s.Addr().String(), stop
}

func openStore(t *testing.T, dir string) *storage.Bolt {
	t.Helper()
	st, err := storage.Open(dir, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func persistent() packet.Properties {
	p := packet.Properties{SessionExpiry: 3600}
	p.Present = p.Present.Add(packet.PropSessionExpiry)
	return p
}

func rawResume(t *testing.T, addr, id string) (*raw, *packet.Connack) {
	c := dialRaw(t, addr, packet.V5)
	ack := c.connect(&packet.Connect{ClientID: id, Props: persistent()})
	if ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %v", ack.ReasonCode)
	}
	return c, ack
}

// TestPersistRestart: what a persistent session had (subscriptions with
// their identifiers and shared groups, a message sent and not acknowledged,
// queued QoS 1 and 2 messages, the publisher's unreleased QoS 2 id) and the
// retained messages are all there after the broker restarts on the same
// data directory, as the clients observe on the wire.
func TestPersistRestart(t *testing.T) {
	dir := t.TempDir()
	opts, events := brokertest.Events(256)
	addr, stop := storedBroker(t, openStore(t, dir), opts)

	keeper := rawClient(t, addr, "keeper", persistent())
	keeper.subscribe(1, packet.Properties{SubscriptionIDs: []uint32{7}}, packet.Subscription{Filter: "q/#", QoS: 2})
	keeper.subscribe(2, packet.Properties{}, packet.Subscription{Filter: "$share/g/s/#", QoS: 1})
	pub := rawClient(t, addr, "pub", persistent())
	pub.publish(&packet.Publish{Topic: "q/a", QoS: 1, PacketID: 1, Payload: []byte("one")})
	first := keeper.recvPublish() // not acknowledged: in flight across the restart
	keeper.nc.Close()
	brokertest.WaitEvent(t, events, wait, func(e broker.Event) bool {
		return e.Kind == broker.EventDisconnected && e.ClientID == "keeper"
	})
	pub.send(&packet.Publish{Topic: "q/b", QoS: 2, PacketID: 2, Payload: []byte("two")})
	if _, ok := pub.recv().(*packet.Pubrec); !ok {
		t.Fatal("expected PUBREC")
	}
	pub.publish(&packet.Publish{Topic: "s/x", QoS: 1, PacketID: 3, Payload: []byte("shared")})
	pub.publish(&packet.Publish{Topic: "r/x", QoS: 1, PacketID: 4, Retain: true, Payload: []byte("kept")})
	stop()

	addr, _ = storedBroker(t, openStore(t, dir), broker.Options{})
	pub, ack := rawResume(t, addr, "pub")
	if !ack.SessionPresent {
		t.Fatal("publisher's session not present after restart")
	}
	// The QoS 2 PUBLISH resent after the restart is recognised: PUBREC,
	// and it is not routed a second time [MQTT-4.3.3-10].
	pub.send(&packet.Publish{Topic: "q/b", QoS: 2, PacketID: 2, Dup: true, Payload: []byte("two")})
	if _, ok := pub.recv().(*packet.Pubrec); !ok {
		t.Fatal("expected PUBREC for the resent QoS 2 PUBLISH")
	}
	pub.send(&packet.Pubrel{Ack: packet.Ack{PacketID: 2}})
	if _, ok := pub.recv().(*packet.Pubcomp); !ok {
		t.Fatal("expected PUBCOMP")
	}

	keeper, ack = rawResume(t, addr, "keeper")
	if !ack.SessionPresent {
		t.Fatal("subscriber's session not present after restart")
	}
	p := keeper.recvPublish()
	if p.Topic != "q/a" || !p.Dup || p.PacketID != first.PacketID || string(p.Payload) != "one" {
		t.Fatalf("first after restart: %s dup=%v id=%d (was %d), want the unacknowledged q/a resent with DUP and its packet id", p.Topic, p.Dup, p.PacketID, first.PacketID)
	}
	if len(p.Props.SubscriptionIDs) != 1 || p.Props.SubscriptionIDs[0] != 7 {
		t.Fatalf("subscription ids %v, want [7]", p.Props.SubscriptionIDs)
	}
	keeper.send(&packet.Puback{Ack: packet.Ack{PacketID: p.PacketID}})
	p = keeper.recvPublish()
	if p.Topic != "q/b" || p.QoS != 2 || p.Dup || string(p.Payload) != "two" {
		t.Fatalf("second: %s qos=%d dup=%v, want the queued QoS 2 q/b", p.Topic, p.QoS, p.Dup)
	}
	keeper.send(&packet.Pubrec{Ack: packet.Ack{PacketID: p.PacketID}})
	// The PUBREL and the next queued PUBLISH may come in either order.
	var pubrel, shared bool
	for !pubrel || !shared {
		switch x := keeper.recv().(type) {
		case *packet.Pubrel:
			pubrel = true
			keeper.send(&packet.Pubcomp{Ack: packet.Ack{PacketID: x.PacketID}})
		case *packet.Publish:
			if shared || x.Topic != "s/x" || string(x.Payload) != "shared" {
				t.Fatalf("third: %s, want s/x held for the shared group", x.Topic)
			}
			shared = true
			keeper.send(&packet.Puback{Ack: packet.Ack{PacketID: x.PacketID}})
		default:
			t.Fatalf("unexpected %v", x)
		}
	}

	// Subscriptions came back: a new message reaches both, once.
	pub.publish(&packet.Publish{Topic: "q/end", QoS: 1, PacketID: 5, Payload: []byte("end")})
	if p = keeper.recvPublish(); p.Topic != "q/end" {
		t.Fatalf("after the queue: %s, want q/end (q/b must not come twice)", p.Topic)
	}
	fresh := rawClient(t, addr, "fresh", packet.Properties{})
	fresh.subscribe(1, packet.Properties{}, packet.Subscription{Filter: "r/#", QoS: 1})
	if p = fresh.recvPublish(); p.Topic != "r/x" || string(p.Payload) != "kept" || !p.Retain {
		t.Fatalf("retained after restart: %s %q retain=%v", p.Topic, p.Payload, p.Retain)
	}
}

// TestPersistWillAcrossRestart: a delayed will pending when the broker
// stopped is still pending after the restart, and is sent when the
// session ends.
func TestPersistWillAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	opts, events := brokertest.Events(64)
	addr, stop := storedBroker(t, openStore(t, dir), opts)
	w := dialRaw(t, addr, packet.V5)
	will := packet.Will{Topic: "will/w", Payload: []byte("gone"), QoS: 1}
	will.Props.WillDelay = 3600
	will.Props.Present = will.Props.Present.Add(packet.PropWillDelay)
	w.connect(&packet.Connect{ClientID: "w", CleanStart: true, Props: persistent(), WillFlag: true, Will: will})
	w.nc.Close()
	brokertest.WaitEvent(t, events, wait, func(e broker.Event) bool {
		return e.Kind == broker.EventDisconnected && e.ClientID == "w"
	})
	stop()

	addr, _ = storedBroker(t, openStore(t, dir), broker.Options{})
	watcher := rawClient(t, addr, "watcher", packet.Properties{})
	watcher.subscribe(1, packet.Properties{}, packet.Subscription{Filter: "will/#", QoS: 1})
	// A clean start ends the old session, which sends its will.
	w = dialRaw(t, addr, packet.V5)
	if ack := w.connect(&packet.Connect{ClientID: "w", CleanStart: true}); ack.SessionPresent {
		t.Fatal("clean start must not resume")
	}
	if p := watcher.recvPublish(); p.Topic != "will/w" || string(p.Payload) != "gone" {
		t.Fatalf("got %s %q, want the stored will", p.Topic, p.Payload)
	}
}

// TestPersistExpiredPurged: what expired while the broker was down is
// deleted from the store at start, not only hidden: a session past its
// expiry (with its queue), a queued message past its message expiry, a
// retained message past its expiry.
func TestPersistExpiredPurged(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	now := time.Now()
	var b storage.Batch
	b.PutSession(storage.Session{ClientID: "old", Protocol: 5, ExpiryInterval: 60, DisconnectedAt: now.Add(-time.Hour),
		Subscriptions: []storage.Subscription{{Filter: "x/#", QoS: 1}}})
	b.PutMessage("old", storage.Message{Seq: 1, QoS: 1, Topic: "x/1", Payload: []byte("a"), Created: now.Add(-time.Hour)})
	b.PutSession(storage.Session{ClientID: "live", Protocol: 5, ExpiryInterval: 3600, DisconnectedAt: now.Add(-time.Minute),
		Subscriptions: []storage.Subscription{{Filter: "y/#", QoS: 1}}})
	b.PutMessage("live", storage.Message{Seq: 1, QoS: 1, Topic: "y/stale", Payload: []byte("s"), Created: now.Add(-time.Hour), Expires: now.Add(-time.Minute)})
	b.PutMessage("live", storage.Message{Seq: 2, QoS: 1, Topic: "y/fresh", Payload: []byte("f"), Created: now.Add(-time.Minute)})
	b.PutRetained(storage.Retained{Topic: "r/stale", Payload: []byte("s"), QoS: 1, Created: now.Add(-time.Hour), Expires: now.Add(-time.Minute)})
	b.PutRetained(storage.Retained{Topic: "r/fresh", Payload: []byte("f"), QoS: 1, Created: now.Add(-time.Minute)})
	if err := st.Apply(&b).Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	addr, stop := storedBroker(t, st, broker.Options{})
	live, ack := rawResume(t, addr, "live")
	if !ack.SessionPresent {
		t.Fatal("live session lost")
	}
	if p := live.recvPublish(); p.Topic != "y/fresh" {
		t.Fatalf("got %s, want only y/fresh (y/stale expired)", p.Topic)
	}
	fresh := rawClient(t, addr, "fresh", packet.Properties{})
	fresh.subscribe(1, packet.Properties{}, packet.Subscription{Filter: "r/#", QoS: 1})
	if p := fresh.recvPublish(); p.Topic != "r/fresh" {
		t.Fatalf("retained %s, want r/fresh only", p.Topic)
	}
	old, ack := rawResume(t, addr, "old")
	if ack.SessionPresent {
		t.Fatal("expired session came back")
	}
	old.nothingPending()
	stop()

	st = openStore(t, dir)
	defer st.Close()
	var ids []string
	st.Sessions(func(s storage.Session) error { ids = append(ids, s.ClientID); return nil })
	var topics []string
	st.Retained(func(r storage.Retained) error { topics = append(topics, r.Topic); return nil })
	if len(topics) != 1 || topics[0] != "r/fresh" {
		t.Fatalf("retained on disk %v, want [r/fresh]: the expired one must be purged", topics)
	}
	for _, id := range ids {
		if id == "old" {
			var n int
			st.Messages("old", func(storage.Message) error { n++; return nil })
			if n > 0 {
				t.Fatalf("the expired session's queue is still on disk (%d messages)", n)
			}
		}
	}
}

// failing wraps a Store and fails every Apply with ErrWrite while on, as a
// full disk does (the bbolt store's own disk-full path is tested in
// package storage with a read-only descriptor under its file).
type failing struct {
	storage.Store
	on atomic.Bool
}

func (f *failing) Apply(b *storage.Batch) *storage.Commit {
	if !f.on.Load() {
		return f.Store.Apply(b)
	}
	c, resolve := storage.NewCommit()
	resolve(errors.Join(storage.ErrWrite, errors.New("injected: no space left on device")))
	return c
}

// TestPersistDiskFull: while the store cannot write, a 5.0 publisher gets
// PUBACK/PUBREC 0x97 for messages bound for a persistent session (never a
// success it cannot keep), a 3.1.1 publisher is disconnected without its
// PUBACK, and publishing works again once writes do.
func TestPersistDiskFull(t *testing.T) {
	f := &failing{Store: storage.NewMem()}
	addr, _ := storedBroker(t, f, broker.Options{})
	keeper := rawClient(t, addr, "keeper", persistent())
	keeper.subscribe(1, packet.Properties{}, packet.Subscription{Filter: "d/#", QoS: 1})
	pub := rawClient(t, addr, "pub", packet.Properties{})
	f.on.Store(true)
	pub.send(&packet.Publish{Topic: "d/1", QoS: 1, PacketID: 1, Payload: []byte("x")})
	if a, ok := pub.recv().(*packet.Puback); !ok || a.ReasonCode != packet.QuotaExceeded {
		t.Fatalf("PUBACK on a full disk: %v, want 0x97", a)
	}
	pub.send(&packet.Publish{Topic: "d/2", QoS: 2, PacketID: 2, Payload: []byte("x")})
	if a, ok := pub.recv().(*packet.Pubrec); !ok || a.ReasonCode != packet.QuotaExceeded {
		t.Fatalf("PUBREC on a full disk: %v, want 0x97", a)
	}
	old := dialRaw(t, addr, packet.V311)
	old.connect(&packet.Connect{ClientID: "old", CleanStart: true})
	old.send(&packet.Publish{Topic: "d/3", QoS: 1, PacketID: 1, Payload: []byte("x")})
	old.expectDisconnect(0)

	f.on.Store(false)
	pub.send(&packet.Publish{Topic: "d/4", QoS: 1, PacketID: 3, Payload: []byte("x")})
	if a, ok := pub.recv().(*packet.Puback); !ok || a.ReasonCode.IsError() {
		t.Fatalf("PUBACK once the disk has room: %v", a)
	}
}
