package session

import (
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/broker/message"
	"github.com/mqttboard/mqttboard/broker/storage"
	"github.com/mqttboard/mqttboard/packet"
)

type kicked struct{ code packet.ReasonCode }

func (k *kicked) Kick(code packet.ReasonCode, _ string) { k.code = code }
func (k *kicked) Wake()                                 {}

func msg(p string, qos packet.QoS) *message.Message {
	return &message.Message{Topic: "t", Payload: []byte(p), QoS: qos}
}

func payloads(out []Outgoing) string {
	s := ""
	for _, o := range out {
		if o.Pubrel {
			s += "R"
			continue
		}
		s += string(o.Msg.Payload)
		if o.Dup {
			s += "'"
		}
	}
	return s
}

func TestTakeRespectsReceiveMaximum(t *testing.T) {
	s := New("c", 1, Limits{MaxQueueBytes: 1 << 20, MaxInflightBytes: 1 << 20})
	s.Attach(&kicked{})
	for _, p := range []string{"a", "b", "c"} {
		s.Enqueue(Delivery{Msg: msg(p, 1), QoS: 1})
	}
	s.Enqueue(Delivery{Msg: msg("z", 0)})
	out, more := s.Take(nil, 10, 2, time.Now())
	if payloads(out) != "ab" || more {
		t.Fatalf("took %q more=%v; want ab, blocked on Receive Maximum", payloads(out), more)
	}
	if !s.Puback(out[0].PacketID) || s.Puback(out[0].PacketID) {
		t.Fatal("Puback must succeed once")
	}
	out, _ = s.Take(nil, 10, 2, time.Now())
	if payloads(out) != "cz" {
		t.Fatalf("took %q after an ack", payloads(out))
	}
}

func TestResendOrderAfterAttach(t *testing.T) {
	s := New("c", 1, Limits{MaxQueueBytes: 1 << 20, MaxInflightBytes: 1 << 20})
	s.Attach(&kicked{})
	for _, p := range []string{"a", "b", "c"} {
		s.Enqueue(Delivery{Msg: msg(p, 2), QoS: 2})
	}
	out, _ := s.Take(nil, 10, 100, time.Now())
	if !s.Pubrec(out[1].PacketID, false) {
		t.Fatal("Pubrec")
	}
	conn := &kicked{}
	s.Detach(conn) // not the attached conn: no effect
	s.Attach(conn)
	out2, _ := s.Take(nil, 10, 100, time.Now())
	if payloads(out2) != "a'Rc'" {
		t.Fatalf("resent %q, want a' R c' in the original order", payloads(out2))
	}
	if out2[1].PacketID != out[1].PacketID || !s.Pubcomp(out[1].PacketID) {
		t.Fatal("PUBREL for the wrong id or Pubcomp failed")
	}
}

func TestEnqueueLimits(t *testing.T) {
	m := msg("x", 1)
	s := New("c", 1, Limits{MaxQueueBytes: 2 * m.Size(), MaxInflightBytes: 1 << 20})
	if r := s.Enqueue(Delivery{Msg: m}); r != DroppedOffline {
		t.Fatalf("offline QoS 0: %v", r)
	}
	if r := s.Enqueue(Delivery{Msg: m, QoS: 1}); r != Queued {
		t.Fatalf("offline QoS 1: %v", r)
	}
	s.Attach(&kicked{})
	s.Enqueue(Delivery{Msg: m, QoS: 1})
	if r := s.Enqueue(Delivery{Msg: m}); r != DroppedFull {
		t.Fatalf("full QoS 0: %v", r)
	}
	if r := s.Enqueue(Delivery{Msg: m, QoS: 1}); r != Overflow {
		t.Fatalf("full QoS 1: %v", r)
	}
	if st := s.Stats(); st.Queued != 3 || st.Dropped != 1 {
		t.Fatalf("stats %+v: the overflowing QoS 1 message must be kept", st)
	}
	// Until the kicked connection is gone, more past the limit is
	// dropped: the queue stays bounded whatever the client's socket does.
	for range 100 {
		if r := s.Enqueue(Delivery{Msg: m, QoS: 1}); r != DroppedFull {
			t.Fatalf("QoS 1 after the overflow: %v", r)
		}
	}
	if st := s.Stats(); st.Queued != 3 || st.Dropped != 101 {
		t.Fatalf("stats %+v after the overflow", st)
	}
}

func TestExpiredDroppedOnTake(t *testing.T) {
	s := New("c", 1, Limits{MaxQueueBytes: 1 << 20, MaxInflightBytes: 1 << 20})
	s.Attach(&kicked{})
	old := msg("old", 1)
	old.Expires = time.Now().Add(-time.Second)
	s.Enqueue(Delivery{Msg: old, QoS: 1})
	s.Enqueue(Delivery{Msg: msg("new", 1), QoS: 1})
	if out, _ := s.Take(nil, 10, 10, time.Now()); payloads(out) != "new" {
		t.Fatalf("took %q", payloads(out))
	}
}

func TestIncomingQoS2(t *testing.T) {
	s := New("c", 1, Limits{})
	if dup, n := s.ReceiveQoS2(7); dup || n != 1 {
		t.Fatal("first receive")
	}
	if dup, _ := s.ReceiveQoS2(7); !dup {
		t.Fatal("resend not seen as duplicate")
	}
	if !s.Release(7) || s.Release(7) {
		t.Fatal("Release must succeed once")
	}
}

// TestRestoreStaleInflight: two stored sent messages with one packet id
// mean the earlier exchange completed and its deletion was lost in a
// crash; the later one keeps the id and the earlier is reported stale.
func TestRestoreStaleInflight(t *testing.T) {
	s := New("c", 1, Limits{MaxQueueBytes: 1 << 20, MaxInflightBytes: 1 << 20})
	if stale := s.Restore(&storage.Message{Seq: 1, State: storage.AwaitingPubcomp, PacketID: 5, QoS: 2, Topic: "t", Payload: []byte("old")}); stale != 0 {
		t.Fatalf("first restore reported stale %d", stale)
	}
	if stale := s.Restore(&storage.Message{Seq: 2, State: storage.AwaitingPubrec, PacketID: 5, QoS: 2, Topic: "t", Payload: []byte("new")}); stale != 1 {
		t.Fatalf("stale = %d, want 1", stale)
	}
	s.Restore(&storage.Message{Seq: 3, State: storage.Queued, QoS: 1, Topic: "t", Payload: []byte("queued")})
	s.Attach(&kicked{})
	out, _ := s.Take(nil, 10, 10, time.Now())
	if payloads(out) != "new'queued'" {
		t.Fatalf("after restore: %q, want the later message resent with DUP, then the queued one (with DUP: it may have gone out before)", payloads(out))
	}
}

// TestSentStateStoredForQoS2Only: taking a QoS 1 delivery writes nothing
// (its record stays Queued until the PUBACK deletes it); a QoS 2 one's
// packet id is stored before it goes out.
func TestSentStateStoredForQoS2Only(t *testing.T) {
	st := storage.NewMem()
	s := New("c", 1, Limits{MaxQueueBytes: 1 << 20, MaxInflightBytes: 1 << 20})
	s.SetStore(st)
	s.Attach(&kicked{})
	s.Enqueue(Delivery{Msg: msg("one", 1), QoS: 1})
	s.Enqueue(Delivery{Msg: msg("two", 2), QoS: 2})
	out, _ := s.Take(nil, 10, 10, time.Now())
	for i := 0; len(out) < 2 && i < 10; i++ { // the QoS 2 one waits for its record (resolved at once in Mem)
		more, _ := s.Take(nil, 10, 10, time.Now())
		out = append(out, more...)
	}
	if payloads(out) != "onetwo" {
		t.Fatalf("took %q", payloads(out))
	}
	var states []storage.MessageState
	var ids []uint16
	st.Messages("c", func(m storage.Message) error {
		states, ids = append(states, m.State), append(ids, m.PacketID)
		return nil
	})
	if len(states) != 2 || states[0] != storage.Queued || states[1] != storage.AwaitingPubrec || ids[1] != out[1].PacketID {
		t.Fatalf("stored states %v ids %v, want [Queued AwaitingPubrec] with the QoS 2 packet id %d", states, ids, out[1].PacketID)
	}
	s.Puback(out[0].PacketID)
	n := 0
	st.Messages("c", func(storage.Message) error { n++; return nil })
	if n != 1 {
		t.Fatalf("%d records after the PUBACK, want 1", n)
	}
}

// TestTakeAllocatesNothing: taking QoS 0 deliveries from a clean session
// allocates nothing (its journal batch was moved to the heap by every
// call, persistent session or not: 384 bytes per write batch).
func TestTakeAllocatesNothing(t *testing.T) {
	s := New("c", 1, Limits{MaxQueueBytes: 1 << 20, MaxInflightBytes: 1 << 20})
	s.Attach(&kicked{})
	m := msg("a", 0)
	out := make([]Outgoing, 0, 4)
	now := time.Now()
	if n := testing.AllocsPerRun(100, func() {
		s.Enqueue(Delivery{Msg: m})
		out, _ = s.Take(out[:0], 4, 10, now)
	}); n != 0 {
		t.Fatalf("%v allocations per Enqueue and Take", n)
	}
}
