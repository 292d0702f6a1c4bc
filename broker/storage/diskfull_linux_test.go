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

// TestBoltDiskFull makes every write of the store's file fail, as a full
// disk does, by putting a read-only descriptor of the same file under the
// descriptor bbolt writes through (bbolt takes no file-system interface).
// The commit must fail with ErrWrite and store nothing; earlier commits
// stay readable; once writes work again the store goes on.
func TestBoltDiskFull(t *testing.T) {
	dir := t.TempDir()
	var file *os.File
	s, err := openBolt(dir, Options{}, func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag, perm)
		file = f
		return f, err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var b Batch
	b.PutMessage("c", sampleMessage(1, Queued))
	mustApply(t, s, &b)

	fd := int(file.Fd())
	saved, err := syscall.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(saved)
	ro, err := os.Open(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := syscall.Dup3(int(ro.Fd()), fd, syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}

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

	if err := syscall.Dup3(saved, fd, syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
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
