package storage

import (
	"encoding/binary"
	"sync"
)

// A group is what one bbolt transaction (one fsync) writes: every batch
// applied while the previous group was being written, already encoded by
// the goroutines that applied them into one buffer (arena), and the one
// [Commit] they all share. Two groups alternate: Apply fills the pending
// one under Bolt.gmu while the committer writes the other, so a batch
// costs its encoding and a lock, not a request, a channel send and a
// Commit of its own.
type group struct {
	prims []prim
	arena []byte
	// commit resolves when the group is written (or failed).
	commit *Commit
	// touched: a batch was applied to the group (even an empty one, whose
	// Commit must still resolve after the ones before it).
	touched bool
	// fresh indexes the group's puts of new queued messages (State Queued,
	// the first record of that seq): a DeleteMessage of one in the same
	// group cancels both, so a delivery acknowledged before its group was
	// written never reaches the disk at all.
	fresh freshSet
	// conds: a prim holds a closure (the sweep's), cleared on reset.
	conds bool
	// after runs in the committer once the group is written (Compact), so
	// it sees every batch applied before it.
	after []*request
}

// span is a byte range of the group's arena; slices are taken only when
// the group is written, since the arena may move while it grows.
type span struct{ off, n int }

// request is work for the committer that is not a write (Compact).
type request struct {
	commit *Commit
	fn     func() error
}

// prim is one engine operation: a put or delete of key in a bucket path,
// or the deletion of a whole nested bucket (value ignored).
type prim struct {
	del       bool
	delBucket bool
	dead      bool // cancelled by a later delete in the same group
	hasSub    bool
	bucket    []byte // top-level bucket
	sub       span   // nested bucket name, when hasSub
	key       span
	value     span
	// cond, when set, runs against the stored value of key first and the
	// prim applies only if it returns true (the sweep's re-check).
	cond func(stored []byte) bool
	// What merge does with the pending group's fresh-put index for this
	// prim, and the message it is about (see group.fresh).
	fresh    freshAction
	clientID string
	seq      uint64
}

// freshAction is a prim's effect on the index of fresh puts.
type freshAction byte

const (
	freshNone   freshAction = iota
	freshPut                // a new Queued message: index it
	freshModify             // a state change: the record is no longer fresh
	freshDelete             // a deletion: cancels a fresh put of the same message
	freshDrop               // the session's queue is deleted: forget its entries
)

func newGroup() *group { return &group{commit: newCommit()} }

// Groups keep their buffers between uses, up to these sizes: a burst of
// large payloads gives its memory back.
const (
	keepArenaBytes = 4 << 20
	keepPrims      = 1 << 16
)

// emptyBuffers empties the arena and the prims, keeping their room
// unless a large group grew them.
func (g *group) emptyBuffers() {
	if cap(g.arena) > keepArenaBytes {
		g.arena = nil
	} else {
		g.arena = g.arena[:0]
	}
	if cap(g.prims) > keepPrims {
		g.prims = nil
	} else {
		clear(g.prims) // client ids, the sweep's closures
		g.prims = g.prims[:0]
	}
}

// reset readies a written group for reuse.
func (g *group) reset() {
	g.emptyBuffers()
	g.conds = false
	g.fresh.reset()
	clear(g.after)
	g.after = g.after[:0]
	g.touched = false
	g.commit = newCommit()
}

func (g *group) bytes(sp span) []byte {
	if sp.n == 0 {
		return []byte{} // not nil: an empty value is still a value to bbolt
	}
	return g.arena[sp.off : sp.off+sp.n : sp.off+sp.n]
}

func (g *group) start() int { return len(g.arena) }

func (g *group) since(off int) span { return span{off, len(g.arena) - off} }

func (g *group) raw(v []byte) span {
	off := g.start()
	g.arena = append(g.arena, v...)
	return g.since(off)
}

func (g *group) name(prefix byte, s string) span {
	off := g.start()
	g.arena = append(append(g.arena, prefix), s...)
	return g.since(off)
}

func (g *group) seq(seq uint64) span {
	off := g.start()
	g.arena = binary.BigEndian.AppendUint64(g.arena, seq)
	return g.since(off)
}

func (g *group) packetID(id uint16) span {
	off := g.start()
	g.arena = binary.BigEndian.AppendUint16(g.arena, id)
	return g.since(off)
}

func (g *group) add(p prim) {
	g.conds = g.conds || p.cond != nil
	g.prims = append(g.prims, p)
}

// merge appends what encode staged in st to the pending group, under the
// store's lock: the bytes are copied, the prims' spans shifted, and the
// fresh-put index applied in order (a delete of a fresh put of this
// group cancels both).
func (g *group) merge(st *group) {
	g.touched = true
	base := len(g.arena)
	g.arena = append(g.arena, st.arena...)
	for _, p := range st.prims {
		p.sub.off += base
		p.key.off += base
		p.value.off += base
		g.addFresh(p)
	}
}

// addFresh appends p, applying it to the fresh-put index in order: a
// delete of a fresh put of this group marks that put dead and is not
// added. p keeps its client id: the overlay indexes it again.
func (g *group) addFresh(p prim) {
	if i := g.fresh.apply(&p, len(g.prims)); i >= 0 {
		g.prims[i].dead = true
		return
	}
	g.add(p)
}

// stagePool holds the groups Apply encodes into before it takes the lock.
var stagePool = sync.Pool{New: func() any { return new(group) }}

// releaseStage empties a staging group and returns it to stagePool.
func releaseStage(st *group) {
	st.emptyBuffers()
	stagePool.Put(st)
}

// encode appends b's operations to st, a staging group (see merge): it
// runs in the caller's goroutine without the store's lock, so callers
// encode in parallel.
func (st *group) encode(b *Batch) {
	g := st
	for i := range b.ops {
		o := &b.ops[i]
		switch o.kind {
		case opPutSession:
			id := g.name('c', o.clientID)
			off := g.start()
			g.arena = appendSession(g.arena, o.session)
			g.add(prim{bucket: bucketSessions, key: id, value: g.since(off)})
		case opDeleteSession:
			id := g.name('c', o.clientID)
			g.add(prim{del: true, bucket: bucketSessions, key: id, fresh: freshDrop, clientID: o.clientID})
			g.add(prim{delBucket: true, bucket: bucketQueues, key: id})
			g.add(prim{delBucket: true, bucket: bucketInbound, key: id})
		case opPutMessage:
			// A Queued put is a new message; any other state changes a
			// record written before, so a delete must then reach the disk.
			fa := freshModify
			if o.message.State == Queued {
				fa = freshPut
			}
			id := g.name('c', o.clientID)
			key := g.seq(o.seq)
			off := g.start()
			g.arena = appendMessage(g.arena, o.message)
			g.add(prim{hasSub: true, bucket: bucketQueues, sub: id, key: key, value: g.since(off), fresh: fa, clientID: o.clientID, seq: o.seq})
		case opDeleteMessage:
			g.add(prim{del: true, hasSub: true, bucket: bucketQueues, sub: g.name('c', o.clientID), key: g.seq(o.seq),
				fresh: freshDelete, clientID: o.clientID, seq: o.seq})
		case opMarkInbound:
			g.add(prim{hasSub: true, bucket: bucketInbound, sub: g.name('c', o.clientID), key: g.packetID(uint16(o.seq))})
		case opClearInbound:
			g.add(prim{del: true, hasSub: true, bucket: bucketInbound, sub: g.name('c', o.clientID), key: g.packetID(uint16(o.seq))})
		case opPutRetained:
			key := g.name('t', o.key)
			off := g.start()
			g.arena = appendRetained(g.arena, o.retained)
			g.add(prim{bucket: bucketRetained, key: key, value: g.since(off)})
		case opDeleteRetained:
			g.add(prim{del: true, bucket: bucketRetained, key: g.name('t', o.key)})
		case opPutKV:
			g.add(prim{hasSub: true, bucket: bucketKV, sub: g.name('s', o.clientID), key: g.name('k', o.key), value: g.raw(o.value)})
		case opDeleteKV:
			g.add(prim{del: true, hasSub: true, bucket: bucketKV, sub: g.name('s', o.clientID), key: g.name('k', o.key)})
		case opSweepSession:
			id := g.name('c', o.clientID)
			now := o.now
			expiredNow := func(v []byte) bool {
				ss, err := decodeSession(v)
				return err == nil && sessionExpired(ss, now)
			}
			// All three check the session record (applyPrim reads it for
			// bucket deletions), which is deleted last.
			g.add(prim{delBucket: true, bucket: bucketQueues, key: id, cond: expiredNow, fresh: freshDrop, clientID: o.clientID})
			g.add(prim{delBucket: true, bucket: bucketInbound, key: id, cond: expiredNow})
			g.add(prim{del: true, bucket: bucketSessions, key: id, cond: expiredNow})
		case opSweepMessage:
			now := o.now
			g.add(prim{del: true, hasSub: true, bucket: bucketQueues, sub: g.name('c', o.clientID), key: g.seq(o.seq), cond: func(v []byte) bool {
				m, err := decodeMessage(v)
				return err == nil && messageExpired(m, now)
			}})
		case opSweepRetained:
			now := o.now
			g.add(prim{del: true, bucket: bucketRetained, key: g.name('t', o.key), cond: func(v []byte) bool {
				r, err := decodeRetained(v)
				return err == nil && expired(r.Expires, now)
			}})
		}
	}
}

// live is the number of prims the group will write.
func (g *group) live() int {
	n := 0
	for i := range g.prims {
		if !g.prims[i].dead {
			n++
		}
	}
	return n
}
