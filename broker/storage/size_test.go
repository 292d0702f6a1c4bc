package storage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestBoltSize: Size is the store file's and its journal's size on disk,
// it grows as records are written, and a closed store says so.
func TestBoltSize(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	before, err := s.Size()
	if err != nil || before <= 0 {
		t.Fatalf("Size of a new store: %d, %v", before, err)
	}
	var b Batch
	for i := range 64 {
		m := sampleMessage(uint64(i+1), Queued)
		m.Payload = bytes.Repeat([]byte{byte(i)}, 64<<10)
		b.PutMessage("c", m)
	}
	mustApply(t, s, &b)
	after, err := s.Size()
	fi, serr := os.Stat(filepath.Join(dir, FileName))
	ji, jerr := os.Stat(filepath.Join(dir, JournalFileName))
	if err != nil || serr != nil || jerr != nil || after != fi.Size()+ji.Size() || after < before+64*64<<10 {
		t.Fatalf("Size after 4 MiB of messages: %d (%v), files %v (%v) + %v (%v), before %d", after, err, fi.Size(), serr, ji.Size(), jerr, before)
	}
	s.Close()
	if _, err := s.Size(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Size after Close: %v", err)
	}
}
