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
// The embedded store group-commits: Apply encodes its batch in the
// caller's goroutine without the store's lock (callers encode in
// parallel), copies the bytes into the pending group (one buffer for all
// of them) under the lock and returns the group's Commit; one goroutine
// takes the whole group, appends it to the journal (DIR/mqttboard.journal,
// a write-ahead log) as one frame and fsyncs that (one fdatasync), while
// the next group fills. The journal is written into the bbolt file
// (DIR/mqttboard.db) in one transaction when it is full, a checkpoint, and
// before reads, sweeps, compactions and Close; a message put and deleted
// before its checkpoint (a delivery acknowledged within that time, in the
// same group or not) cancels out and never reaches the bbolt file. At
// Open, the journal's frames the file lacks are written into it
// (journal.go has the format and why it is safe). The [FsyncMode] decides
// when a group is written:
//
//   - batch (default): at most one fsync per [Options.MaxDelay] (2 ms);
//     what arrives in between is gathered into the next (written early
//     once it holds [Options.MaxBatchOps]). Power failure loses nothing that was acknowledged; a
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
//     broker answers those publishes with 0x97 Quota exceeded. When only
//     the checkpoint fails (the journal overwrites blocks it already has,
//     the bbolt file cannot grow), commits go on into the journal, which
//     holds them durably, until it is full; reads then see the journal
//     through a transaction that is rolled back.
//   - A journal whose last frame is torn (cut or damaged: its fsync never
//     returned, so nothing in it was acknowledged) loses that frame only;
//     a frame that checks but does not decode is a [*CorruptError].
//   - While the journal may hold what the file lacks, the file's format
//     mark is one that builds from before the journal refuse (with the
//     corruption message) rather than miss the journal; a clean Close
//     empties the journal and writes the old mark back.
//
// # Housekeeping
//
// [Store.Sweep] deletes expired sessions, expired queued messages and
// expired retained messages; the broker calls it at start (before the
// listeners open) and periodically. Its deletions re-check expiry when
// they are applied, so a reconnect or republish racing it wins. [Store.Compact] gives space back to
// the file system; the broker calls it in the background, rarely.
//
// # How the broker uses it (issue 14 phase 2; broker/persist.go)
//
// Only sessions that persist (clean start false, or expiry > 0) and QoS 1/2
// messages routed to them touch the store; the broker without --data keeps
// no Store at all (or [Mem] in tests), so the in-memory path costs nothing.
//
//   - Start, before listeners open: [Open] (ErrLocked and *CorruptError end
//     the start with their message), [Store.Sweep] at now, then
//     [Store.Sessions] (offline sessions back into the session table and the
//     topic index; a DisconnectedAt of zero means the broker died while the
//     client was connected: count expiry from the restart and write that
//     back), [Store.Messages] per session (queue order; packet ids and
//     states restore the inflight window; next Seq = last+1),
//     [Store.Retained] into the retained store, will timers from
//     DisconnectedAt. Then a periodic Sweep and an occasional Compact.
//   - CONNECT: clean start drops the stored session (DeleteSession);
//     a persistent session is PutSession with DisconnectedAt zero.
//     SUBSCRIBE/UNSUBSCRIBE: PutSession with the new subscription list,
//     before the SUBACK/UNSUBACK goes out (the CONNACK, SUBACK and UNSUBACK
//     of a persistent session wait for their commit). Disconnect: PutSession with
//     DisconnectedAt (and the will, or none once it was sent), or
//     DeleteSession when the expiry is 0.
//   - Inbound QoS 1/2 PUBLISH: every persistent session it is routed to
//     stores the delivery (PutMessage, State Queued) in a batch of its own,
//     applied under the session's lock before the delivery can be taken,
//     so the session's later updates of it (sent, acknowledged) are
//     applied after it; one more batch holds PutRetained/DeleteRetained
//     (one DeleteRetained per topic a wildcard deletion removes) and
//     MarkInbound for a QoS 2 publisher's packet id. The PUBACK/PUBREC
//     goes out when all of those Commits resolved nil (the broker waits on
//     the last, since they resolve in order, and checks them all for
//     errors, off the read loop: broker/durable.go), and as 0x97 when one
//     failed with [ErrWrite]. Online delivery does not wait. PUBREL from
//     the publisher: ClearInbound, and the PUBCOMP waits for it.
//   - Outbound to a persistent session: a QoS 2 delivery is PutMessage
//     with State AwaitingPubrec and its PacketID when it is sent (and goes
//     out only once that is durable), PUBREC -> AwaitingPubcomp (the
//     PUBREL waits for it); a QoS 1 delivery's sent state is not stored
//     (it stays Queued; after a crash it is sent again with DUP and a new
//     packet id). PUBACK/PUBCOMP -> DeleteMessage, expired or dropped ->
//     DeleteMessage. Deletions need not be waited for: commits are
//     ordered, and a lost one only means a DUP redelivery after a crash.
//     Records written before this (QoS 1 AwaitingPuback with a packet id)
//     still load and are resent with their packet id.
//   - Shutdown: [Store.Close] after the connections are drained.
package storage
