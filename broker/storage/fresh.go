package storage

import "unsafe"

// freshSet is the group's index of puts of new queued messages (see
// group.fresh). A session's queued puts carry consecutive seqs, so each
// session has a run: the prim index of seq first+i at runs[i] (-1 when
// that put is gone). Sessions are found in a small open-addressing table
// keyed by the client id's bytes (pointer and length): the broker passes a
// session's own ClientID string to every operation of that session, so the
// put and the delete of one delivery carry the same pointer, and the key
// is hashed without reading the string. Equal pointer and length mean
// equal ids.
//
// A lookup that misses is always safe: the delete is then written, after
// the put, in the same transaction. So a put that does not extend its
// session's run (out of order, or far ahead) is simply not indexed.
//
// It replaced a Go map keyed by the string and seq, whose hashing cost
// ~10 % of the broker's CPU under fan-in, and then a table keyed by
// pointer and seq, whose random probes into a table of every pending put
// missed the cache (~13 % under fan-in).
type freshSet struct {
	slots []freshSlot // a power of two long, or nil
	runs  []freshRun  // slots index into it
	n     int         // slots used (runs in use)
}

type freshSlot struct {
	id  *byte // the client id's bytes; nil: empty
	idn int
	run int // index into runs
}

type freshRun struct {
	first uint64
	prims []int // prim index of seq first+i, -1 when gone
}

// maxGap bounds the seqs a put may skip and still extend its run (the
// seqs between are deliveries cancelled in their own group: a run costs
// 8 bytes per seq), maxRun the entries of one run.
const (
	maxGap = 1 << 16
	maxRun = 1 << 20
)

func freshHash(id *byte, n int) uint64 {
	h := uint64(uintptr(unsafe.Pointer(id))) ^ uint64(n)*0x9E3779B97F4A7C15
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return h
}

// run returns clientID's run, made when add is set (nil otherwise).
func (f *freshSet) run(clientID string, add bool) *freshRun {
	if len(clientID) == 0 {
		return nil
	}
	if add && (f.n+1)*2 >= len(f.slots) {
		f.grow()
	}
	if len(f.slots) == 0 {
		return nil
	}
	id := unsafe.StringData(clientID)
	mask := uint64(len(f.slots) - 1)
	for i := freshHash(id, len(clientID)) & mask; ; i = (i + 1) & mask {
		s := &f.slots[i]
		switch {
		case s.id == nil:
			if !add {
				return nil
			}
			if f.n == len(f.runs) {
				f.runs = append(f.runs, freshRun{})
			}
			*s = freshSlot{id: id, idn: len(clientID), run: f.n}
			r := &f.runs[f.n]
			f.n++
			r.first, r.prims = 0, r.prims[:0]
			return r
		case s.id == id && s.idn == len(clientID):
			return &f.runs[s.run]
		}
	}
}

func (f *freshSet) grow() {
	old := f.slots
	f.slots = make([]freshSlot, max(16, len(old)*2))
	mask := uint64(len(f.slots) - 1)
	for _, s := range old {
		if s.id == nil {
			continue
		}
		for i := freshHash(s.id, s.idn) & mask; ; i = (i + 1) & mask {
			if f.slots[i].id == nil {
				f.slots[i] = s
				break
			}
		}
	}
}

// put records the put of (clientID, seq) at prim.
func (f *freshSet) put(clientID string, seq uint64, prim int) {
	r := f.run(clientID, true)
	if r == nil {
		return
	}
	if len(r.prims) == 0 {
		r.first = seq
	}
	end := r.first + uint64(len(r.prims))
	if seq >= end {
		// The overlay (journal.go) keeps runs over many groups: drop the
		// leading entries that are gone, so a run holds what may still
		// be cancelled, and start again at seq when the gap is too long
		// (the entries dropped then only miss a cancellation: their
		// deletes are written after them).
		if len(r.prims) > 1024 && r.prims[0] < 0 {
			k := 0
			for k < len(r.prims) && r.prims[k] < 0 {
				k++
			}
			r.first += uint64(k)
			r.prims = r.prims[k:]
		}
		if seq-end > maxGap || len(r.prims) > maxRun {
			r.first, r.prims, end = seq, r.prims[:0], seq
		}
	}
	switch {
	case seq >= r.first && seq < end:
		r.prims[seq-r.first] = prim // a second put of the seq replaces the first
	case seq >= end && seq-end <= maxGap:
		for ; end < seq; end++ {
			r.prims = append(r.prims, -1)
		}
		r.prims = append(r.prims, prim)
	}
}

// take removes (clientID, seq) and returns its prim index, or -1.
func (f *freshSet) take(clientID string, seq uint64) int {
	r := f.run(clientID, false)
	if r == nil || seq < r.first || seq-r.first >= uint64(len(r.prims)) {
		return -1
	}
	p := r.prims[seq-r.first]
	r.prims[seq-r.first] = -1
	return p
}

// dropClient forgets every entry of clientID (compared by content): its
// session was deleted and its seqs start again.
func (f *freshSet) dropClient(clientID string) {
	for i := range f.slots {
		s := &f.slots[i]
		if s.id != nil && unsafe.String(s.id, s.idn) == clientID {
			f.runs[s.run].prims = f.runs[s.run].prims[:0]
		}
	}
}

// reset empties the set, keeping its memory unless a burst made it large.
// Runs keep their buffers for the next group's sessions.
// apply applies p's effect on the index, p being the entry at index at
// of its group or overlay. It returns the index of the fresh put that a
// delete cancels (the delete is then not kept either), else -1.
func (f *freshSet) apply(p *prim, at int) (cancelled int) {
	switch p.fresh {
	case freshPut:
		f.put(p.clientID, p.seq, at)
	case freshModify:
		f.take(p.clientID, p.seq)
	case freshDelete:
		return f.take(p.clientID, p.seq)
	case freshDrop:
		f.dropClient(p.clientID) // the session's seqs start again
	}
	return -1
}

func (f *freshSet) reset() {
	if len(f.slots) > keepPrims {
		f.slots, f.runs = nil, nil
	} else {
		clear(f.slots)
		for i := range f.runs[:f.n] {
			if cap(f.runs[i].prims) > keepPrims {
				f.runs[i].prims = nil
			}
		}
	}
	f.n = 0
}
