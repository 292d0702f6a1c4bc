package enginebench

import (
	"strings"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// The broker must answer a full disk with 0x97 and keep serving, so an
// engine has to return a write error from a commit and stay usable. This
// test injects ENOSPC into Pebble's WAL writes and records what happens
// (bbolt's side is TestBoltDiskFull in broker/storage, on the real store).

type fatalLogger struct{}

func (fatalLogger) Infof(string, ...any)  {}
func (fatalLogger) Errorf(string, ...any) {}
func (fatalLogger) Fatalf(format string, args ...any) {
	panic("pebble Fatalf: " + format)
}

func TestPebbleWALWriteError(t *testing.T) {
	toggle := &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind.ReadOrWrite() == errorfs.OpIsWrite && strings.HasSuffix(op.Path, ".log") {
			return syscall.ENOSPC
		}
		return nil
	})}
	fs := errorfs.Wrap(vfs.NewMem(), toggle)
	db, err := pebble.Open("", &pebble.Options{FS: fs, Logger: fatalLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte("a"), []byte("1"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	toggle.On()
	var got any
	func() {
		defer func() { got = recover() }()
		got = db.Set([]byte("b"), make([]byte, 1<<10), pebble.Sync)
	}()
	t.Logf("pebble commit with ENOSPC on the WAL: %v", got)
	if _, ok := got.(error); !ok || got == nil {
		t.Logf("pebble does not return the error: it panics or calls Logger.Fatalf")
	}
}
