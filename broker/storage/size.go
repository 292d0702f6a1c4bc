package storage

import (
	"os"
	"path/filepath"
)

// Sizer is a [Store] that can say how much room it takes. The broker's
// metrics report it (mqttboard_store_bytes, the REST API's /metrics) when
// its store is one; [Mem] is not, as it holds nothing on disk. It is a
// separate interface so that an engine without a meaningful figure (a
// replicated one) need not invent one.
type Sizer interface {
	// Size returns the bytes the store takes on disk now.
	Size() (int64, error)
}

var _ Sizer = (*Bolt)(nil)

// Size implements [Sizer]: the size of the store's file, pages freed by
// deletions included (they are reused, and given back by [Bolt.Compact]),
// plus its journal's (journal.go), which is what the disk holds.
func (s *Bolt) Size() (int64, error) {
	s.mu.RLock()
	closed := s.readersClosed
	s.mu.RUnlock()
	if closed {
		return 0, ErrClosed
	}
	fi, err := os.Stat(s.path)
	if err != nil {
		return 0, err
	}
	ji, err := os.Stat(filepath.Join(filepath.Dir(s.path), JournalFileName))
	if err != nil {
		return 0, err
	}
	return fi.Size() + ji.Size(), nil
}
