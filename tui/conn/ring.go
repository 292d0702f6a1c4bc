package conn

import "sync"

// Ring is a bounded FIFO between a connection's event goroutine and the
// board's frame tick. Push never blocks (the client's I/O goroutine must not
// wait on the UI); when full the oldest item is dropped and counted.
type Ring[T any] struct {
	mu      sync.Mutex
	buf     []T
	head    int // index of the oldest item
	n       int
	dropped uint64
	wake    chan<- struct{} // told when the ring stops being empty; see WakeOn
}

// NewRing returns a ring holding at most capacity items.
func NewRing[T any](capacity int) *Ring[T] {
	return &Ring[T]{buf: make([]T, capacity)}
}

// WakeOn makes Push signal ch (without ever blocking) when it puts an item
// into an empty ring, so an idle board sleeps until something arrives
// instead of polling. Call it before the first Push.
func (r *Ring[T]) WakeOn(ch chan<- struct{}) { r.wake = ch }

// Push adds v, dropping the oldest item when the ring is full.
func (r *Ring[T]) Push(v T) {
	r.mu.Lock()
	first := r.n == 0
	if r.n == len(r.buf) {
		r.buf[r.head] = v
		r.head = (r.head + 1) % len(r.buf)
		r.dropped++
	} else {
		r.buf[(r.head+r.n)%len(r.buf)] = v
		r.n++
	}
	r.mu.Unlock()
	// One signal per empty-to-non-empty change: at 10,000 messages/s that
	// is one per frame, not one per message.
	if first && r.wake != nil {
		select {
		case r.wake <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

// Drain appends every item to dst in arrival order, empties the ring and
// returns dst and how many items were dropped since the last Drain. Reusing
// dst between frames makes a drain allocation-free.
func (r *Ring[T]) Drain(dst []T) ([]T, uint64) {
	var zero T
	r.mu.Lock()
	for i := 0; i < r.n; i++ {
		j := (r.head + i) % len(r.buf)
		dst = append(dst, r.buf[j])
		r.buf[j] = zero // let the GC have what the board no longer needs
	}
	r.head, r.n = 0, 0
	d := r.dropped
	r.dropped = 0
	r.mu.Unlock()
	return dst, d
}

// History is a bounded list of the newest items, each numbered in arrival
// order (Seq). It is used from the board's goroutine only.
type History[T any] struct {
	buf     []T
	head    int
	n       int
	next    uint64 // Seq of the next item added
	Dropped uint64 // items pushed out by newer ones
	Clears  uint64 // times Clear was called: views holding Seqs start over
}

// NewHistory returns a history keeping the newest capacity items.
func NewHistory[T any](capacity int) *History[T] {
	return &History[T]{buf: make([]T, capacity)}
}

// Add appends v.
func (h *History[T]) Add(v T) {
	if h.n == len(h.buf) {
		h.buf[h.head] = v
		h.head = (h.head + 1) % len(h.buf)
		h.Dropped++
	} else {
		h.buf[(h.head+h.n)%len(h.buf)] = v
		h.n++
	}
	h.next++
}

// Len is how many items are held.
func (h *History[T]) Len() int { return h.n }

// Cap is how many items can be held.
func (h *History[T]) Cap() int { return len(h.buf) }

// First is the Seq of the oldest item held; End is one past the newest.
func (h *History[T]) First() uint64 { return h.next - uint64(h.n) }

// End is the Seq the next item will get.
func (h *History[T]) End() uint64 { return h.next }

// Get returns the item numbered seq, if it is still held.
func (h *History[T]) Get(seq uint64) (T, bool) {
	var zero T
	if seq < h.First() || seq >= h.next {
		return zero, false
	}
	return h.buf[(h.head+int(seq-h.First()))%len(h.buf)], true
}

// Clear drops every item; Seq numbers keep counting.
func (h *History[T]) Clear() {
	clear(h.buf)
	h.head, h.n = 0, 0
	h.Clears++
}
