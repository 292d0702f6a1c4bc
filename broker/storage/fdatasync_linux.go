package storage

import (
	"os"
	"syscall"
)

// fdatasync flushes f's data (and the size, when it grew), not its
// timestamps: an append to the journal costs one flush, not a journal
// commit of the file system's own for the modification time.
func fdatasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}
