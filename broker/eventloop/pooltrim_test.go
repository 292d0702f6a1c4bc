package eventloop

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestPoolTrim: Trim ends every waiting worker (their goroutines exit,
// the pool's WaitGroup counts them done), and the pool goes on running
// tasks on new ones.
func TestPoolTrim(t *testing.T) {
	p := NewPool(8)
	defer p.Close()
	var n atomic.Int32
	done := make(chan struct{}, 8)
	release := make(chan struct{})
	started := make(chan struct{}, 8)
	for range 8 { // 8 workers at once, then idle
		p.Go(blockTask{started, release})
	}
	for range 8 {
		recv(t, started, "task start")
	}
	close(release)
	deadline := time.Now().Add(wait)
	for p.idle.Load() < 8 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := p.idle.Load(); got != 8 {
		t.Fatalf("%d idle workers before Trim, want 8", got)
	}
	p.Trim()
	if got := p.idle.Load(); got != 0 {
		t.Fatalf("%d idle workers after Trim", got)
	}
	// Every worker ended: Close's wait (for busy workers) returns at once.
	ended := make(chan struct{})
	go func() { p.wg.Wait(); close(ended) }()
	recv(t, ended, "the trimmed workers' end")
	p.Go(countTask{&n, done})
	recv(t, done, "task after Trim")
	p.Trim() // the new worker, now idle (or about to be)
}
