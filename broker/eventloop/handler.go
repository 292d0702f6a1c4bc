package eventloop

import "errors"

// Handler is told that its socket has something to read (or was closed).
// It runs on the poller's goroutine and must not block: it hands the work
// to a [Pool].
type Handler interface{ Ready() }

// ErrUnsupported is returned by [NewPoller] where there is no epoll.
var ErrUnsupported = errors.New("eventloop: no readiness notification on this platform")
