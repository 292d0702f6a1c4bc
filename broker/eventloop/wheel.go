package eventloop

import (
	"sync"
	"time"
)

// Wheel is a hashed timing wheel shared by every connection of a broker:
// a keep alive costs an [Entry] embedded in the connection (no time.Timer,
// no runtime timer per idle connection) and one goroutine ticks for all
// of them, only while entries are scheduled. Deadlines fire up to one tick
// late, never early.
type Wheel[T Due] struct {
	tick  time.Duration
	owner func(*Entry[T]) T
	mu    sync.Mutex
	slots []Entry[T] // sentinels of circular lists
	n     int        // entries scheduled
	now   int64      // the tick last run
	due   []*Entry[T]
	kick  chan struct{}
	quit  chan struct{}
	done  chan struct{}
	once  sync.Once
}

// Due is what an [Entry] calls when its deadline has passed. It returns
// the next deadline (Unix nanoseconds), or 0 to leave the wheel. It runs
// on the wheel's goroutine and must not block.
type Due interface {
	Due(now int64) (next int64)
}

// Entry is one scheduled deadline; embed it in its owner, which the
// wheel finds from the entry's address (see [NewWheel]): no word per
// entry for it. T is the owner's (pointer) type.
type Entry[T Due] struct {
	next, prev *Entry[T]
	at         int64
}

// wheelSlots covers 512 ticks; a later deadline goes round the wheel,
// checked against its absolute time at each pass.
const wheelSlots = 512

// NewWheel starts a wheel ticking every tick while it holds entries;
// owner returns the value an entry is embedded in (from the entry's
// address), whose Due is called when the entry's deadline passes.
func NewWheel[T Due](tick time.Duration, owner func(*Entry[T]) T) *Wheel[T] {
	w := &Wheel[T]{
		tick:  tick,
		owner: owner,
		slots: make([]Entry[T], wheelSlots),
		kick:  make(chan struct{}, 1),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
		now:   time.Now().UnixNano() / int64(tick),
	}
	for i := range w.slots {
		w.slots[i].next, w.slots[i].prev = &w.slots[i], &w.slots[i]
	}
	go w.run()
	return w
}

// Schedule sets e's deadline to at (Unix nanoseconds), moving it if it is
// already scheduled.
func (w *Wheel[T]) Schedule(e *Entry[T], at int64) {
	w.mu.Lock()
	first := w.n == 0
	w.insert(e, at)
	w.mu.Unlock()
	if first {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}

// Cancel takes e off the wheel (a no-op if it is not on it).
func (w *Wheel[T]) Cancel(e *Entry[T]) {
	w.mu.Lock()
	w.unlink(e)
	w.mu.Unlock()
}

func (w *Wheel[T]) insert(e *Entry[T], at int64) {
	w.unlink(e)
	t := max((at+int64(w.tick)-1)/int64(w.tick), w.now+1) // round up: never early
	head := &w.slots[t%wheelSlots]
	e.at = at
	e.prev, e.next = head.prev, head
	head.prev.next = e
	head.prev = e
	w.n++
}

func (w *Wheel[T]) unlink(e *Entry[T]) {
	if e.next == nil {
		return
	}
	e.prev.next = e.next
	e.next.prev = e.prev
	e.next, e.prev = nil, nil
	w.n--
}

func (w *Wheel[T]) run() {
	defer close(w.done)
	t := time.NewTicker(w.tick)
	defer t.Stop()
	for {
		w.mu.Lock()
		empty := w.n == 0
		w.mu.Unlock()
		if empty {
			t.Stop()
			select {
			case <-w.kick:
				t.Reset(w.tick)
			case <-w.quit:
				return
			}
		}
		select {
		case now := <-t.C:
			w.advance(now.UnixNano())
		case <-w.kick:
		case <-w.quit:
			return
		}
	}
}

// advance runs every tick up to now: entries whose deadline passed are
// taken off and told, then put back at the deadline they return.
func (w *Wheel[T]) advance(now int64) {
	w.mu.Lock()
	end := now / int64(w.tick)
	if end-w.now > wheelSlots {
		w.now = end - wheelSlots
	}
	due := w.due[:0]
	for w.now < end {
		w.now++
		head := &w.slots[w.now%wheelSlots]
		for e := head.next; e != head; {
			next := e.next
			if e.at <= now {
				w.unlink(e)
				due = append(due, e)
			}
			e = next
		}
	}
	w.mu.Unlock()
	for i, e := range due {
		if at := w.owner(e).Due(now); at != 0 {
			w.Schedule(e, at)
		}
		due[i] = nil
	}
	w.due = due[:0]
}

// Close stops the wheel's goroutine; scheduled entries are dropped.
func (w *Wheel[T]) Close() {
	w.once.Do(func() { close(w.quit) })
	<-w.done
}
