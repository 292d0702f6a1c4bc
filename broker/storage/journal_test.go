package storage

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// snapshotDir copies the store's files as they are now into a new
// directory: what a kill -9 at this instant leaves (the committer is idle
// once the commits the caller waited for resolved, and every write went to
// the files through the page cache).
func snapshotDir(t *testing.T, dir string) string {
	t.Helper()
	to := t.TempDir()
	for _, name := range []string{FileName, JournalFileName} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

// fileMark is the format mark and the journal epoch in dir's file, read
// with bbolt directly.
func fileMark(t *testing.T, dir string) (mark string, epoch uint64, queues []string) {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(dir, FileName), 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		mark = string(meta.Get(keyFormat))
		if v := meta.Get(keyJournalEpoch); len(v) == 8 {
			epoch = binary.BigEndian.Uint64(v)
		}
		return tx.Bucket(bucketQueues).ForEach(func(k, _ []byte) error {
			queues = append(queues, string(k[1:]))
			return nil
		})
	})
	return mark, epoch, queues
}

// journalBatches are several groups' worth of changes, each waited for: a
// put deleted by a later group (it must stay deleted after recovery), a
// session, a retained message replaced and another deleted, a key.
func journalBatches(t *testing.T, s Store) {
	t.Helper()
	apply := func(fill func(b *Batch)) {
		var b Batch
		fill(&b)
		mustApply(t, s, &b)
	}
	apply(func(b *Batch) {
		b.PutSession(sampleSession("j"))
		for seq := uint64(1); seq <= 4; seq++ {
			b.PutMessage("j", sampleMessage(seq, Queued))
		}
		b.PutRetained(Retained{Topic: "keep", Payload: []byte("v1"), Created: t0})
		b.PutRetained(Retained{Topic: "drop", Payload: []byte("x"), Created: t0})
	})
	apply(func(b *Batch) {
		b.DeleteMessage("j", 2)
		b.PutMessage("j", sampleMessage(3, AwaitingPubrec))
		b.PutRetained(Retained{Topic: "keep", Payload: []byte("v2"), Created: t0})
		b.MarkInbound("j", 77)
	})
	apply(func(b *Batch) {
		b.DeleteRetained("drop")
		b.PutKV("tokens", "t1", []byte("one"))
		b.PutMessage("j", sampleMessage(5, Queued))
		b.DeleteMessage("j", 5) // cancelled inside the group
	})
}

// TestJournalRecoversAfterCrash: what was committed into the journal and
// not yet checkpointed into the file comes back at Open, deletions
// included, and the format mark says so meanwhile.
func TestJournalRecoversAfterCrash(t *testing.T) {
	for _, m := range []FsyncMode{FsyncBatch, FsyncNever} {
		t.Run(m.String(), func(t *testing.T) {
			dir := t.TempDir()
			s := openTestBolt(t, dir, Options{Fsync: m})
			want := NewMem()
			journalBatches(t, s)
			journalBatches(t, want)
			crashed := snapshotDir(t, dir)

			mark, epoch, queues := fileMark(t, crashed)
			if mark != formatMarkJournal || epoch == 0 || len(queues) != 0 {
				t.Fatalf("file before recovery: mark %q, epoch %d, queues %q; want the journal's mark, an epoch, no queue (all in the journal)", mark, epoch, queues)
			}
			r := openTestBolt(t, crashed, Options{Fsync: m})
			equal(t, "sessions", allSessions(t, r), allSessions(t, want))
			equal(t, "messages", allMessages(t, r, "j"), allMessages(t, want, "j"))
			equal(t, "retained", allRetained(t, r), allRetained(t, want))
			if v, ok, err := r.GetKV("tokens", "t1"); err != nil || !ok || string(v) != "one" {
				t.Fatalf("GetKV = %q, %v, %v", v, ok, err)
			}

			// A clean Close leaves an empty journal and the old mark: builds
			// from before the journal open the directory.
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			if mark, _, _ := fileMark(t, crashed); mark != formatMark {
				t.Fatalf("mark after a clean Close: %q, want %q", mark, formatMark)
			}
		})
	}
}

// TestJournalTornFrameDropped: a last frame cut short or damaged (its
// sync never returned, so nothing in it was acknowledged) is ignored; the
// frames before it are recovered.
func TestJournalTornFrameDropped(t *testing.T) {
	dir := t.TempDir()
	s := openTestBolt(t, dir, Options{})
	var b Batch
	b.PutMessage("t", sampleMessage(1, Queued))
	mustApply(t, s, &b)
	b = Batch{}
	b.PutMessage("t", sampleMessage(2, Queued))
	mustApply(t, s, &b)
	for name, damage := range map[string]func(j []byte) []byte{
		"cut":     func(j []byte) []byte { return j[:len(j)-3] },
		"flipped": func(j []byte) []byte { j[len(j)-5] ^= 0x40; return j },
	} {
		t.Run(name, func(t *testing.T) {
			crashed := snapshotDir(t, dir)
			jp := filepath.Join(crashed, JournalFileName)
			j, err := os.ReadFile(jp)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(jp, damage(j), 0o600); err != nil {
				t.Fatal(err)
			}
			r := openTestBolt(t, crashed, Options{})
			equal(t, "messages", allMessages(t, r, "t"), []Message{sampleMessage(1, Queued)})
		})
	}
}

// TestJournalOldEpochNotReplayed: after a checkpoint the journal starts
// again from offset 0 with the next epoch, over the previous epoch's
// frames; recovery must stop at the first of those. Here the new epoch
// deletes what the old frames put: replaying them would bring the
// messages back.
func TestJournalOldEpochNotReplayed(t *testing.T) {
	dir := t.TempDir()
	s := openTestBolt(t, dir, Options{})
	for seq := uint64(1); seq <= 6; seq++ {
		var b Batch
		m := sampleMessage(seq, Queued)
		m.Payload = bytes.Repeat([]byte{byte(seq)}, 10)
		b.PutMessage("o", m)
		mustApply(t, s, &b)
	}
	if n := len(allMessages(t, s, "o")); n != 6 { // the read checkpoints
		t.Fatalf("%d messages, want 6", n)
	}
	var b Batch
	for seq := uint64(2); seq <= 6; seq++ {
		b.DeleteMessage("o", seq)
	}
	mustApply(t, s, &b)
	crashed := snapshotDir(t, dir)
	r := openTestBolt(t, crashed, Options{})
	if got := allMessages(t, r, "o"); len(got) != 1 || got[0].Seq != 1 {
		t.Fatalf("after recovery: %d messages, want only seq 1", len(got))
	}
}

// TestJournalFramesStopAtEpochAndSeq: frame by frame, the reader takes
// only the current epoch's frames in seq order from offset 0.
func TestJournalFramesStopAtEpochAndSeq(t *testing.T) {
	frame := func(epoch, seq uint64, key string) []byte {
		g := newGroup()
		g.add(prim{bucket: bucketRetained, key: g.name('t', key), value: g.raw([]byte("v"))})
		j := &journal{epoch: epoch, seq: seq}
		return bytes.Clone(j.frame(g, nil))
	}
	keys := func(data []byte, epoch uint64) []string {
		g, err := replayFrames(data, epoch)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range g.prims {
			out = append(out, string(g.bytes(p.key)[1:]))
		}
		return out
	}
	var data []byte
	data = append(data, frame(5, 0, "a")...)
	data = append(data, frame(5, 1, "b")...)
	data = append(data, frame(4, 2, "old")...) // a previous epoch's
	data = append(data, frame(5, 2, "after-old")...)
	equal(t, "epoch 5", keys(data, 5), []string{"a", "b"})
	equal(t, "epoch 4", keys(data, 4), []string(nil))

	data = append(frame(5, 0, "a"), frame(5, 2, "skipped-seq")...)
	equal(t, "a gap in seq", keys(data, 5), []string{"a"})
}

// TestJournalBadOperationIsCorrupt: a frame whose checksum holds but whose
// operations do not decode is damage to report, naming the journal file.
func TestJournalBadOperationIsCorrupt(t *testing.T) {
	payload := []byte{jPut | jNested, 99, 1, 'x'} // bucket 99
	h := make([]byte, frameHeader)
	binary.LittleEndian.PutUint32(h, uint32(len(payload)))
	binary.LittleEndian.PutUint64(h[8:], 1)
	data := append(h, payload...)
	binary.LittleEndian.PutUint32(data[4:], crc32.Checksum(data[8:], castagnoli))
	dir := t.TempDir()
	s := openTestBolt(t, dir, Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Make epoch 1 the file's current one, with the frame above.
	db, err := bbolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bbolt.Tx) error { return markEpoch(tx, 1, formatMarkJournal) })
	db.Close()
	if err := os.WriteFile(filepath.Join(dir, JournalFileName), data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Open(dir, Options{})
	wantCorrupt(t, err, filepath.Join(dir, JournalFileName))
}

// TestJournalFullCheckpoints: more than the journal holds goes through,
// checkpoint after checkpoint (each delete lands in a later group than its
// put, so both are journaled), and comes back after a crash.
func TestJournalFullCheckpoints(t *testing.T) {
	dir := t.TempDir()
	s := openTestBolt(t, dir, Options{Fsync: FsyncNever})
	payload := make([]byte, 60<<10)
	const n = 3 * journalBytes / (60 << 10)
	for seq := uint64(1); seq <= n; seq++ {
		var b Batch
		b.PutMessage("f", Message{Seq: seq, QoS: 1, Topic: "f", Payload: payload})
		if seq > 1 {
			b.DeleteMessage("f", seq-1)
		}
		mustApply(t, s, &b)
	}
	if fi, err := os.Stat(filepath.Join(dir, JournalFileName)); err != nil || fi.Size() > journalBytes {
		t.Fatalf("journal: %v, %v; want at most %d bytes", fi.Size(), err, journalBytes)
	}
	crashed := snapshotDir(t, dir)
	if _, epoch, _ := fileMark(t, crashed); epoch < 3 {
		t.Fatalf("journal epoch %d: the journal never filled and checkpointed", epoch)
	}
	r := openTestBolt(t, crashed, Options{})
	if got := allMessages(t, r, "f"); len(got) != 1 || got[0].Seq != n {
		t.Fatalf("after recovery: %d messages, want only seq %d", len(got), n)
	}
}

// FuzzJournalReplay: whatever the journal file holds, reading it returns
// operations or an error, never a panic, and every span it returns lies
// inside the data.
func FuzzJournalReplay(f *testing.F) {
	g := newGroup()
	var b Batch
	b.PutSession(sampleSession("z"))
	b.PutMessage("z", sampleMessage(1, Queued))
	b.DeleteMessage("z", 9)
	b.DeleteSession("gone")
	b.PutKV("s", "k", []byte("v"))
	st := new(group)
	st.encode(&b)
	g.merge(st)
	j := &journal{epoch: 1}
	f.Add(bytes.Clone(j.frame(g, nil)), uint64(1))
	j.seq = 1
	two := append(bytes.Clone(j.buf), j.frame(g, nil)...)
	f.Add(two, uint64(1))
	f.Add([]byte{}, uint64(0))
	f.Fuzz(func(t *testing.T, data []byte, epoch uint64) {
		g, err := replayFrames(data, epoch)
		if err != nil {
			return
		}
		for _, p := range g.prims {
			for _, sp := range []span{p.sub, p.key, p.value} {
				if sp.off < 0 || sp.n < 0 || sp.off+sp.n > len(data) {
					t.Fatalf("span %+v outside %d bytes", sp, len(data))
				}
			}
		}
	})
}

// TestOverlayCancelsAcrossGroups: a queued message put in one group and
// deleted in a later one (a delivery acknowledged after its group was
// journaled: most of them under load) cancels in the overlay and never
// reaches the bbolt file, also when the session's seqs between were
// cancelled inside their own groups (gaps in the fresh-put run).
func TestOverlayCancelsAcrossGroups(t *testing.T) {
	dir := t.TempDir()
	s := openTestBolt(t, dir, Options{Fsync: FsyncNever})
	sessions := []string{"p1", "p2", "p3"}
	seq := map[string]uint64{}
	var prev map[string][]uint64
	for range 50 {
		var b Batch
		cur := map[string][]uint64{}
		for _, id := range sessions {
			for range 20 {
				seq[id]++
				b.PutMessage(id, Message{Seq: seq[id], QoS: 1, Topic: "t", Payload: []byte("x")})
				cur[id] = append(cur[id], seq[id])
			}
			for range 100 { // acknowledged within the group: a gap of 100 seqs
				seq[id]++
				b.PutMessage(id, Message{Seq: seq[id], QoS: 1, Topic: "t", Payload: []byte("x")})
				b.DeleteMessage(id, seq[id])
			}
			for _, q := range prev[id] { // the previous group's, after this one's puts
				b.DeleteMessage(id, q)
			}
		}
		mustApply(t, s, &b)
		prev = cur
	}
	// Only the last group's 20 puts per session are left: everything else
	// cancelled, in its group or in the overlay.
	if n := s.ov.live(); n != 20*len(sessions) {
		t.Fatalf("%d operations live in the overlay, want %d", n, 20*len(sessions))
	}
	for _, id := range sessions {
		if got := allMessages(t, s, id); len(got) != 20 || got[0].Seq != seq[id]-119 {
			t.Fatalf("%s: %d messages, first %d", id, len(got), got[0].Seq)
		}
	}
}

// TestJournalEmptyValues: empty values and payloads (a key stored with
// nothing) survive the journal, its checkpoint and its replay.
func TestJournalEmptyValues(t *testing.T) {
	dir := t.TempDir()
	s := openTestBolt(t, dir, Options{})
	var b Batch
	b.PutKV("s", "empty", []byte{})
	b.PutRetained(Retained{Topic: "r", Created: t0})
	mustApply(t, s, &b)
	b = Batch{}
	b.PutKV("s", "full", []byte("x"))
	mustApply(t, s, &b)
	crashed := snapshotDir(t, dir)
	check := func(s Store) {
		t.Helper()
		if v, ok, err := s.GetKV("s", "empty"); err != nil || !ok || len(v) != 0 {
			t.Fatalf("GetKV empty = %q, %v, %v", v, ok, err)
		}
		if got := allRetained(t, s); len(got) != 1 || got[0].Topic != "r" {
			t.Fatalf("retained %+v", got)
		}
	}
	check(s) // through a checkpoint
	check(openTestBolt(t, crashed, Options{}))
}
