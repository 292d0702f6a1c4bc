package eventloop

import (
	"sync"
	"sync/atomic"
)

// Task is a unit of work for a [Pool]: one read burst or one write drain of
// a connection. A task may block (a write to a slow client, a packet that
// stops half way); the pool then runs other tasks on other goroutines.
type Task interface{ Run() }

// Pool runs tasks on goroutines that outlive one task. A goroutine that
// has handled a burst keeps the stack it grew, so the next burst does not
// grow a fresh 2 KB stack again (runtime.morestack and copystack were a
// visible share of a low-rate profile when each burst had a new
// goroutine). At most maxIdle goroutines wait for work; one that finds
// that many waiting ends, so a burst of connections ending at once (each
// holding a goroutine while its last bytes drain) leaves nothing behind.
type Pool struct {
	tasks   chan Task // unbuffered: a send succeeds only to a waiting worker
	quit    chan struct{}
	idle    atomic.Int32
	maxIdle int32
	wg      sync.WaitGroup
	once    sync.Once
}

// NewPool returns a pool keeping up to maxIdle goroutines waiting for work.
func NewPool(maxIdle int) *Pool {
	return &Pool{tasks: make(chan Task), quit: make(chan struct{}), maxIdle: int32(maxIdle)}
}

// Go runs t on a waiting worker, or on a new one when none waits. It never
// blocks.
func (p *Pool) Go(t Task) {
	select {
	case p.tasks <- t:
		// The worker is no longer idle from this moment, not from when
		// it next runs (with one processor, after the caller yields): a
		// worker finishing meanwhile must not count it and end, leaving
		// the next task a fresh goroutine and stack.
		p.idle.Add(-1)
	case <-p.quit:
		go t.Run() // closed: no worker waits, and wg is done
	default:
		p.wg.Add(1)
		go p.work(t)
	}
}

func (p *Pool) work(t Task) {
	defer p.wg.Done()
	for {
		t.Run()
		if p.idle.Add(1) > p.maxIdle {
			p.idle.Add(-1)
			return
		}
		select {
		case t = <-p.tasks: // Go (or Trim) counted it busy
			if t == endWorker {
				return // Trim
			}
		case <-p.quit:
			p.idle.Add(-1)
			return
		}
	}
}

// Trim ends the workers waiting for work, for a quiet moment: the stacks
// their bursts grew are freed (the next bursts start new workers).
func (p *Pool) Trim() {
	for range p.idle.Load() {
		select {
		case p.tasks <- endWorker:
			p.idle.Add(-1)
		default:
			return // none waits any more
		}
	}
}

// endWorker is the task Trim hands a waiting worker: it ends.
var endWorker Task = (*endTask)(nil)

type endTask struct{}

func (*endTask) Run() {}

// Close ends the waiting workers and waits for the busy ones to finish
// their task. Tasks given to Go afterwards still run, each on its own
// goroutine.
func (p *Pool) Close() {
	p.once.Do(func() { close(p.quit) })
	p.wg.Wait()
}
