package broker

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// TestMemoryTrimmer: after a burst of garbage, a quiet process's trimmer
// collects and gives the free pages back (it counts a trim); stopping its
// last user ends it; a negative interval starts nothing.
func TestMemoryTrimmer(t *testing.T) {
	startTrimmer(-1, nil)() // never started, nothing to stop
	trimmer.mu.Lock()
	before, users := trimmer.trims, trimmer.users
	trimmer.mu.Unlock()
	if users != 0 {
		t.Skip("another server's trimmer runs in this process")
	}
	// Live memory well above trimSlack, then as much garbage: resident
	// is then about twice the live heap, and nothing allocates after.
	live := make([][]byte, 0, 64)
	for range 64 {
		live = append(live, make([]byte, 256<<10))
	}
	var garbage [][]byte
	for range 64 {
		garbage = append(garbage, make([]byte, 256<<10))
	}
	runtime.KeepAlive(garbage)
	garbage = nil
	runtime.GC() // /gc/heap/live reflects live; the garbage's pages are free
	var hooked atomic.Int32
	stop := startTrimmer(20*time.Millisecond, func() { hooked.Add(1) })
	deadline := time.Now().Add(10 * time.Second)
	trimmed := false
	for time.Now().Before(deadline) && !trimmed {
		time.Sleep(20 * time.Millisecond)
		trimmer.mu.Lock()
		trimmed = trimmer.trims > before
		trimmer.mu.Unlock()
	}
	stop()
	stop() // idempotent
	runtime.KeepAlive(live)
	if !trimmed {
		t.Fatal("the trimmer did not trim a quiet heap with as much free as live")
	}
	runtime.KeepAlive(hooked.Load()) // a quiet start: the hook runs after traffic only (TestTrimHookAfterTraffic)
	trimmer.mu.Lock()
	defer trimmer.mu.Unlock()
	if trimmer.users != 0 {
		t.Fatalf("%d users after stop", trimmer.users)
	}
}

// TestShouldTrim: the trimmer's decision. The first quiet look after a
// busy one trims what the peak left resident even when the live figure
// (from the last collection, at the peak) makes it look small; that case
// was missed at first (a broker kept 338 MB for good after a load whose
// last collection saw 300 MB live).
func TestShouldTrim(t *testing.T) {
	const mb = 1 << 20
	for _, c := range []struct {
		name           string
		quiet, wasBusy bool
		live, resident uint64
		want           bool
	}{
		{"busy", false, false, 100 * mb, 300 * mb, false},
		{"still busy", false, true, 100 * mb, 300 * mb, false},
		{"quiet, little headroom", true, false, 100 * mb, 120 * mb, false},
		{"quiet, much headroom", true, false, 100 * mb, 200 * mb, true},
		{"first quiet look after a peak", true, true, 300 * mb, 338 * mb, true},
		{"first quiet look, nothing left over", true, true, 300 * mb, 300*mb + mb/2, false},
		{"quiet, tiny heap", true, false, 1 * mb, 2 * mb, false},
		{"first quiet look after a peak, small heap", true, true, 5 * mb, 7 * mb, true},
		{"no collection yet", true, true, 0, 50 * mb, false},
	} {
		if got := shouldTrim(c.quiet, c.wasBusy, c.live, c.resident); got != c.want {
			t.Errorf("%s: shouldTrim %v, want %v", c.name, got, c.want)
		}
	}
}

// TestTrimHookAfterTraffic: a user's onTrim hook runs at the first quiet
// look after a busy one (the broker ends its event loop's idle workers
// there), not while the process allocates, and not again while it stays
// quiet.
func TestTrimHookAfterTraffic(t *testing.T) {
	trimmer.mu.Lock()
	users := trimmer.users
	trimmer.mu.Unlock()
	if users != 0 {
		t.Skip("another server's trimmer runs in this process")
	}
	live := make([][]byte, 0, 16)
	for range 16 {
		live = append(live, make([]byte, 256<<10)) // 4 MB live: busy means 512 KB per look
	}
	runtime.GC()
	var hooked atomic.Int32
	stop := startTrimmer(50*time.Millisecond, func() { hooked.Add(1) })
	defer stop()
	// Busy: well over an eighth of the live heap allocated per look.
	var sink []byte
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
		sink = make([]byte, 64<<10)
		time.Sleep(100 * time.Microsecond)
	}
	runtime.KeepAlive(sink)
	deadline := time.Now().Add(10 * time.Second)
	for hooked.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if hooked.Load() == 0 {
		t.Fatal("the hook did not run after the traffic stopped")
	}
	time.Sleep(300 * time.Millisecond) // six quiet looks
	if n := hooked.Load(); n != 1 {
		t.Errorf("the hook ran %d times for one quiet spell, want 1", n)
	}
	runtime.KeepAlive(live)
}
