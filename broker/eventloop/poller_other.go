//go:build !linux

package eventloop

import "errors"

// Poller is not available on this platform: [NewPoller] fails and the
// broker serves each connection with its own goroutine.
type Poller struct{}

// Token names one registration.
type Token uint64

// NewPoller returns ErrUnsupported here.
func NewPoller() (*Poller, error) { return nil, ErrUnsupported }

// NewPollerBatched returns ErrUnsupported here.
func NewPollerBatched(b Batcher) (*Poller, error) { return nil, ErrUnsupported }

// Add is never reached: there is no Poller.
func (p *Poller) Add(fd int, h Handler) (Token, error) { return 0, ErrUnsupported }

// Forget is never reached.
func (p *Poller) Forget(t Token) {}

// Close is never reached.
func (p *Poller) Close() error { return nil }

// ErrClosed is returned by Add after Close.
var ErrClosed = errors.New("eventloop: poller closed")

// Supported reports whether this platform has a poller.
func Supported() bool { return false }
