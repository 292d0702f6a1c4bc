// Package storage keeps the broker's persistent state: persistent sessions
// (with will and subscriptions), their queued and in-flight messages, the
// inbound QoS 2 packet ids awaiting PUBREL, retained messages, and an
// opaque keyspace for tokens and accounts.
//
// Sessions and routing use only the [Store] interface. Two engines stand
// behind it today, both passing one conformance suite: [Mem] (no --data)
// and the embedded bbolt store ([Open]); a replicated engine for the
// cluster mode can be a third.
//
// # Writes and durability
//
// Changes go in a [Batch], applied atomically with [Store.Apply], which
// returns a [Commit] future at once. The broker sends a PUBACK or PUBREC
// only after the Commit that queued the message for every persistent
// session it was routed to (and stored it as retained, if so) resolves
// with a nil error. Commits resolve in Apply order.
//
// The embedded store group-commits: one goroutine takes every batch that
// is waiting, writes them in one bbolt transaction and fsyncs once. The
// [FsyncMode] decides when:
//
//   - batch (default): at most one fsync per [Options.MaxDelay] (2 ms);
//     what arrives in between is gathered (up to [Options.MaxBatchOps])
//     into the next. Power failure loses nothing that was acknowledged; a
//     commit waits up to MaxDelay longer under load, not when idle.
//   - always: no gathering; batches that arrived during the previous fsync
//     share the next. Power failure loses nothing acknowledged.
//   - never: written to the OS page cache, never fsynced, resolved at once.
//     kill -9 of the broker loses nothing; a power failure or kernel crash
//     loses what the OS had not yet flushed (typically up to 30 s), and an
//     acknowledged message can be among it.
//
// # Failures
//
//   - A second [Open] of the same DIR, from this process or another,
//     fails with [ErrLocked] at once (flock on DIR/LOCK, held until
//     [Bolt.Close]; where flock is missing, bbolt's lock on the file).
//   - A damaged or truncated file, or a record that does not decode, is a
//     [*CorruptError] naming the file (or record) and telling the operator
//     what to do. Nothing in this package panics on bad stored bytes.
//   - A write that fails (disk full, I/O error) fails its Commit with an
//     error wrapping [ErrWrite]; none of that group is stored, earlier
//     commits stay, and the store keeps working once space is back. The
//     broker answers those publishes with 0x97 Quota exceeded.
//
// # Housekeeping
//
// [Store.Sweep] deletes expired sessions, expired queued messages and
// expired retained messages; the broker calls it at start (before the
// listeners open) and periodically. Its deletions re-check expiry when
// they are applied, so a reconnect or republish racing it wins. [Store.Compact] gives space back to
// the file system; the broker calls it in the background, rarely.
package storage
