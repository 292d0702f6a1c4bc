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
// other bbolt file is an error, not a slow misreading.
const formatMark = "mqttboard-storage 1"

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
)

func name(prefix byte, s string) []byte {
	b := make([]byte, 1+len(s))
	b[0] = prefix
	copy(b[1:], s)
	return b
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// Bolt is the embedded [Store], one bbolt file in a data directory. Open
// it with [Open].
type Bolt struct {
	path string
	opts Options

	// mu guards closed and the sends on reqs: Apply and Compact hold it
	// for reading while they queue, Close for writing to close reqs.
	mu     sync.RWMutex
	closed bool
	reqs   chan *request
	// dbMu guards db, which compact replaces. Readers hold it for reading;
	// only the committer writes it, and it never takes mu, so an Apply
	// blocked on a full reqs while holding mu cannot deadlock it.
	dbMu sync.RWMutex
	db   *bbolt.DB
	done chan struct{} // closed when the committer has returned

	openFile func(string, int, os.FileMode) (*os.File, error) // tests inject faults here
	unlock   func()
	groups   atomic.Uint64 // transactions written: the fsync count, for benchmarks
	// broken, set by the committer only, fails every later write: a
	// compaction that renamed the new file in place but could not open it
	// leaves the old handle pointing at a deleted file, where a commit
	// would be acknowledged and then lost at the next start.
	broken error
}

var _ Store = (*Bolt)(nil)

// request is one applied batch, already encoded by the caller's goroutine.
type request struct {
	ops    []prim
	commit *Commit
	// fn, when set, runs in the committer instead of a write (Compact).
	fn func() error
}

// prim is one engine operation: a put or delete of key in a bucket path,
// or the deletion of a whole nested bucket (value ignored).
type prim struct {
	del       bool
	delBucket bool
	bucket    []byte // top-level bucket
	sub       []byte // nested bucket name, or nil
	key       []byte
	value     []byte
	// cond, when set, runs against the stored value of key first and the
	// prim applies only if it returns true (the sweep's re-check).
	cond func(stored []byte) bool
}

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
		reqs:     make(chan *request, 1024),
		done:     make(chan struct{}),
		openFile: openFile,
	}
	db, err := s.openDB(s.path)
	if err != nil {
		unlock()
		return nil, err
	}
	s.db = db
	go s.commitLoop()
	return s, nil
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
		if got := meta.Get(keyFormat); string(got) != formatMark {
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
// goroutine, so the committer only copies bytes into the transaction.
func (s *Bolt) Apply(b *Batch) *Commit {
	r := &request{ops: encodeOps(b), commit: newCommit()}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return resolved(ErrClosed)
	}
	s.reqs <- r
	return r.commit
}

func encodeOps(b *Batch) []prim {
	out := make([]prim, 0, len(b.ops))
	for _, o := range b.ops {
		id := name('c', o.clientID)
		switch o.kind {
		case opPutSession:
			out = append(out, prim{bucket: bucketSessions, key: id, value: encodeSession(o.session)})
		case opDeleteSession:
			out = append(out,
				prim{del: true, bucket: bucketSessions, key: id},
				prim{delBucket: true, bucket: bucketQueues, key: id},
				prim{delBucket: true, bucket: bucketInbound, key: id})
		case opPutMessage:
			out = append(out, prim{bucket: bucketQueues, sub: id, key: seqKey(o.seq), value: encodeMessage(o.message)})
		case opDeleteMessage:
			out = append(out, prim{del: true, bucket: bucketQueues, sub: id, key: seqKey(o.seq)})
		case opMarkInbound:
			out = append(out, prim{bucket: bucketInbound, sub: id, key: binary.BigEndian.AppendUint16(nil, uint16(o.seq)), value: []byte{}})
		case opClearInbound:
			out = append(out, prim{del: true, bucket: bucketInbound, sub: id, key: binary.BigEndian.AppendUint16(nil, uint16(o.seq))})
		case opPutRetained:
			out = append(out, prim{bucket: bucketRetained, key: name('t', o.key), value: encodeRetained(o.retained)})
		case opDeleteRetained:
			out = append(out, prim{del: true, bucket: bucketRetained, key: name('t', o.key)})
		case opPutKV:
			out = append(out, prim{bucket: bucketKV, sub: name('s', o.clientID), key: name('k', o.key), value: cloneBytes(o.value)})
		case opDeleteKV:
			out = append(out, prim{del: true, bucket: bucketKV, sub: name('s', o.clientID), key: name('k', o.key)})
		case opSweepSession:
			now := o.now
			expiredNow := func(v []byte) bool {
				ss, err := decodeSession(v)
				return err == nil && sessionExpired(ss, now)
			}
			// All three check the session record (applyPrim reads it for
			// bucket deletions), which is deleted last.
			out = append(out,
				prim{delBucket: true, bucket: bucketQueues, key: id, cond: expiredNow},
				prim{delBucket: true, bucket: bucketInbound, key: id, cond: expiredNow},
				prim{del: true, bucket: bucketSessions, key: id, cond: expiredNow})
		case opSweepMessage:
			now := o.now
			out = append(out, prim{del: true, bucket: bucketQueues, sub: id, key: seqKey(o.seq), cond: func(v []byte) bool {
				m, err := decodeMessage(v)
				return err == nil && messageExpired(m, now)
			}})
		case opSweepRetained:
			now := o.now
			out = append(out, prim{del: true, bucket: bucketRetained, key: name('t', o.key), cond: func(v []byte) bool {
				r, err := decodeRetained(v)
				return err == nil && expired(r.Expires, now)
			}})
		}
	}
	return out
}

// commitLoop is the one writer: it gathers waiting batches into a group,
// writes the group in one transaction (one fsync) and resolves its commits.
func (s *Bolt) commitLoop() {
	defer close(s.done)
	var lastWrite time.Time
	for r := range s.reqs {
		if r.fn != nil {
			r.commit.resolve(r.fn())
			continue
		}
		group := []*request{r}
		n := len(r.ops)
		var next *request // a Compact request that ended the group
		// batch: a group is written no sooner than MaxDelay after the
		// previous write began, so fsyncs are at most one per MaxDelay
		// under load, while a batch arriving after a quiet spell is written
		// at once. Either way a commit waits at most MaxDelay plus one
		// fsync, however busy.
		var timeout <-chan time.Time
		var timer *time.Timer
		gathering := s.opts.Fsync == FsyncBatch
		if gathering {
			if wait := s.opts.MaxDelay - time.Since(lastWrite); wait > 0 {
				timer = time.NewTimer(wait)
				timeout = timer.C
			} else {
				gathering = false
			}
		}
	gather:
		for n < s.opts.MaxBatchOps {
			if !gathering {
				// always/never, or a quiet batch store: take what is already
				// waiting, wait for nothing.
				select {
				case r2, ok := <-s.reqs:
					if !ok {
						break gather
					}
					if r2.fn != nil {
						next = r2
						break gather
					}
					group = append(group, r2)
					n += len(r2.ops)
					continue
				default:
					break gather
				}
			}
			select {
			case r2, ok := <-s.reqs:
				if !ok {
					break gather
				}
				if r2.fn != nil {
					next = r2
					break gather
				}
				group = append(group, r2)
				n += len(r2.ops)
			case <-timeout:
				break gather
			}
		}
		if timer != nil {
			timer.Stop()
		}
		lastWrite = time.Now()
		s.groups.Add(1)
		err := s.write(group)
		for _, g := range group {
			g.commit.resolve(err)
		}
		if next != nil {
			next.commit.resolve(next.fn())
		}
	}
}

// write applies a group in one bbolt transaction. A failure fails every
// batch in the group: bbolt rolls the whole transaction back.
func (s *Bolt) write(group []*request) (err error) {
	if s.broken != nil {
		return s.broken
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: %v", ErrWrite, s.path, r)
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	err = s.db.Update(func(tx *bbolt.Tx) error {
		for _, g := range group {
			for _, p := range g.ops {
				if err := applyPrim(tx, p); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrWrite, s.path, err)
	}
	return nil
}

func applyPrim(tx *bbolt.Tx, p prim) error {
	b := tx.Bucket(p.bucket)
	if p.cond != nil {
		var stored []byte
		switch {
		case p.delBucket:
			// Bucket deletions of a session sweep depend on the session.
			stored = tx.Bucket(bucketSessions).Get(p.key)
		case p.sub != nil:
			if sb := b.Bucket(p.sub); sb != nil {
				stored = sb.Get(p.key)
			}
		default:
			stored = b.Get(p.key)
		}
		if stored == nil || !p.cond(stored) {
			return nil
		}
	}
	if p.delBucket {
		if err := b.DeleteBucket(p.key); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
			return err
		}
		return nil
	}
	if p.sub != nil {
		if p.del {
			if b = b.Bucket(p.sub); b == nil {
				return nil
			}
		} else {
			var err error
			if b, err = b.CreateBucketIfNotExists(p.sub); err != nil {
				return err
			}
			// Queues are appended in seq order; a full fill factor keeps
			// their pages dense.
			b.FillPercent = 0.9
		}
	}
	if p.del {
		return b.Delete(p.key)
	}
	return b.Put(p.key, p.value)
}

// view runs fn in a read transaction with the store's checks: closed,
// and a panic from damaged pages turned into a [*CorruptError].
func (s *Bolt) view(fn func(tx *bbolt.Tx) error) (err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
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
	c := newCommit()
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	s.reqs <- &request{commit: c, fn: s.compact}
	s.mu.RUnlock()
	return c.Wait(ctx)
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
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.reqs)
	s.mu.Unlock()
	<-s.done
	err := s.db.Close()
	s.unlock()
	return err
}
