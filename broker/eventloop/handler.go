package eventloop

import "errors"

// Handler is told that its socket is readable, writable or closed. It
// runs on the poller's goroutine and must not block: it hands the work to
// a [Pool] (and passes ev to its [Socket]'s Notify, if it has one).
type Handler interface{ Ready(ev Events) }

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
