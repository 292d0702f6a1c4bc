package storage

import "unsafe"

// freshSet is the group's index of puts of new queued messages (see
// group.fresh): an open-addressing table keyed by the client id's bytes
// (pointer and length) and the seq. The broker passes a session's own
// ClientID string to every operation of that session, so the put and the
// delete of one delivery carry the same pointer, and the key is hashed
// without reading the string. Equal pointer and length mean equal ids; a
// miss (the same id through another string) only means the delete is
// written, which is always correct. It replaced a Go map keyed by the
// string and seq, whose hashing and probing cost ~10 % of the broker's CPU
// under fan-in.
type freshSet struct {
	slots []freshSlot // a power of two long, or nil
	used  int         // live and deleted slots
	// gen is the generation of the current contents: a slot of another
	// generation is empty, so reset is O(1) instead of clearing a table
	// that a burst made large.
	gen uint32
}

type freshSlot struct {
	id   *byte // the client id's bytes
	idn  int
	seq  uint64
	prim int // index of the put in group.prims; -1: deleted
	gen  uint32
}

// empty reports whether s holds nothing of the current generation.
func (f *freshSet) empty(s *freshSlot) bool { return s.gen != f.gen || s.id == nil }

func freshHash(id *byte, seq uint64) uint64 {
	h := uint64(uintptr(unsafe.Pointer(id)))*0x9E3779B97F4A7C15 ^ seq*0xC2B2AE3D27D4EB4F
	return h ^ h>>29
}

// put records the put of (clientID, seq) at prim, replacing an older one.
func (f *freshSet) put(clientID string, seq uint64, prim int) {
	if len(clientID) == 0 {
		return
	}
	if (f.used+1)*4 >= len(f.slots)*3 {
		f.grow()
	}
	id := unsafe.StringData(clientID)
	mask := uint64(len(f.slots) - 1)
	tomb := -1
	for i := freshHash(id, seq) & mask; ; i = (i + 1) & mask {
		s := &f.slots[i]
		switch {
		case f.empty(s):
			if tomb >= 0 {
				s = &f.slots[tomb]
			} else {
				f.used++
			}
			*s = freshSlot{id: id, idn: len(clientID), seq: seq, prim: prim, gen: f.gen}
			return
		case s.prim < 0:
			if tomb < 0 {
				tomb = int(i)
			}
		case s.id == id && s.idn == len(clientID) && s.seq == seq:
			s.prim = prim
			return
		}
	}
}

// take removes (clientID, seq) and returns its prim index, or -1.
func (f *freshSet) take(clientID string, seq uint64) int {
	if len(clientID) == 0 || len(f.slots) == 0 {
		return -1
	}
	id := unsafe.StringData(clientID)
	mask := uint64(len(f.slots) - 1)
	for i := freshHash(id, seq) & mask; ; i = (i + 1) & mask {
		s := &f.slots[i]
		switch {
		case f.empty(s):
			return -1
		case s.prim >= 0 && s.id == id && s.idn == len(clientID) && s.seq == seq:
			p := s.prim
			s.prim = -1
			return p
		}
	}
}

// dropClient forgets every entry of clientID (compared by content): its
// session was deleted and its seqs start again.
func (f *freshSet) dropClient(clientID string) {
	for i := range f.slots {
		s := &f.slots[i]
		if !f.empty(s) && s.prim >= 0 && unsafe.String(s.id, s.idn) == clientID {
			s.prim = -1
		}
	}
}

func (f *freshSet) grow() {
	old := f.slots
	n := max(64, len(old)*2)
	if f.used-f.deleted(old) < len(old)/4 {
		n = max(64, len(old)) // mostly deleted slots: rehash at the same size
	}
	gen := f.gen
	f.slots, f.used, f.gen = make([]freshSlot, n), 0, 0
	for _, s := range old {
		if s.gen == gen && s.id != nil && s.prim >= 0 {
			f.put(unsafe.String(s.id, s.idn), s.seq, s.prim)
		}
	}
}

func (f *freshSet) deleted(slots []freshSlot) int {
	n := 0
	for i := range slots {
		if s := &slots[i]; !f.empty(s) && s.prim < 0 {
			n++
		}
	}
	return n
}

// reset empties the set, keeping its table unless it grew large. The
// client id pointers left in old slots keep those strings alive until
// overwritten, which is bounded by the table's size.
func (f *freshSet) reset() {
	f.used = 0
	f.gen++
	if len(f.slots) > keepPrims || f.gen == 0 {
		f.slots, f.gen = nil, 0 // also when the generation wraps: old slots could look current
	}
}
