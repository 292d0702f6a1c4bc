package client

import (
	"net"
	"sync"
	"time"
)

// maxPending bounds the bytes waiting to be written; a writer past it waits
// for the flusher (backpressure, so a fast publisher cannot outrun the
// network without limit).
const maxPending = 256 << 10

// closeFlushTimeout bounds how long Close waits to write what is pending:
// a peer that stopped reading must not hang a disconnect.
const closeFlushTimeout = 2 * time.Second

// batchConn gathers the writes of a burst into one system call. The MQTT
// libraries write each packet with its own Write, so `pub --repeat` made a
// syscall per message (58 k msg/s where mosquitto_pub does 137 k). Write
// appends to a pending buffer and returns; one flusher goroutine writes all
// that is pending at once (group commit): a lone packet leaves at once, a
// burst leaves together, in order. The first write error is returned by the
// next Write. Close writes what is pending before closing.
type batchConn struct {
	net.Conn

	mu       sync.Mutex
	cond     sync.Cond
	pending  []byte
	spare    []byte
	inFlight bool // the flusher is writing
	err      error
	closed   bool
	done     chan struct{}
}

func newBatchConn(c net.Conn) *batchConn {
	b := &batchConn{Conn: c, done: make(chan struct{})}
	b.cond.L = &b.mu
	go b.flush()
	return b
}

func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.pending) > maxPending && b.err == nil && !b.closed {
		b.cond.Wait()
	}
	switch {
	case b.err != nil:
		return 0, b.err
	case b.closed:
		return 0, net.ErrClosed
	}
	b.pending = append(b.pending, p...)
	b.cond.Broadcast()
	return len(p), nil
}

// flush writes what is pending until the connection is closed and drained.
func (b *batchConn) flush() {
	defer close(b.done)
	b.mu.Lock()
	for {
		for len(b.pending) == 0 && !b.closed {
			b.cond.Wait()
		}
		if len(b.pending) == 0 {
			b.mu.Unlock()
			return
		}
		buf := b.pending
		b.pending, b.inFlight = b.spare[:0], true
		b.mu.Unlock()
		_, err := b.Conn.Write(buf)
		b.mu.Lock()
		b.spare, b.inFlight = buf[:0], false
		if err != nil && b.err == nil {
			b.err = err
			b.pending = b.pending[:0] // nothing after a failed write can arrive in order
		}
		b.cond.Broadcast()
	}
}

// Close writes what is pending (for at most closeFlushTimeout) and closes.
func (b *batchConn) Close() error {
	b.mu.Lock()
	already := b.closed
	b.closed = true
	b.cond.Broadcast()
	b.mu.Unlock()
	if !already {
		select {
		case <-b.done:
		case <-time.After(closeFlushTimeout):
		}
	}
	return b.Conn.Close()
}
