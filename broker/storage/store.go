package storage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Store is the broker's persistent state. Sessions and routing call only
// this interface, so a replicated engine (the cluster mode) can stand behind
// it in place of the embedded one.
//
// Writes: build a [Batch] and [Store.Apply] it. A batch is atomic (all of it
// or none survives a crash) and batches are applied in the order Apply is
// called. Apply does not wait for the disk (it blocks only as back-pressure,
// when an engine's queue of unwritten batches is full): it returns a [*Commit] that
// resolves once the batch is durable under the store's [FsyncMode]; a
// PUBACK or PUBREC waits on it. Reads see a batch once its Commit has
// resolved without error; before that they may or may not.
//
// Reads are for recovery at start (before listeners open), for the REST
// API and for tests; the broker keeps its working state in memory.
//
// All methods are safe for concurrent use. After Close every method
// returns [ErrClosed].
type Store interface {
	// Apply queues b for commit. It has read b when it returns and keeps
	// nothing b points to (engines encode or copy what they need), so the
	// caller may [Batch.Reset] b and reuse it.
	Apply(b *Batch) *Commit

	// Sessions calls fn for each stored session, in client id order,
	// with InboundQoS2 filled. A non-nil error from fn stops and is returned.
	Sessions(fn func(Session) error) error
	// Messages calls fn for each message queued for clientID, in Seq order.
	Messages(clientID string, fn func(Message) error) error
	// Retained calls fn for each retained message, in topic order,
	// including expired ones that were not swept yet.
	Retained(fn func(Retained) error) error
	// GetKV returns the value of key in the opaque keyspace space (tokens,
	// accounts); ok is false when it is absent.
	GetKV(space, key string) (value []byte, ok bool, err error)
	// ScanKV calls fn for each key of space in key order.
	ScanKV(space string, fn func(key string, value []byte) error) error

	// Sweep deletes what has expired at now: sessions whose expiry interval
	// has run out since DisconnectedAt (with their queues and inbound ids),
	// Queued messages past Expires (in-flight ones stay: the spec delivers
	// them), and retained messages past Expires. The deletions are one
	// batch, committed like any other before Sweep returns.
	Sweep(ctx context.Context, now time.Time) (SweepStats, error)
	// Compact asks the engine to give space left by deletions back to the
	// file system. It may take long and commits wait while it runs, so the
	// broker calls it rarely (at start, or when the store is mostly free).
	Compact(ctx context.Context) error
	// Close commits what was applied, waits for it, and releases the
	// directory lock. It is safe to call twice.
	Close() error
}

// SweepStats counts what one [Store.Sweep] deleted.
type SweepStats struct {
	Sessions, Messages, Retained int
}

// FsyncMode says when a commit reaches the disk. The zero value is
// [FsyncBatch], the default.
type FsyncMode byte

const (
	// FsyncBatch fsyncs at most once per [Options.MaxDelay]: batches that
	// arrive sooner after the previous write are gathered into the next
	// one (up to [Options.MaxBatchOps]); a batch after a quiet spell is
	// written at once. A commit resolves after its fsync. A power failure
	// loses nothing that was acknowledged. It caps the disk's fsync rate
	// (cloud volumes bill and throttle IOPS) at the cost of up to MaxDelay
	// of latency per commit under load.
	FsyncBatch FsyncMode = iota
	// FsyncAlways fsyncs without waiting for more batches: the batches that
	// arrived while the previous fsync ran share the next one. A power
	// failure loses nothing acknowledged; latency is lowest, the fsync
	// rate highest.
	FsyncAlways
	// FsyncNever writes to the operating system and resolves at once, never
	// calling fsync. A crash of the broker process (kill -9) loses nothing;
	// a power failure or kernel crash loses the last seconds of
	// acknowledged messages, sessions and retained changes.
	FsyncNever
)

// ParseFsyncMode reads the config values "always", "batch" (or "") and "never".
func ParseFsyncMode(s string) (FsyncMode, error) {
	switch s {
	case "", "batch":
		return FsyncBatch, nil
	case "always":
		return FsyncAlways, nil
	case "never":
		return FsyncNever, nil
	}
	return 0, fmt.Errorf("storage: fsync %q: want always, batch or never", s)
}

// String returns the config spelling of m.
func (m FsyncMode) String() string {
	switch m {
	case FsyncBatch:
		return "batch"
	case FsyncAlways:
		return "always"
	case FsyncNever:
		return "never"
	}
	return fmt.Sprintf("FsyncMode(%d)", byte(m))
}

// Options configure an embedded store ([Open]). Zero means default.
type Options struct {
	Fsync FsyncMode
	// MaxDelay bounds how long [FsyncBatch] holds a commit to gather more.
	// Default 2 ms: below the 10 ms publish-to-ack p99 target with
	// room for the fsync itself, and long enough to gather a burst.
	MaxDelay time.Duration
	// MaxBatchOps ends [FsyncBatch]'s gathering early when the pending
	// group holds this many operations, and Apply waits (back-pressure)
	// while it holds 16 times as many, or 64 MB, because the disk is
	// behind. Default 4096: a few MB of small messages per group while
	// amortising the fsync over thousands of them.
	MaxBatchOps int
}

func (o *Options) applyDefaults() {
	if o.MaxDelay <= 0 {
		o.MaxDelay = 2 * time.Millisecond
	}
	if o.MaxBatchOps <= 0 {
		o.MaxBatchOps = 4096
	}
}

// Errors a caller tells apart with [errors.Is] / [errors.As].
var (
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("storage: store is closed")
	// ErrLocked: another process (or another Open in this one) holds DIR.
	ErrLocked = errors.New("storage: data directory is in use by another broker")
	// ErrWrite: the engine could not write or fsync (disk full, I/O error).
	// Nothing of the failed batch is acknowledged; the broker answers the
	// publishes it carried with 0x97 Quota exceeded (5.0) or drops the
	// connection (3.1.1), and keeps serving what it already has.
	ErrWrite = errors.New("storage: write failed")
)

// CorruptError says a store file cannot be read and what to do about it.
type CorruptError struct {
	File   string // the file (or key) that is damaged
	Detail string // what is wrong with it
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("storage: %s is corrupted (%s): stop the broker, move the data directory aside "+
		"and restart to begin with an empty store, or restore it from a backup", e.File, e.Detail)
}

// Commit is the future of one [Store.Apply]. Durable returns a channel
// closed when the batch is durable (or has failed); Err then tells which.
type Commit struct {
	done chan struct{}
	err  error
}

func newCommit() *Commit { return &Commit{done: make(chan struct{})} }

// resolved returns a Commit that is already done with err.
func resolved(err error) *Commit {
	c := newCommit()
	c.resolve(err)
	return c
}

func (c *Commit) resolve(err error) {
	c.err = err
	close(c.done)
}

// NewCommit returns an unresolved Commit and the function that resolves
// it (once; later calls do nothing): for an engine outside this package,
// such as a replicated one, and for tests that wrap a Store.
func NewCommit() (*Commit, func(error)) {
	c := newCommit()
	var once sync.Once
	return c, func(err error) { once.Do(func() { c.resolve(err) }) }
}

// Durable is closed when the batch is durable or has failed.
func (c *Commit) Durable() <-chan struct{} { return c.done }

// Err is nil when the batch is durable, an error wrapping [ErrWrite] or
// [ErrClosed] when it failed. It must be called after Durable is closed.
func (c *Commit) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return errors.New("storage: Commit.Err called before Durable was closed")
	}
}

// Wait blocks until the batch is durable, failed, or ctx is done.
func (c *Commit) Wait(ctx context.Context) error {
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// each calls fn on every item a read collected, once its transaction (or
// the memory store's lock) has ended, so that fn may call the store; or it
// returns the read's error.
func each[T any](items []T, err error, fn func(T) error) error {
	if err != nil {
		return err
	}
	for _, it := range items {
		if err := fn(it); err != nil {
			return err
		}
	}
	return nil
}
