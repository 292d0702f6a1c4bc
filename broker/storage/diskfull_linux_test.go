//go:build linux

package storage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestBoltDiskFull makes every write of the store's files (the bbolt file
// and its journal) fail, as a full disk does, by putting a read-only
// descriptor of the same file under the descriptor the store writes
// through (bbolt takes no file-system interface). The commit must fail
// with ErrWrite and store nothing; earlier commits stay readable; once
// writes work again the store goes on.
func TestBoltDiskFull(t *testing.T) {
	dir := t.TempDir()
	files := map[string]*os.File{}
	s, err := openBolt(dir, Options{}, func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag, perm)
		files[filepath.Base(name)] = f
		return f, err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var b Batch
	b.PutMessage("c", sampleMessage(1, Queued))
	mustApply(t, s, &b)

	restore := readOnly(t, dir, files[FileName], files[JournalFileName])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 3 { // it keeps failing cleanly, not only once
		b = Batch{}
		b.PutMessage("c", sampleMessage(uint64(2+i), Queued))
		b.PutRetained(Retained{Topic: "lost", Payload: make([]byte, 10000)})
		err = s.Apply(&b).Wait(ctx)
		if !errors.Is(err, ErrWrite) {
			t.Fatalf("commit on a full disk = %v, want ErrWrite", err)
		}
	}
	equal(t, "queue while full", allMessages(t, s, "c"), []Message{sampleMessage(1, Queued)})

	restore()
	b = Batch{}
	b.PutMessage("c", sampleMessage(9, Queued))
	mustApply(t, s, &b)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openTestBolt(t, dir, Options{})
	equal(t, "queue after space came back", allMessages(t, s2, "c"),
		[]Message{sampleMessage(1, Queued), sampleMessage(9, Queued)})
	if got := allRetained(t, s2); len(got) != 0 {
		t.Fatalf("a failed commit left retained %+v", got)
	}
}

// TestBoltFileFullJournalNot: when only the bbolt file cannot be written
// (a disk that fills after the journal reached its size, so the journal
// overwrites blocks it has), commits go on into the journal and are
// acknowledged (they are durable there), reads see them, and the
// checkpoint that failed succeeds once space is back. When the journal is
// full too, commits fail with ErrWrite.
func TestBoltFileFullJournalNot(t *testing.T) {
	dir := t.TempDir()
	files := map[string]*os.File{}
	// fsync never: this test fills the journal; what it checks does not
	// depend on syncs.
	s, err := openBolt(dir, Options{Fsync: FsyncNever}, func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag, perm)
		files[filepath.Base(name)] = f
		return f, err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	restore := readOnly(t, dir, files[FileName])
	var b Batch
	b.PutMessage("c", sampleMessage(1, Queued))
	mustApply(t, s, &b)
	equal(t, "queue while the file is full", allMessages(t, s, "c"), []Message{sampleMessage(1, Queued)})

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	full, stored := false, 0
	for seq := uint64(1); seq < 2*journalBytes/(60<<10) && !full; seq++ {
		b = Batch{}
		b.PutMessage("big", Message{Seq: seq, QoS: 1, Topic: "big", Payload: make([]byte, 60<<10)})
		err := s.Apply(&b).Wait(ctx)
		switch {
		case errors.Is(err, ErrWrite):
			full = true
		case err != nil:
			t.Fatal(err)
		default:
			stored++
		}
	}
	if !full {
		t.Fatal("twice the journal's size went through while the file could not be written")
	}

	restore()
	b = Batch{}
	b.PutMessage("c", sampleMessage(9, Queued))
	mustApply(t, s, &b)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openTestBolt(t, dir, Options{})
	equal(t, "queue after space came back", allMessages(t, s2, "c"),
		[]Message{sampleMessage(1, Queued), sampleMessage(9, Queued)})
	if n := len(allMessages(t, s2, "big")); n != stored || n == 0 {
		t.Fatalf("%d large messages after space came back, want the %d acknowledged", n, stored)
	}
}

// readOnly puts a read-only descriptor of each file under the store's
// descriptor of it; the returned function puts the writable ones back.
func readOnly(t *testing.T, dir string, files ...*os.File) (restore func()) {
	t.Helper()
	var undo []func()
	for _, f := range files {
		fd := int(f.Fd())
		saved, err := syscall.Dup(fd)
		if err != nil {
			t.Fatal(err)
		}
		ro, err := os.Open(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Dup3(int(ro.Fd()), fd, syscall.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		ro.Close()
		undo = append(undo, func() {
			if err := syscall.Dup3(saved, fd, syscall.O_CLOEXEC); err != nil {
				t.Fatal(err)
			}
			syscall.Close(saved)
		})
	}
	return func() {
		for _, u := range undo {
			u()
		}
	}
}
