package storage

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The store's on-disk format must keep loading: testdata/format-v1 is a
// data directory written by the code of main at e519e3a (before the group
// commit rework), holding every kind of record. TestFormatV1Loads opens a
// copy with today's code and reads everything back; a change that could
// not read it would strand every user's --data DIR.
//
// The fixture was made with
//
//	MQTTBOARD_WRITE_FORMAT_FIXTURE=1 go test -run TestFormatV1Loads ./broker/storage/
//
// on that commit; do not regenerate it with newer code.

func formatV1Batch() *Batch {
	var b Batch
	a := sampleSession("alice")
	b.PutSession(a)
	bob := sampleSession("bob")
	bob.Will = nil
	bob.DisconnectedAt = time.Time{} // the broker died while bob was connected
	bob.Protocol = 4
	b.PutSession(bob)
	for seq, st := range []MessageState{Queued, AwaitingPuback, AwaitingPubrec, AwaitingPubcomp, Queued} {
		m := sampleMessage(uint64(seq+1), st)
		if st == AwaitingPuback {
			m.QoS = 1
		}
		if seq == 4 {
			m.Expires = t0.Add(24 * time.Hour)
			m.Payload = nil
		}
		b.PutMessage("alice", m)
	}
	b.PutMessage("bob", sampleMessage(7, Queued))
	b.MarkInbound("alice", 9)
	b.MarkInbound("alice", 65535)
	b.PutRetained(Retained{Topic: "r/1", Payload: []byte("one"), QoS: 1, Props: sampleProps(), Created: t0})
	b.PutRetained(Retained{Topic: "\x0042\x00r/2", Payload: []byte("two"), Created: t0, Expires: t0.Add(time.Hour)})
	b.PutKV("tokens", "k1", []byte(`{"id":1}`))
	return &b
}

// copyDir copies the store file and, when there is one, the journal.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	for _, name := range []string{FileName, JournalFileName} {
		src, err := os.Open(filepath.Join(from, name))
		if name == JournalFileName && os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		dst, err := os.Create(filepath.Join(to, name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(dst, src); err != nil {
			t.Fatal(err)
		}
		if err := dst.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFormatV1Loads(t *testing.T) {
	fixture := filepath.Join("testdata", "format-v1")
	if os.Getenv("MQTTBOARD_WRITE_FORMAT_FIXTURE") == "1" {
		os.RemoveAll(fixture)
		s, err := Open(fixture, Options{})
		if err != nil {
			t.Fatal(err)
		}
		mustApply(t, s, formatV1Batch())
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(fixture, "LOCK"))
		return
	}
	dir := t.TempDir()
	copyDir(t, fixture, dir)
	s := openTestBolt(t, dir, Options{})
	want := NewMem()
	mustApply(t, want, formatV1Batch())
	equal(t, "sessions", allSessions(t, s), allSessions(t, want))
	for _, id := range []string{"alice", "bob"} {
		equal(t, "messages of "+id, allMessages(t, s, id), allMessages(t, want, id))
	}
	equal(t, "retained", allRetained(t, s), allRetained(t, want))
	v, ok, err := s.GetKV("tokens", "k1")
	if err != nil || !ok || string(v) != `{"id":1}` {
		t.Fatalf("GetKV = %q, %v, %v", v, ok, err)
	}
	// And it keeps working: today's writes on the old file.
	write := func() *Batch {
		var b Batch
		b.DeleteMessage("alice", 1)
		b.PutMessage("alice", sampleMessage(6, Queued))
		return &b
	}
	mustApply(t, s, write())
	mustApply(t, want, write())
	equal(t, "messages after a write", allMessages(t, s, "alice"), allMessages(t, want, "alice"))
}

// testdata/format-v2-journal is a data directory as a broker with the
// journal leaves it when killed: everything of formatV1Batch (and one
// deletion) in the journal, nothing of it in the file yet, whose format
// mark is the journal's. TestFormatV2JournalLoads reads it back, so a
// later change keeps replaying journals that crashed brokers left.
//
// The fixture was made with
//
//	MQTTBOARD_WRITE_FORMAT_FIXTURE=2 go test -run TestFormatV2JournalLoads ./broker/storage/
//
// at the commit that added the journal; do not regenerate it with newer code.
func TestFormatV2JournalLoads(t *testing.T) {
	fixture := filepath.Join("testdata", "format-v2-journal")
	later := func() *Batch {
		var b Batch
		b.DeleteMessage("alice", 2)
		b.PutRetained(Retained{Topic: "r/3", Payload: []byte("three"), Created: t0})
		return &b
	}
	if os.Getenv("MQTTBOARD_WRITE_FORMAT_FIXTURE") == "2" {
		dir := t.TempDir()
		s := openTestBolt(t, dir, Options{})
		mustApply(t, s, formatV1Batch())
		mustApply(t, s, later())
		crashed := snapshotDir(t, dir)
		os.RemoveAll(fixture)
		if err := os.MkdirAll(fixture, 0o755); err != nil {
			t.Fatal(err)
		}
		copyDir(t, crashed, fixture)
		return
	}
	if mark, _, queues := fileMark(t, fixture); mark != formatMarkJournal || len(queues) != 0 {
		t.Fatalf("fixture: mark %q, queues %q in the file; want the journal's mark and everything in the journal", mark, queues)
	}
	dir := t.TempDir()
	copyDir(t, fixture, dir)
	s := openTestBolt(t, dir, Options{})
	want := NewMem()
	mustApply(t, want, formatV1Batch())
	mustApply(t, want, later())
	equal(t, "sessions", allSessions(t, s), allSessions(t, want))
	for _, id := range []string{"alice", "bob"} {
		equal(t, "messages of "+id, allMessages(t, s, id), allMessages(t, want, id))
	}
	equal(t, "retained", allRetained(t, s), allRetained(t, want))
	v, ok, err := s.GetKV("tokens", "k1")
	if err != nil || !ok || string(v) != `{"id":1}` {
		t.Fatalf("GetKV = %q, %v, %v", v, ok, err)
	}
}
