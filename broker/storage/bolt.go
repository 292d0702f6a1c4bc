package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// FileName is the store's file inside the data directory.
const FileName = "mqttboard.db"

// formatMark identifies a file as this store, so pointing --data at some
// other bbolt file is an error, not a slow misreading. formatMarkJournal
// is the mark while the journal (journal.go) may hold what the file lacks:
// builds from before the journal refuse it instead of missing that.
const (
	formatMark        = "mqttboard-storage 1"
	formatMarkJournal = "mqttboard-storage 2"
)

// Buckets. Every key inside them is prefixed with keyPrefix, because bbolt
// refuses empty keys and MQTT 5 allows an empty topic-less or client-id-less
// record to be asked for.
var (
	bucketMeta     = []byte("meta")
	bucketSessions = []byte("sessions") // 'c' client id -> session record
	bucketQueues   = []byte("queues")   // 'c' client id -> bucket: seq (8 bytes BE) -> message record
	bucketInbound  = []byte("inbound")  // 'c' client id -> bucket: packet id (2 bytes BE) -> empty
	bucketRetained = []byte("retained") // 't' topic -> retained record
	bucketKV       = []byte("kv")       // 's' space -> bucket: 'k' key -> value
	allBuckets     = [][]byte{bucketMeta, bucketSessions, bucketQueues, bucketInbound, bucketRetained, bucketKV}
	keyFormat      = []byte("format")
	// keyJournalEpoch: the journal epoch whose frames the file does not
	// hold yet (8 bytes BE; absent: 0).
	keyJournalEpoch = []byte("journal epoch")
)

func name(prefix byte, s string) []byte {
	b := make([]byte, 1+len(s))
	b[0] = prefix
	copy(b[1:], s)
	return b
}

// Bolt is the embedded [Store], one bbolt file in a data directory. Open
// it with [Open].
type Bolt struct {
	path string
	opts Options

	// gmu guards the write side: closed, pending (the group that Apply
	// fills, see group.go) and the committer's hand-over. Apply holds it
	// while it encodes its batch into pending, which is what orders
	// batches (and so their Commits) in Apply order.
	gmu     sync.Mutex
	closed  bool
	pending *group
	room    *sync.Cond    // on gmu: Apply waits here while pending is full
	kick    chan struct{} // cap 1: tells the committer pending has work
	// mu guards readersClosed: a read holds it for reading, Close for
	// writing before it closes the file.
	mu            sync.RWMutex
	readersClosed bool
	// dbMu guards db, which compact replaces. Readers hold it for reading;
	// only the committer writes it.
	dbMu sync.RWMutex
	db   *bbolt.DB
	done chan struct{} // closed when the committer has returned

	openFile func(string, int, os.FileMode) (*os.File, error) // tests inject faults here
	unlock   func()
	groups   atomic.Uint64 // transactions written: the fsync count, for benchmarks
	// jr is the journal and ov the overlay: the operations the journal
	// holds that the file does not, from the groups written since the last
	// checkpoint (journal.go), with the fresh-put index that cancels them
	// across groups. ov's spans are offsets in the journal file: it holds
	// no bytes (materialize reads them back). Only the committer uses them.
	jr *journal
	ov *overlay
	// ops is the frame's operations, for the overlay (journal.append);
	// ckpt is the overlay with its bytes, as a checkpoint writes it.
	ops  []jop
	ckpt group
	// dirty: ov holds something; a read checkpoints first.
	dirty atomic.Bool
	// closeErr is the final checkpoint's error, for Close.
	closeErr error
	// broken, set by the committer only, fails every later write: a
	// compaction that renamed the new file in place but could not open it
	// leaves the old handle pointing at a deleted file, where a commit
	// would be acknowledged and then lost at the next start.
	broken error
}

var _ Store = (*Bolt)(nil)

// Back-pressure: Apply waits while the pending group holds this many
// operations or bytes (the committer is behind); 16 groups' worth of
// operations, and enough bytes for one maximum payload.
const (
	maxPendingGroups = 16
	maxPendingBytes  = 64 << 20
)

// Open opens (creating if needed) the store in dir. A second Open of the
// same dir, here or in another process, fails with [ErrLocked]; a damaged
// file fails with a [*CorruptError].
func Open(dir string, opts Options) (*Bolt, error) {
	return openBolt(dir, opts, nil)
}

func openBolt(dir string, opts Options, openFile func(string, int, os.FileMode) (*os.File, error)) (*Bolt, error) {
	opts.applyDefaults()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("storage: data directory: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	s := &Bolt{
		unlock:   unlock,
		path:     filepath.Join(dir, FileName),
		opts:     opts,
		pending:  newGroup(),
		kick:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		openFile: openFile,
	}
	s.room = sync.NewCond(&s.gmu)
	db, err := s.openDB(s.path)
	if err != nil {
		unlock()
		return nil, err
	}
	s.db = db
	if err := s.recoverJournal(filepath.Join(dir, JournalFileName)); err != nil {
		db.Close()
		unlock()
		return nil, err
	}
	go s.commitLoop()
	return s, nil
}

// recoverJournal opens the journal, writes what it holds that the file
// lacks into the file (with the next epoch and the journal's format mark,
// in one transaction) and readies the journal for that epoch.
func (s *Bolt) recoverJournal(path string) error {
	var epoch uint64
	err := s.db.View(func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyJournalEpoch); len(v) == 8 {
			epoch = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	if err != nil {
		return &CorruptError{File: s.path, Detail: err.Error()}
	}
	jr, replay, err := openJournal(path, epoch, s.openFile)
	if err != nil {
		return err
	}
	if err := s.update(func(tx *bbolt.Tx) error {
		for i := range replay.prims {
			if err := applyPrim(tx, replay, &replay.prims[i]); err != nil {
				return err
			}
		}
		return markEpoch(tx, epoch+1, formatMarkJournal)
	}); err != nil {
		jr.f.Close()
		return err
	}
	jr.restart(epoch + 1)
	jr.sync = s.opts.Fsync != FsyncNever
	s.jr, s.ov = jr, new(overlay)
	return nil
}

// markEpoch records in tx that the file holds every frame before epoch,
// and the format mark.
func markEpoch(tx *bbolt.Tx, epoch uint64, mark string) error {
	meta := tx.Bucket(bucketMeta)
	if err := meta.Put(keyJournalEpoch, binary.BigEndian.AppendUint64(nil, epoch)); err != nil {
		return err
	}
	return meta.Put(keyFormat, []byte(mark))
}

func (s *Bolt) openDB(path string) (db *bbolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			if db != nil {
				db.Close()
			}
			db, err = nil, &CorruptError{File: path, Detail: fmt.Sprint(r)}
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	db, err = bbolt.Open(path, 0o600, &bbolt.Options{
		// bbolt waits for the file lock forever by default; a second broker
		// must be told at once.
		Timeout: 50 * time.Millisecond,
		// The freelist IS synced (NoFreelistSync false, unlike the engine
		// benchmark): without it bbolt rebuilds the freelist on open in a
		// goroutine of its own that panics on a damaged page, which no
		// recover of ours can catch. A damaged file must be an error.
		FreelistType: bbolt.FreelistMapType,
		NoSync:       s.opts.Fsync == FsyncNever,
		OpenFile:     s.openFile,
	})
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, fmt.Errorf("%w: %s is locked; stop the other broker or give this one another --data directory", ErrLocked, path)
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrChecksum),
		errors.Is(err, bolterrors.ErrVersionMismatch), errors.Is(err, bolterrors.ErrInvalidMapping):
		return nil, &CorruptError{File: path, Detail: err.Error()}
	case err != nil:
		// bbolt reports a short or damaged file in several ways; any
		// failure to open an existing file is treated as damage.
		if fi, statErr := os.Stat(path); statErr == nil && fi.Size() > 0 && !errors.Is(err, os.ErrPermission) {
			return nil, &CorruptError{File: path, Detail: err.Error()}
		}
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			if tx.Bucket(bucketSessions) != nil {
				return &CorruptError{File: path, Detail: "no format mark"}
			}
			for _, b := range allBuckets {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			return tx.Bucket(bucketMeta).Put(keyFormat, []byte(formatMark))
		}
		if got := meta.Get(keyFormat); string(got) != formatMark && string(got) != formatMarkJournal {
			return &CorruptError{File: path, Detail: fmt.Sprintf("format %q, this broker reads %q", got, formatMark)}
		}
		for _, b := range allBuckets {
			if tx.Bucket(b) == nil {
				return &CorruptError{File: path, Detail: fmt.Sprintf("bucket %q is missing", b)}
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		var ce *CorruptError
		if errors.As(err, &ce) {
			return nil, err
		}
		return nil, fmt.Errorf("storage: open %s: %w: %v", path, ErrWrite, err)
	}
	return db, nil
}

// Apply implements [Store.Apply]. It encodes the batch in the caller's
// goroutine, without the store's lock, into a staging buffer, then under
// the lock copies it into the pending group (group.go), so the committer
// only hands bytes to bbolt; it returns the group's Commit.
func (s *Bolt) Apply(b *Batch) *Commit {
	st := stagePool.Get().(*group)
	defer releaseStage(st)
	st.encode(b) // without the lock: callers encode in parallel
	s.gmu.Lock()
	for !s.closed && s.full() {
		s.room.Wait()
	}
	if s.closed {
		s.gmu.Unlock()
		return resolved(ErrClosed)
	}
	g := s.pending
	wasIdle := !g.touched
	before := len(g.prims)
	g.merge(st)
	c, after := g.commit, len(g.prims)
	s.gmu.Unlock()
	if wasIdle || (before < s.opts.MaxBatchOps && after >= s.opts.MaxBatchOps) {
		s.wake()
	}
	return c
}

// full reports whether Apply must wait for the committer; gmu is held.
func (s *Bolt) full() bool {
	g := s.pending
	return len(g.prims) >= maxPendingGroups*s.opts.MaxBatchOps || len(g.arena) >= maxPendingBytes
}

func (s *Bolt) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// commitLoop is the one writer: it takes the pending group, writes it in
// one transaction (one fsync) and resolves its Commit, while Apply fills
// the other group.
func (s *Bolt) commitLoop() {
	defer close(s.done)
	var lastWrite time.Time
	spare := newGroup()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		s.gmu.Lock()
		idle := !s.pending.touched && len(s.pending.after) == 0
		closed := s.closed
		s.gmu.Unlock()
		if idle {
			if closed {
				s.closeErr = s.checkpoint(true)
				return
			}
			<-s.kick
			continue
		}
		// batch: a group is written no sooner than MaxDelay after the
		// previous write began, so fsyncs are at most one per MaxDelay
		// under load, while a batch arriving after a quiet spell is
		// written at once. Either way a commit waits at most MaxDelay plus
		// the write before it, however busy.
		if s.opts.Fsync == FsyncBatch && !closed {
			if wait := s.opts.MaxDelay - time.Since(lastWrite); wait > 0 {
				timer.Reset(wait)
			gather:
				for {
					select {
					case <-timer.C:
						break gather
					case <-s.kick:
						s.gmu.Lock()
						enough := len(s.pending.prims) >= s.opts.MaxBatchOps || len(s.pending.after) > 0 || s.closed
						s.gmu.Unlock()
						if enough {
							timer.Stop()
							break gather
						}
					}
				}
			}
		}
		s.gmu.Lock()
		g := s.pending
		s.pending, spare = spare, nil
		s.room.Broadcast()
		s.gmu.Unlock()
		lastWrite = time.Now()
		var err error
		if g.live() > 0 {
			s.groups.Add(1)
			err = s.store(g)
		}
		g.commit.resolve(err)
		for _, r := range g.after {
			r.commit.resolve(r.fn())
		}
		g.reset()
		spare = g
		if len(s.ov.ops) >= maxOverlayPrims {
			// A failure leaves the overlay as it is: the journal still
			// holds it, and the next checkpoint tries again.
			s.checkpoint(false)
		}
	}
}

// store makes g durable: one frame appended to the journal, and merged
// into the overlay for the next checkpoint. A group the journal cannot
// take (the sweep's conditional deletions, or larger than the journal)
// goes to the file directly, after a checkpoint so it lands in order.
func (s *Bolt) store(g *group) error {
	if s.broken != nil {
		return s.broken
	}
	if !g.conds {
		err := s.jr.append(g, &s.ops)
		if errors.Is(err, errJournalFull) {
			if err := s.checkpoint(false); err != nil {
				return err
			}
			err = s.jr.append(g, &s.ops)
		}
		switch {
		case err == nil:
			k := 0 // s.ops has one entry per live prim of g, in order
			for i := range g.prims {
				if p := &g.prims[i]; !p.dead {
					s.ov.add(s.ops[k], p)
					k++
				}
			}
			s.dirty.Store(true)
			return nil
		case !errors.Is(err, errJournalFull):
			return fmt.Errorf("%w: %s: %v", ErrWrite, s.jr.path, err)
		}
	}
	if err := s.checkpoint(false); err != nil {
		return err
	}
	return s.write(g)
}

// checkpoint writes the overlay into the file with the next journal epoch
// in one transaction, then restarts the journal (journal.go). final
// (Close) writes the pre-journal format mark, since the journal is then
// empty. A failure changes nothing: the journal keeps the overlay.
func (s *Bolt) checkpoint(final bool) error {
	if s.broken != nil {
		return s.broken
	}
	if !s.ov.touched && !final {
		return nil
	}
	next := s.jr.epoch + 1
	mark := formatMarkJournal
	if final {
		mark = formatMark
	}
	ck := &s.ckpt
	if err := s.jr.materialize(s.ov, ck); err != nil {
		return err
	}
	defer ck.release()
	err := s.update(func(tx *bbolt.Tx) error {
		for i := range ck.prims {
			if err := applyPrim(tx, ck, &ck.prims[i]); err != nil {
				return err
			}
		}
		return markEpoch(tx, next, mark)
	})
	if err != nil {
		return err
	}
	s.jr.restart(next)
	s.ov.reset()
	s.dirty.Store(false)
	return nil
}

// inCommitter runs fn in the committer once every batch applied before
// the call is durable, and returns its error.
func (s *Bolt) inCommitter(ctx context.Context, fn func() error) error {
	c := newCommit()
	s.gmu.Lock()
	if s.closed {
		s.gmu.Unlock()
		return ErrClosed
	}
	s.pending.after = append(s.pending.after, &request{commit: c, fn: fn})
	s.gmu.Unlock()
	s.wake()
	return c.Wait(ctx)
}

// write applies a group in one bbolt transaction. A failure fails every
// batch in the group: bbolt rolls the whole transaction back.
func (s *Bolt) write(g *group) error {
	if s.broken != nil {
		return s.broken
	}
	return s.update(func(tx *bbolt.Tx) error {
		for i := range g.prims {
			if p := &g.prims[i]; !p.dead {
				if err := applyPrim(tx, g, p); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// update runs fn in one bbolt write transaction; a failure (or a panic
// from damaged pages) is an error wrapping [ErrWrite].
func (s *Bolt) update(fn func(tx *bbolt.Tx) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: %v", ErrWrite, s.path, r)
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	if err = s.db.Update(fn); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrWrite, s.path, err)
	}
	return nil
}

func applyPrim(tx *bbolt.Tx, g *group, p *prim) error {
	b := tx.Bucket(p.bucket)
	key := g.bytes(p.key)
	if p.cond != nil {
		var stored []byte
		switch {
		case p.delBucket:
			// Bucket deletions of a session sweep depend on the session.
			stored = tx.Bucket(bucketSessions).Get(key)
		case p.hasSub:
			if sb := b.Bucket(g.bytes(p.sub)); sb != nil {
				stored = sb.Get(key)
			}
		default:
			stored = b.Get(key)
		}
		if stored == nil || !p.cond(stored) {
			return nil
		}
	}
	if p.delBucket {
		if err := b.DeleteBucket(key); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
			return err
		}
		return nil
	}
	if p.hasSub {
		sub := g.bytes(p.sub)
		// Bucket finds a nested bucket already opened in this transaction
		// without allocating; CreateBucketIfNotExists would copy the name
		// every time.
		nb := b.Bucket(sub)
		if nb == nil {
			if p.del {
				return nil
			}
			var err error
			if nb, err = b.CreateBucket(sub); err != nil {
				return err
			}
		}
		// Queues are appended in seq order; a full fill factor keeps
		// their pages dense.
		nb.FillPercent = 0.9
		b = nb
	}
	if p.del {
		return b.Delete(key)
	}
	return b.Put(key, g.bytes(p.value))
}

// view runs fn in a read transaction with the store's checks: closed,
// and a panic from damaged pages turned into a [*CorruptError]. What the
// journal holds is checkpointed into the file first; when that fails (a
// full disk), fn runs in the committer in a write transaction holding the
// overlay, which is rolled back.
func (s *Bolt) view(fn func(tx *bbolt.Tx) error) (err error) {
	if s.dirty.Load() {
		ctx := context.Background()
		err := s.inCommitter(ctx, func() error { return s.checkpoint(false) })
		if errors.Is(err, ErrClosed) {
			return err
		}
		if err != nil {
			return s.inCommitter(ctx, func() error { return s.viewOverlay(fn) })
		}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.readersClosed {
		return ErrClosed
	}
	defer func() {
		if r := recover(); r != nil {
			err = &CorruptError{File: s.path, Detail: fmt.Sprint(r)}
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	return s.db.View(fn)
}

// viewOverlay runs fn on the file with the overlay applied, in a write
// transaction that is rolled back; in the committer.
func (s *Bolt) viewOverlay(fn func(tx *bbolt.Tx) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &CorruptError{File: s.path, Detail: fmt.Sprint(r)}
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	ck := &s.ckpt
	if err := s.jr.materialize(s.ov, ck); err != nil {
		return err
	}
	defer ck.release()
	tx, err := s.db.Begin(true)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for i := range ck.prims {
		if err := applyPrim(tx, ck, &ck.prims[i]); err != nil {
			return err
		}
	}
	return fn(tx)
}

func (s *Bolt) corrupt(what string, key []byte, err error) error {
	return &CorruptError{File: s.path, Detail: fmt.Sprintf("%s %q: %v", what, key, err)}
}

// Sessions implements [Store.Sessions]. Records are read in one
// transaction and fn runs after it ends, so fn may call the store.
func (s *Bolt) Sessions(fn func(Session) error) error {
	var out []Session
	err := s.view(func(tx *bbolt.Tx) error {
		in := tx.Bucket(bucketInbound)
		return tx.Bucket(bucketSessions).ForEach(func(k, v []byte) error {
			ss, err := decodeSession(v)
			if err != nil {
				return s.corrupt("session", k, err)
			}
			if ib := in.Bucket(k); ib != nil {
				ib.ForEach(func(pk, _ []byte) error {
					if len(pk) == 2 {
						ss.InboundQoS2 = append(ss.InboundQoS2, binary.BigEndian.Uint16(pk))
					}
					return nil
				})
			}
			out = append(out, ss)
			return nil
		})
	})
	return each(out, err, fn)
}

// Messages implements [Store.Messages].
func (s *Bolt) Messages(clientID string, fn func(Message) error) error {
	var out []Message
	err := s.view(func(tx *bbolt.Tx) error {
		q := tx.Bucket(bucketQueues).Bucket(name('c', clientID))
		if q == nil {
			return nil
		}
		return q.ForEach(func(k, v []byte) error {
			m, err := decodeMessage(v)
			if err != nil {
				return s.corrupt("message of "+clientID, k, err)
			}
			out = append(out, m)
			return nil
		})
	})
	return each(out, err, fn)
}

// Retained implements [Store.Retained].
func (s *Bolt) Retained(fn func(Retained) error) error {
	var out []Retained
	err := s.view(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketRetained).ForEach(func(k, v []byte) error {
			r, err := decodeRetained(v)
			if err != nil {
				return s.corrupt("retained", k, err)
			}
			out = append(out, r)
			return nil
		})
	})
	return each(out, err, fn)
}

// GetKV implements [Store.GetKV].
func (s *Bolt) GetKV(space, key string) (value []byte, ok bool, err error) {
	err = s.view(func(tx *bbolt.Tx) error {
		if b := tx.Bucket(bucketKV).Bucket(name('s', space)); b != nil {
			if v := b.Get(name('k', key)); v != nil {
				value, ok = cloneBytes(v), true
			}
		}
		return nil
	})
	return value, ok, err
}

// ScanKV implements [Store.ScanKV].
func (s *Bolt) ScanKV(space string, fn func(string, []byte) error) error {
	var keys []string
	var vals [][]byte
	err := s.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketKV).Bucket(name('s', space))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if len(k) > 0 {
				keys = append(keys, string(k[1:]))
				vals = append(vals, cloneBytes(v))
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	for i, k := range keys {
		if err := fn(k, vals[i]); err != nil {
			return err
		}
	}
	return nil
}

// Sweep implements [Store.Sweep].
func (s *Bolt) Sweep(ctx context.Context, now time.Time) (SweepStats, error) {
	return sweep(ctx, s, now)
}

// Compact implements [Store.Compact]: it copies the live records into a
// new file, fsyncs it and renames it over the old one, in the committer,
// so commits wait while it runs. DIR/LOCK keeps the directory locked
// throughout.
func (s *Bolt) Compact(ctx context.Context) error {
	return s.inCommitter(ctx, func() error {
		if err := s.checkpoint(false); err != nil {
			return err
		}
		return s.compact()
	})
}

func (s *Bolt) compact() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &CorruptError{File: s.path, Detail: fmt.Sprint(r)}
		}
	}()
	tmp := s.path + ".compact"
	os.Remove(tmp)
	dst, err := bbolt.Open(tmp, 0o600, &bbolt.Options{Timeout: 50 * time.Millisecond, FreelistType: bbolt.FreelistMapType})
	if err != nil {
		return fmt.Errorf("%w: compact: %v", ErrWrite, err)
	}
	if err := bbolt.Compact(dst, s.db, 64<<20); err != nil {
		dst.Close()
		os.Remove(tmp)
		return fmt.Errorf("%w: compact: %v", ErrWrite, err)
	}
	if err := dst.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("%w: compact: %v", ErrWrite, err)
	}
	// Swap under dbMu so no reader sees a closed db.
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	if err := os.Rename(tmp, s.path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("%w: compact: %v", ErrWrite, err)
	}
	syncDir(filepath.Dir(s.path))
	old := s.db
	db, err := s.openDB(s.path)
	if err != nil {
		// Reads go on from the old handle; writes stop (see broken).
		s.broken = fmt.Errorf("%w: compaction could not reopen %s (%v); restart the broker", ErrWrite, s.path, err)
		return s.broken
	}
	old.Close()
	s.db = db
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// Close implements [Store.Close].
func (s *Bolt) Close() error {
	s.gmu.Lock()
	if s.closed {
		s.gmu.Unlock()
		return nil
	}
	s.closed = true
	s.room.Broadcast()
	s.gmu.Unlock()
	s.wake()
	<-s.done
	s.mu.Lock()
	s.readersClosed = true
	s.mu.Unlock()
	err := s.db.Close()
	if jerr := s.jr.f.Close(); err == nil {
		err = jerr
	}
	s.unlock()
	if s.closeErr != nil {
		return s.closeErr
	}
	return err
}
