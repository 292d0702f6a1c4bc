package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/internal/testproc"
)

func openTestBolt(t *testing.T, dir string, opts Options) *Bolt {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func boltOpener(opts Options) opener {
	return opener{
		open: func(t *testing.T) Store { return openTestBolt(t, t.TempDir(), opts) },
		reopen: func(t *testing.T, s Store) Store {
			dir := filepath.Dir(s.(*Bolt).path)
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return openTestBolt(t, dir, opts)
		},
	}
}

func TestBoltConformance(t *testing.T) {
	for _, m := range []FsyncMode{FsyncBatch, FsyncAlways, FsyncNever} {
		t.Run(m.String(), func(t *testing.T) { runConformance(t, boltOpener(Options{Fsync: m})) })
	}
}

func TestBoltSecondOpenIsLocked(t *testing.T) {
	dir := t.TempDir()
	openTestBolt(t, dir, Options{})
	_, err := Open(dir, Options{})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), dir) {
		t.Fatalf("lock error does not name the file: %v", err)
	}
}

func TestBoltLockReleasedOnClose(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	openTestBolt(t, dir, Options{})
}

// writeSome commits one of each record so a damaged file has data to lose.
func writeSome(t *testing.T, dir string) {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b Batch
	for i := range 200 {
		b.PutSession(sampleSession("s" + string(rune('a'+i%26)) + string(rune('a'+i/26))))
		b.PutMessage("sa", sampleMessage(uint64(i), Queued))
		b.PutRetained(Retained{Topic: "t/" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Payload: make([]byte, 100)})
	}
	mustApply(t, s, &b)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// readAll opens dir and reads every record, returning the first error.
func readAll(dir string) error {
	s, err := Open(dir, Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	var ids []string
	if err := s.Sessions(func(ss Session) error { ids = append(ids, ss.ClientID); return nil }); err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.Messages(id, func(Message) error { return nil }); err != nil {
			return err
		}
	}
	return s.Retained(func(Retained) error { return nil })
}

func wantCorrupt(t *testing.T, err error, file string) {
	t.Helper()
	var ce *CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("error = %v, want a *CorruptError", err)
	}
	if ce.File != file || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "move the data directory aside") {
		t.Fatalf("corruption error does not name %s or say what to do: %v", file, err)
	}
}

func TestBoltTruncatedFile(t *testing.T) {
	for _, keep := range []int64{0, 100, 4096, 3 * 4096} {
		dir := t.TempDir()
		writeSome(t, dir)
		path := filepath.Join(dir, FileName)
		if keep == 0 {
			// An empty file is what a crash during creation leaves: bbolt
			// initialises it as a new store, which is right.
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			if err := readAll(dir); err != nil {
				t.Fatalf("empty file: %v", err)
			}
			continue
		}
		if err := os.Truncate(path, keep); err != nil {
			t.Fatal(err)
		}
		wantCorrupt(t, readAll(dir), path)
	}
}

func TestBoltGarbageFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	if err := os.WriteFile(path, []byte(strings.Repeat("not a database ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	wantCorrupt(t, readAll(dir), path)
}

// TestBoltFlippedBytes damages the file at many offsets; every outcome
// must be a clean read or a *CorruptError, never a panic.
func TestBoltFlippedBytes(t *testing.T) {
	src := t.TempDir()
	writeSome(t, src)
	orig, err := os.ReadFile(filepath.Join(src, FileName))
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(orig); off += 997 {
		dir := t.TempDir()
		bad := append([]byte{}, orig...)
		for i := off; i < off+16 && i < len(bad); i++ {
			bad[i] ^= 0xA5
		}
		path := filepath.Join(dir, FileName)
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := readAll(dir); err != nil {
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("damage at %d: error %v is not a *CorruptError", off, err)
			}
		}
	}
}

func TestBoltCorruptRecordNamesIt(t *testing.T) {
	dir := t.TempDir()
	s := openTestBolt(t, dir, Options{})
	// Write a damaged record under the store's own key layout.
	g := newGroup()
	g.add(prim{bucket: bucketRetained, key: g.name('t', "bad/topic"), value: g.raw([]byte{1, 200})})
	if err := s.write(g); err != nil {
		t.Fatal(err)
	}
	err := s.Retained(func(Retained) error { return nil })
	wantCorrupt(t, err, filepath.Join(dir, FileName))
	if !strings.Contains(err.Error(), "bad/topic") {
		t.Fatalf("error does not name the record: %v", err)
	}
}

func TestBoltCompactKeepsDataAndShrinks(t *testing.T) {
	dir := t.TempDir()
	s := openTestBolt(t, dir, Options{})
	var b Batch
	for i := range 2000 {
		b.PutMessage("big", Message{Seq: uint64(i), Payload: make([]byte, 2048)})
	}
	b.PutRetained(Retained{Topic: "keep", Payload: []byte("x")})
	mustApply(t, s, &b)
	// A read checkpoints the journal: the messages are in the file.
	if n := len(allMessages(t, s, "big")); n != 2000 {
		t.Fatalf("%d messages stored, want 2000", n)
	}
	b = Batch{}
	b.DeleteSession("big")
	mustApply(t, s, &b)
	path := filepath.Join(dir, FileName)
	before, _ := os.Stat(path)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(path)
	if after.Size() >= before.Size() {
		t.Fatalf("file %d bytes before Compact, %d after", before.Size(), after.Size())
	}
	b = Batch{}
	b.PutRetained(Retained{Topic: "after", Payload: []byte("y")})
	mustApply(t, s, &b)
	if got := allRetained(t, s); len(got) != 2 {
		t.Fatalf("retained after Compact: %+v", got)
	}
	// The lock still holds on the new file.
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("Open after Compact = %v, want ErrLocked", err)
	}
}

// TestBoltLockedAcrossProcesses opens DIR here and again in a child
// process (this test binary re-run), which must get ErrLocked.
func TestBoltLockedAcrossProcesses(t *testing.T) {
	if dir := os.Getenv("STORAGE_LOCK_CHILD"); dir != "" {
		_, err := Open(dir, Options{})
		if errors.Is(err, ErrLocked) {
			os.Stdout.WriteString("LOCKED: " + err.Error() + "\n")
			os.Exit(0)
		}
		os.Stdout.WriteString("NOT LOCKED: " + fmt.Sprint(err) + "\n")
		os.Exit(1)
	}
	dir := t.TempDir()
	openTestBolt(t, dir, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := testproc.Tie(exec.CommandContext(ctx, os.Args[0], "-test.run=^TestBoltLockedAcrossProcesses$"))
	cmd.Env = append(os.Environ(), "STORAGE_LOCK_CHILD="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "LOCKED: ") || !strings.Contains(string(out), "another --data directory") {
		t.Fatalf("child Open: %v\n%s", err, out)
	}
}

// A delivery acknowledged before its group was written never reaches the
// disk: its put and delete cancel out in the group. A state change in
// between (a QoS 2 record rewritten) must not let the delete be dropped.
func TestBoltGroupCancelsAckedPut(t *testing.T) {
	dir := t.TempDir()
	s := openTestBolt(t, dir, Options{})
	var b Batch
	b.PutMessage("s", sampleMessage(1, Queued))
	b.PutMessage("s", sampleMessage(2, Queued))
	b.DeleteMessage("s", 1)
	b.PutMessage("s", sampleMessage(3, Queued))
	b.PutMessage("s", sampleMessage(3, AwaitingPubrec))
	b.DeleteMessage("s", 3)
	b.PutMessage("s", sampleMessage(4, Queued))
	b.DeleteSession("s") // seqs start again after it
	b.PutMessage("s", sampleMessage(4, Queued))
	st := new(group)
	st.encode(&b)
	g := newGroup()
	g.merge(st)
	// Left: seq 2 (put), seq 3 (both puts, the delete), seq 4 (first put),
	// the session deletion (3 prims), seq 4 again; gone: seq 1's put and
	// delete.
	if n := g.live(); n != 9 {
		t.Fatalf("%d operations left in the group, want 9", n)
	}
	mustApply(t, s, &b)
	got := allMessages(t, s, "s")
	want := []Message{sampleMessage(4, Queued)}
	equal(t, "messages", got, want)

	// A record written by an earlier group is deleted by a later one.
	b = Batch{}
	b.DeleteMessage("s", 4)
	mustApply(t, s, &b)
	equal(t, "messages", len(allMessages(t, s, "s")), 0)
	if n := s.groups.Load(); n != 2 {
		t.Fatalf("%d transactions, want 2", n)
	}
}

// Batches share their group's Commit; Commits still resolve in Apply
// order, and one that follows a Compact waits for it.
func TestBoltCommitsInOrder(t *testing.T) {
	s := openTestBolt(t, t.TempDir(), Options{})
	var commits []*Commit
	for i := range 200 {
		var b Batch
		b.PutMessage("o", sampleMessage(uint64(i+1), Queued))
		commits = append(commits, s.Apply(&b))
		if i == 100 {
			go s.Compact(context.Background())
		}
	}
	for i, c := range commits {
		<-c.Durable()
		for _, earlier := range commits[:i] {
			if !isResolved(earlier) {
				t.Fatalf("commit %d resolved before commit an earlier one", i)
			}
		}
	}
	equal(t, "count", len(allMessages(t, s, "o")), 200)
}

func isResolved(c *Commit) bool {
	select {
	case <-c.Durable():
		return true
	default:
		return false
	}
}
