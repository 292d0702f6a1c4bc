package eventloop

import "errors"

// Handler is told that its socket is readable, writable or closed. It
// runs on the poller's goroutine and must not wait (for a peer, a
// deadline, a lock held for long): it hands work that may wait to a
// [Pool], and may do work that cannot wait itself (a read that finds
// nothing returns at once). It passes ev to its [Socket]'s Notify, if it
// has one.
type Handler interface{ Ready(ev Events) }

// Batcher is told of each batch of events a [Poller] delivers: BatchBegin
// before the batch's n Handler calls, BatchEnd after the last one. Both
// run on the poller's goroutine, like the Handlers, and must not wait.
// Work the Handlers of a batch leave to its end (writes that the reads of
// several connections may add to) is done in BatchEnd, before the poller
// looks for new events.
type Batcher interface {
	BatchBegin(n int)
	BatchEnd()
}

// Events says what a readiness event is about.
type Events uint8

// The events a [Handler] is told of.
const (
	In     Events = 1 << iota // bytes to read
	Out                       // room to write
	Hangup                    // the peer closed or reset, or the socket failed
)

// ErrUnsupported is returned by [NewPoller] where there is no epoll.
var ErrUnsupported = errors.New("eventloop: no readiness notification on this platform")
