//go:build unix

package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes an exclusive lock on DIR/LOCK for the store's lifetime.
// bbolt locks its own file too, but Compact replaces that file, and the
// directory must stay locked while it does.
func lockDir(dir string) (release func(), err error) {
	path := filepath.Join(dir, "LOCK")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("storage: lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is locked; stop the other broker or give this one another --data directory", ErrLocked, path)
		}
		return nil, fmt.Errorf("storage: lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
