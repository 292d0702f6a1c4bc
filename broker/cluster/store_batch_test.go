package cluster

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/mqttboard/mqttboard/broker/storage"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// TestGroupCancels: what the writer drops inside one group (store.go's
// group.add): a new queued message and its deletion never reach the
// stream; a record that may be stored already keeps its deletion; a
// subject written twice is written once, with the last value.
func TestGroupCancels(t *testing.T) {
	msg := func(subj, data string) *nats.Msg { m := nats.NewMsg(subj); m.Data = []byte(data); return m }
	var g group
	g.add(msg("x.a.q.1", "new"), kindFresh)
	g.add(msg("x.a.q.2", "new"), kindFresh)
	g.add(msg("x.a.q.3", "awaiting pubcomp"), kindPut) // a state change: stored before
	g.add(msg("x.a.s", "v1"), kindPut)
	g.add(tombstone("x.a.q.1"), kindTomb) // acknowledged before its group went out
	g.add(msg("x.a.q.2", "awaiting pubrec"), kindPut)
	g.add(tombstone("x.a.q.2"), kindTomb) // still never stored: nothing at all
	g.add(tombstone("x.a.q.3"), kindTomb) // stored before: the deletion stays
	g.add(msg("x.a.s", "v2"), kindPut)
	var got []string
	for _, m := range g.msgs {
		if m == nil {
			continue
		}
		v := string(m.Data)
		if m.Header.Get(hdrDel) != "" {
			v = "deleted"
		}
		got = append(got, m.Subject+"="+v)
	}
	want := []string{"x.a.q.3=deleted", "x.a.s=v2"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || g.live != 2 {
		t.Fatalf("group holds %v (live %d), want %v", got, g.live, want)
	}
	if g.bytes != len("x.a.q.3")+len("x.a.s")+len("v2")+2*64 {
		t.Fatalf("group bytes %d", g.bytes)
	}
}

// TestClusterStoreBatchAtomic: a batch is stored whole or not at all. A
// writer that dies in the middle of publishing a group leaves an atomic
// batch without its commit message, and JetStream stores none of it: a
// read sees nothing of it. A committed group of many records is read
// back whole.
func TestClusterStoreBatchAtomic(t *testing.T) {
	d := startDurable(t, 3)
	st := d.nodes[0].cl.store
	// A group cut off before its commit, as a crashed writer leaves it.
	id := nuid.Next()
	for i := 1; i <= 5; i++ {
		m := nats.NewMsg("x.cut.q." + strconv.Itoa(i))
		m.Data = storage.EncodeMessage(&storage.Message{Seq: uint64(i), QoS: 1, Topic: "t"})
		m.Header.Set(hdrBatchID, id)
		m.Header.Set(hdrBatchSeq, strconv.Itoa(i))
		if err := d.nodes[0].cl.nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	// A whole batch through the store.
	var b storage.Batch
	b.PutSession(storage.Session{ClientID: "whole", Protocol: 5, ExpiryInterval: 600})
	for i := 1; i <= 300; i++ {
		b.PutMessage("whole", storage.Message{Seq: uint64(i), QoS: 1, Topic: "t", Payload: []byte(strconv.Itoa(i))})
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := st.Apply(&b).Wait(ctx); err != nil {
		t.Fatal(err)
	}
	// Read from another node: it sees the whole batch and nothing cut.
	other := d.nodes[1].cl.store
	if _, ok, err := other.Session("cut"); err != nil || ok {
		t.Fatalf("cut session: ok %v, err %v", ok, err)
	}
	recs, err := other.read("x.cut.>")
	if err != nil || len(recs) != 0 {
		t.Fatalf("records of the cut batch: %d, err %v", len(recs), err)
	}
	if _, ok, err := other.Session("whole"); err != nil || !ok {
		t.Fatalf("whole session: ok %v, err %v", ok, err)
	}
	n := 0
	if err := other.Messages("whole", func(m storage.Message) error {
		n++
		if m.Seq != uint64(n) || string(m.Payload) != strconv.Itoa(n) {
			t.Fatalf("message %d: %+v", n, m)
		}
		return nil
	}); err != nil || n != 300 {
		t.Fatalf("read %d of 300 messages, err %v", n, err)
	}
}

// TestClusterStoreLoadsFirstFormat: a data directory written by the first
// version of the replicated store (a stream without atomic batches, one
// publish per record) loads: the stream is upgraded in place, the node
// restores the persistent session it held with its queued messages and
// the retained message, a client resuming the session gets them, and new
// writes (atomic batches) go into the same stream.
func TestClusterStoreLoadsFirstFormat(t *testing.T) {
	var opened sync.WaitGroup
	opened.Add(3)
	written := make(chan struct{})
	d := startDurableWith(t, 3, func(i int, cl *Node) {
		opened.Done()
		if i != 0 {
			<-written
			return
		}
		defer close(written)
		opened.Wait()
		if err := writeFirstFormat(cl); err != nil {
			t.Errorf("writing the first version's records: %v", err)
		}
	})
	info, err := d.nodes[1].cl.store.st.Info(context.Background())
	if err != nil || !info.Config.AllowAtomicPublish {
		t.Fatalf("stream not upgraded: %+v, %v", info, err)
	}
	x := dialWithPresent(t, d.nodes[0].addr, "old")
	for i := 1; i <= 3; i++ {
		if m := x.recv(t); string(m.Payload) != "m"+strconv.Itoa(i) {
			t.Fatalf("message %d: %q", i, m.Payload)
		}
	}
	s := dial(t, d.nodes[2].addr, "s", true)
	s.sub(t, "r/#")
	if m := s.recv(t); m.Topic != "r/old" || string(m.Payload) != "kept" {
		t.Fatalf("retained %s %q", m.Topic, m.Payload)
	}
	p := dial(t, d.nodes[1].addr, "p", true)
	p.pub(t, "q/old", 1, false, "new")
	if m := x.recv(t); string(m.Payload) != "new" {
		t.Fatalf("after the upgrade: %q", m.Payload)
	}
}

// writeFirstFormat makes the stream as the first version did and writes
// its records one publish each: node n0's persistent session "old"
// (subscribed to q/old) with three queued messages, and the retained
// message r/old.
func writeFirstFormat(cl *Node) error {
	js, err := jetstream.New(cl.nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := jetstream.StreamConfig{Name: streamName, Subjects: []string{"x.>", "t.>", "v.>", "b.>"},
		Storage: jetstream.FileStorage, MaxMsgsPerSubject: 1, AllowMsgTTL: true, Discard: jetstream.DiscardOld, Replicas: 3}
	for {
		actx, acancel := context.WithTimeout(ctx, 2*time.Second)
		_, err = js.CreateStream(actx, cfg)
		acancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("creating the stream: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	now := time.Now()
	pub := func(subj string, data []byte, owner string) {
		m := nats.NewMsg(subj)
		m.Data = data
		if owner != "" {
			m.Header.Set(hdrOwner, owner)
		}
		// Right after the stream is made, its leader may not answer
		// yet ("no response from stream"): again, within ctx (a record
		// written twice is the same record).
		for {
			_, perr := js.PublishMsg(ctx, m)
			if perr == nil {
				return
			}
			if ctx.Err() != nil {
				err = cmp.Or(err, perr)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	pub("x.old.s", storage.EncodeSession(&storage.Session{ClientID: "old", Protocol: 5, ExpiryInterval: 600,
		DisconnectedAt: now, Subscriptions: []storage.Subscription{{Filter: "q/old", QoS: 1}}}), "n0")
	for i := 1; i <= 3; i++ {
		pub("x.old.q."+strconv.Itoa(i), storage.EncodeMessage(&storage.Message{Seq: uint64(i), QoS: 1,
			Topic: "q/old", Payload: []byte("m" + strconv.Itoa(i)), Created: now}), "")
	}
	pub("t."+token("r/old"), storage.EncodeRetained(&storage.Retained{Topic: "r/old", Payload: []byte("kept"), QoS: 1, Created: now}), "")
	return err
}

// TestClusterStoreCleanStartPurgesOnlyWhatIsStored: a clean start on a
// node that does not hold the session ends whatever another node stored
// under that client id; when nothing is stored (the usual clean client),
// that costs no purge, which would stop the node's writes until every
// group in flight was answered (Store.EndSession).
func TestClusterStoreCleanStartPurgesOnlyWhatIsStored(t *testing.T) {
	d := startDurable(t, 3)
	st1 := &d.nodes[1].cl.store.stats
	dial(t, d.nodes[1].addr, "fresh", true)
	// The CONNACK of a clean session waits for nothing: the writer takes
	// the purge soon after (polled: no event to wait on; bounded).
	eventually(t, func() bool { return st1.purgesSkipped.Load() == 1 })
	if p := st1.purges.Load(); p != 0 {
		t.Fatalf("a clean start with nothing stored: %d purges, want 0", p)
	}
	// A persistent session on n0 with five acknowledged messages queued.
	x := dial(t, d.nodes[0].addr, "kept", false)
	x.sub(t, "q/kept")
	x.Disconnect(&paho.Disconnect{})
	p := dial(t, d.nodes[2].addr, "p", true)
	for i := range 5 {
		p.pub(t, "q/kept", 1, false, "old"+itoa(i))
	}
	// A clean start on n2 ends it.
	st2 := &d.nodes[2].cl.store.stats
	purges := st2.purges.Load()
	c := dial(t, d.nodes[2].addr, "kept", true)
	eventually(t, func() bool { return st2.purges.Load() == purges+1 })
	c.Disconnect(&paho.Disconnect{})
	// Resumed on n1: nothing of the old session is left.
	y := dial(t, d.nodes[1].addr, "kept", false)
	y.sub(t, "q/kept")
	p.pub(t, "q/kept", 1, false, "marker")
	if m := y.recv(t); string(m.Payload) != "marker" {
		t.Fatalf("got %q of the session the clean start ended", m.Payload)
	}
}

// eventually polls cond every 10 ms for at most wait.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	for start := time.Now(); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > wait {
			t.Fatal("condition not reached in time")
		}
	}
}

// TestClusterStoreLoadsSecondFormat: a data directory of the current
// format (records as subjects, written in atomic batches, a delivery's
// deletion a tombstone) loads: the node restores the persistent session
// it held with the queued messages that were not deleted, and the
// retained message. The contract for a later format (docs/cluster.md,
// "A log instead of a key-value map"), which must keep loading it.
func TestClusterStoreLoadsSecondFormat(t *testing.T) {
	var opened sync.WaitGroup
	opened.Add(3)
	written := make(chan struct{})
	d := startDurableWith(t, 3, func(i int, cl *Node) {
		opened.Done()
		if i != 0 {
			<-written
			return
		}
		defer close(written)
		opened.Wait()
		if err := writeSecondFormat(cl); err != nil {
			t.Errorf("writing the current format's records: %v", err)
		}
	})
	x := dialWithPresent(t, d.nodes[0].addr, "cur")
	for _, want := range []string{"m1", "m3", "m4", "m5"} {
		if m := x.recv(t); string(m.Payload) != want {
			t.Fatalf("got %q, want %q (m2 was deleted)", m.Payload, want)
		}
	}
	s := dial(t, d.nodes[2].addr, "s", true)
	s.sub(t, "r/#")
	if m := s.recv(t); m.Topic != "r/cur" || string(m.Payload) != "kept" {
		t.Fatalf("retained %s %q", m.Topic, m.Payload)
	}
	p := dial(t, d.nodes[1].addr, "p", true)
	p.pub(t, "q/cur", 1, false, "new")
	if m := x.recv(t); string(m.Payload) != "new" {
		t.Fatalf("after the restart: %q", m.Payload)
	}
}

// writeSecondFormat makes the stream as the current version does and
// writes, in two atomic batches as its writer would: node n0's
// persistent session "cur" (subscribed to q/cur) with queued messages
// 1-4 and the retained message r/cur; then the deletion (tombstone) of
// message 2 with queued message 5.
func writeSecondFormat(cl *Node) error {
	js, err := jetstream.New(cl.nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := jetstream.StreamConfig{Name: streamName, Subjects: []string{"x.>", "t.>", "v.>", "b.>"},
		Storage: jetstream.FileStorage, MaxMsgsPerSubject: 1, AllowMsgTTL: true, AllowAtomicPublish: true,
		Discard: jetstream.DiscardOld, Replicas: 3}
	for {
		actx, acancel := context.WithTimeout(ctx, 2*time.Second)
		_, err = js.CreateStream(actx, cfg)
		acancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("creating the stream: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A batch is sent again, under a new id, when its commit is not
	// answered (the stream's leader may not answer yet): its records
	// are last values, so twice is the same.
	batch := func(msgs ...*nats.Msg) error {
		for {
			err := sendBatch(ctx, cl.nc, js, msgs)
			if err == nil || ctx.Err() != nil {
				return err
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	now := time.Now()
	rec := func(subj string, data []byte) *nats.Msg {
		m := nats.NewMsg(subj)
		m.Data = data
		return m
	}
	sess := rec("x.cur.s", storage.EncodeSession(&storage.Session{ClientID: "cur", Protocol: 5, ExpiryInterval: 600,
		DisconnectedAt: now, Subscriptions: []storage.Subscription{{Filter: "q/cur", QoS: 1}}}))
	sess.Header.Set(hdrOwner, "n0")
	first := []*nats.Msg{sess}
	for i := 1; i <= 4; i++ {
		first = append(first, rec("x.cur.q."+strconv.Itoa(i), storage.EncodeMessage(&storage.Message{Seq: uint64(i), QoS: 1,
			Topic: "q/cur", Payload: []byte("m" + strconv.Itoa(i)), Created: now})))
	}
	first = append(first, rec("t."+token("r/cur"), storage.EncodeRetained(&storage.Retained{Topic: "r/cur", Payload: []byte("kept"), QoS: 1, Created: now})))
	if err := batch(first...); err != nil {
		return err
	}
	return batch(tombstone("x.cur.q.2"), rec("x.cur.q.5", storage.EncodeMessage(&storage.Message{Seq: 5, QoS: 1,
		Topic: "q/cur", Payload: []byte("m5"), Created: now})))
}

// sendBatch publishes msgs as one atomic batch, as the store's writer does.
func sendBatch(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, msgs []*nats.Msg) error {
	id := nuid.Next()
	for i, m := range msgs {
		m.Header.Set(hdrBatchID, id)
		m.Header.Set(hdrBatchSeq, strconv.Itoa(i+1))
		m.Header.Del(hdrBatchEnd)
		if i < len(msgs)-1 {
			if err := nc.PublishMsg(m); err != nil {
				return err
			}
			continue
		}
		m.Header.Set(hdrBatchEnd, "1")
		if _, err := js.PublishMsg(ctx, m); err != nil {
			return err
		}
	}
	return nil
}
