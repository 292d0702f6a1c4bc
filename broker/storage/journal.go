package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
)

// The journal: a write-ahead log in front of bbolt (DIR/mqttboard.journal).
//
// A group (group.go) is made durable by appending it to the journal as one
// frame and syncing that one file (one fdatasync of appended data), instead
// of a bbolt transaction, whose commit writes every touched page, then the
// meta page, with an fdatasync after each. The groups written to the
// journal are also kept in memory, merged into one overlay group; when the
// journal is full (or a read, sweep, compaction or Close needs it) the
// overlay is written to bbolt in one transaction, a checkpoint, and the
// journal starts again from its beginning. A queued message that is
// acknowledged before the checkpoint (almost every one, under load) is put
// and deleted in the overlay, cancels out there (the fresh-put index, as
// inside one group) and never reaches bbolt at all.
//
// Frames:
//
//	length  uint32 LE   of the payload
//	crc     uint32 LE   CRC-32C of epoch, seq and payload
//	epoch   uint64 LE   the journal's epoch (below)
//	seq     uint64 LE   0, 1, 2, ... within the epoch
//	payload             the group's operations, each:
//	  kind    byte      1 put, 2 delete, 3 delete bucket; +0x80: in a nested bucket
//	  bucket  byte      index into allBuckets
//	  sub     uvarint length + bytes, when nested
//	  key     uvarint length + bytes
//	  value   uvarint length + bytes, for a put
//
// The epoch ties the journal to bbolt: bbolt's meta bucket holds the epoch
// whose frames it does not contain yet (keyJournalEpoch). A checkpoint
// writes the overlay and the next epoch in one bbolt transaction, and only
// once that is durable does the journal start writing the next epoch's
// frames from offset 0, over the old ones. Recovery (Open) reads frames
// from offset 0 while each is whole (length, CRC), of bbolt's epoch and the
// next seq, applies them to bbolt with the next epoch, and stops at the
// first that is not: a torn last frame (never acknowledged: its sync did
// not return) or an older epoch's frame left beyond the newest one.
//
// While the journal may hold frames bbolt lacks, the format mark in bbolt
// is formatMarkJournal, which a broker without the journal refuses to open
// (instead of silently missing the journal's messages); a clean Close
// checkpoints and writes formatMark back, so a directory a broker stopped
// cleanly still opens with older builds.

// JournalFileName is the journal's file inside the data directory.
const JournalFileName = "mqttboard.journal"

const (
	// journalBytes is the journal's size: a checkpoint is due when the next
	// frame would not fit. It bounds the replay at start (read whole); a
	// QoS 1 delivery of a small message takes ~230 bytes of it (the put
	// and the deletion), so at 200,000 deliveries/s it fills in ~1.5 s.
	journalBytes = 64 << 20
	// maxOverlayPrims makes a checkpoint due when the overlay holds this
	// many operations (cancelled ones included; 28 bytes each, 7 MB at
	// the limit). What a checkpoint writes is mostly the deliveries still
	// unacknowledged at that moment, about the same number however long
	// the interval, and the committer journals nothing meanwhile (20-126
	// ms for ~15,000 records under fan-in on a loaded machine), so a
	// longer interval costs less per delivery.
	maxOverlayPrims = 1 << 18
	frameHeader     = 24
)

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	// errJournalFull: the frame does not fit in what is left of the
	// journal; the caller checkpoints and tries again.
	errJournalFull = errors.New("journal full")
)

const (
	jPut       = 1
	jDelete    = 2
	jDelBucket = 3
	jNested    = 0x80
)

// overlay is what the journal holds that the bbolt file does not: the
// operations of the groups journaled since the last checkpoint, in order,
// as places in the journal file (it holds no bytes: materialize reads them
// back), with the fresh-put index that cancels a queued put and its
// delete across groups. Only the committer uses it.
type overlay struct {
	ops     []jop
	fresh   freshSet
	touched bool // an operation was added since the last checkpoint
}

// jop is one journaled operation; 28 bytes, so a full overlay holds ~2 MB.
type jop struct {
	sub, key, value jspan
	bucket          byte // index into allBuckets
	flags           byte
}

// jspan is a byte range of the journal file.
type jspan struct{ off, n int32 }

const (
	jopDelete byte = 1 << iota
	jopDelBucket
	jopNested
	jopDead // cancelled by a later delete
)

// add appends op, of prim p, applying p's effect on the fresh-put index
// (freshSet.apply, as group.addFresh does within a group).
func (ov *overlay) add(op jop, p *prim) {
	ov.touched = true
	if i := ov.fresh.apply(p, len(ov.ops)); i >= 0 {
		ov.ops[i].flags |= jopDead
		return
	}
	ov.ops = append(ov.ops, op)
}

// live is the number of operations a checkpoint would write.
func (ov *overlay) live() int {
	n := 0
	for i := range ov.ops {
		if ov.ops[i].flags&jopDead == 0 {
			n++
		}
	}
	return n
}

// reset empties the overlay after a checkpoint, keeping its memory
// unless a burst made it large.
func (ov *overlay) reset() {
	if cap(ov.ops) > maxOverlayPrims+maxOverlayPrims/4 {
		ov.ops = nil
	} else {
		ov.ops = ov.ops[:0]
	}
	ov.fresh.reset()
	ov.touched = false
}

// journal is the open journal file; only the committer uses it.
type journal struct {
	f     *os.File
	path  string
	epoch uint64 // of the frames being written
	seq   uint64 // the next frame's
	off   int64  // the next frame's offset
	sync  bool   // fdatasync each frame (fsync batch and always)
	buf   []byte
}

// bucketIndex is b's index in allBuckets (b is one of them).
func bucketIndex(b []byte) byte {
	for i, a := range allBuckets {
		if len(a) > 0 && len(b) > 0 && &a[0] == &b[0] {
			return byte(i)
		}
	}
	for i, a := range allBuckets {
		if string(a) == string(b) {
			return byte(i)
		}
	}
	panic(fmt.Sprintf("storage: unknown bucket %q", b))
}

// frame encodes g's live operations as one frame into j.buf, to be
// written at j.off. Operations with a condition (the sweep's) are never
// journaled: such groups go to bbolt directly. When ops is not nil, each
// live operation is appended to it too, as where it lies in the journal
// file (for the overlay).
func (j *journal) frame(g *group, ops *[]jop) []byte {
	b := j.buf[:0]
	b = append(b, make([]byte, frameHeader)...)
	for i := range g.prims {
		p := &g.prims[i]
		if p.dead {
			continue
		}
		kind := byte(jPut)
		switch {
		case p.delBucket:
			kind = jDelBucket
		case p.del:
			kind = jDelete
		}
		if p.hasSub {
			kind |= jNested
		}
		bi := bucketIndex(p.bucket)
		b = append(b, kind, bi)
		op := jop{bucket: bi}
		if p.hasSub {
			b, op.sub = appendField(b, g.bytes(p.sub), j.off)
			op.flags |= jopNested
		}
		b, op.key = appendField(b, g.bytes(p.key), j.off)
		switch kind &^ jNested {
		case jPut:
			b, op.value = appendField(b, g.bytes(p.value), j.off)
		case jDelete:
			op.flags |= jopDelete
		case jDelBucket:
			op.flags |= jopDelBucket
		}
		if ops != nil {
			*ops = append(*ops, op)
		}
	}
	binary.LittleEndian.PutUint32(b[0:], uint32(len(b)-frameHeader))
	binary.LittleEndian.PutUint64(b[8:], j.epoch)
	binary.LittleEndian.PutUint64(b[16:], j.seq)
	binary.LittleEndian.PutUint32(b[4:], crc32.Checksum(b[8:], castagnoli))
	if cap(b) > keepArenaBytes {
		j.buf = nil
	} else {
		j.buf = b
	}
	return b
}

// appendField appends f with its length and returns where f lies in the
// journal file, b being written at off.
func appendField(b, f []byte, off int64) ([]byte, jspan) {
	b = binary.AppendUvarint(b, uint64(len(f)))
	sp := jspan{int32(off) + int32(len(b)), int32(len(f))}
	return append(b, f...), sp
}

// append writes g as the next frame and, unless fsync is never, syncs it;
// ops gets the frame's operations as frame describes. It returns
// errJournalFull when the frame does not fit; on any error the journal's
// position is unchanged, so the next frame overwrites whatever part of
// this one reached the file.
func (j *journal) append(g *group, ops *[]jop) error {
	*ops = (*ops)[:0]
	fr := j.frame(g, ops)
	if j.off+int64(len(fr)) > journalBytes {
		return errJournalFull
	}
	if _, err := j.f.WriteAt(fr, j.off); err != nil {
		return err
	}
	if j.sync {
		if err := fdatasync(j.f); err != nil {
			return err
		}
	}
	j.off += int64(len(fr))
	j.seq++
	return nil
}

// materialize makes into dst a group of ov's live operations whose bytes
// are read back from the journal file. Only the byte ranges those
// operations use are read, coalesced into segments, so a checkpoint that
// writes few records reads little. dst's buffers are reused.
func (j *journal) materialize(ov *overlay, dst *group) error {
	type segment struct{ lo, hi, pos int }
	dst.arena, dst.prims = dst.arena[:0], dst.prims[:0]
	var segs []segment
	total := 0
	for i := range ov.ops {
		op := &ov.ops[i]
		if op.flags&jopDead != 0 {
			continue
		}
		for _, sp := range [3]jspan{op.sub, op.key, op.value} {
			if sp.n == 0 {
				continue
			}
			lo, hi := int(sp.off), int(sp.off+sp.n)
			if n := len(segs); n > 0 && lo-segs[n-1].hi <= 4096 {
				total += max(0, hi-segs[n-1].hi)
				segs[n-1].hi = max(segs[n-1].hi, hi)
				continue
			}
			segs = append(segs, segment{lo, hi, total})
			total += hi - lo
		}
	}
	if cap(dst.arena) < total {
		dst.arena = make([]byte, total)
	}
	dst.arena = dst.arena[:total]
	for _, sg := range segs {
		if _, err := j.f.ReadAt(dst.arena[sg.pos:sg.pos+sg.hi-sg.lo], int64(sg.lo)); err != nil {
			return fmt.Errorf("%w: %s: reading back: %v", ErrWrite, j.path, err)
		}
	}
	k := 0 // the segment of the span being moved; spans come in file order
	move := func(sp jspan) span {
		if sp.n == 0 {
			return span{}
		}
		for int(sp.off) >= segs[k].hi {
			k++
		}
		return span{segs[k].pos + int(sp.off) - segs[k].lo, int(sp.n)}
	}
	for i := range ov.ops {
		op := &ov.ops[i]
		if op.flags&jopDead != 0 {
			continue
		}
		dst.prims = append(dst.prims, prim{
			bucket:    allBuckets[op.bucket],
			del:       op.flags&jopDelete != 0,
			delBucket: op.flags&jopDelBucket != 0,
			hasSub:    op.flags&jopNested != 0,
			sub:       move(op.sub),
			key:       move(op.key),
			value:     move(op.value),
		})
	}
	return nil
}

// release gives a materialized group's memory back when a checkpoint
// made it large.
func (g *group) release() {
	if cap(g.arena) > keepArenaBytes {
		g.arena = nil
	}
	if cap(g.prims) > keepPrims {
		g.prims = nil
	} else {
		g.prims = g.prims[:0]
	}
}

// restart begins epoch, from the start of the file (after a checkpoint
// made the previous epoch's frames redundant).
func (j *journal) restart(epoch uint64) {
	j.epoch, j.seq, j.off = epoch, 0, 0
}

// openJournal opens (creating) the journal file and reads the frames of
// epoch into a group, in order (see the file comment for where reading
// stops). A frame whose checksum holds but whose operations do not decode
// is a [*CorruptError].
func openJournal(path string, epoch uint64, openFile func(string, int, os.FileMode) (*os.File, error)) (*journal, *group, error) {
	if openFile == nil {
		openFile = os.OpenFile
	}
	_, statErr := os.Stat(path)
	f, err := openFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	if os.IsNotExist(statErr) {
		syncDir(filepath.Dir(path))
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	data := make([]byte, fi.Size())
	if _, err := f.ReadAt(data, 0); err != nil && !errors.Is(err, io.EOF) {
		f.Close()
		return nil, nil, fmt.Errorf("storage: read %s: %w", path, err)
	}
	g, err := replayFrames(data, epoch)
	if err != nil {
		f.Close()
		return nil, nil, &CorruptError{File: path, Detail: err.Error()}
	}
	return &journal{f: f, path: path, epoch: epoch}, g, nil
}

// replayFrames decodes the frames of epoch at the start of data into a
// group whose arena is data.
func replayFrames(data []byte, epoch uint64) (*group, error) {
	g := &group{arena: data}
	off := 0
	for seq := uint64(0); off+frameHeader <= len(data); seq++ {
		h := data[off:]
		n := int(binary.LittleEndian.Uint32(h))
		if n > len(h)-frameHeader {
			break
		}
		if crc32.Checksum(h[8:frameHeader+n], castagnoli) != binary.LittleEndian.Uint32(h[4:]) ||
			binary.LittleEndian.Uint64(h[8:]) != epoch || binary.LittleEndian.Uint64(h[16:]) != seq {
			break
		}
		if err := g.decodeOps(off+frameHeader, off+frameHeader+n); err != nil {
			return nil, fmt.Errorf("journal frame %d at offset %d: %v", seq, off, err)
		}
		off += frameHeader + n
	}
	return g, nil
}

// decodeOps appends the operations in g.arena[from:to] to g's prims.
func (g *group) decodeOps(from, to int) error {
	pos := from
	field := func(what string) (span, error) {
		n, k := binary.Uvarint(g.arena[pos:to])
		if k <= 0 || n > uint64(to-pos-k) {
			return span{}, fmt.Errorf("%s at offset %d: bad length", what, pos)
		}
		sp := span{pos + k, int(n)}
		pos += k + int(n)
		return sp, nil
	}
	for pos < to {
		if to-pos < 2 {
			return fmt.Errorf("operation at offset %d: truncated", pos)
		}
		kind, bi := g.arena[pos], g.arena[pos+1]
		pos += 2
		if int(bi) >= len(allBuckets) || kind&^jNested < jPut || kind&^jNested > jDelBucket {
			return fmt.Errorf("operation at offset %d: kind %d, bucket %d", pos-2, kind, bi)
		}
		p := prim{bucket: allBuckets[bi], hasSub: kind&jNested != 0}
		var err error
		if p.hasSub {
			if p.sub, err = field("bucket name"); err != nil {
				return err
			}
		}
		if p.key, err = field("key"); err != nil {
			return err
		}
		switch kind &^ jNested {
		case jPut:
			if p.value, err = field("value"); err != nil {
				return err
			}
		case jDelete:
			p.del = true
		case jDelBucket:
			if p.hasSub {
				return fmt.Errorf("operation at offset %d: nested bucket deletion", pos)
			}
			p.delBucket = true
		}
		g.prims = append(g.prims, p)
	}
	return nil
}
