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

// closeLinger bounds how long Close waits, after half-closing, for the
// peer to close its side. A broker closes right after reading DISCONNECT,
// so this is one round trip; the bound is for a peer that never does.
const closeLinger = time.Second

// batchConn gathers the writes of a burst into one system call. The MQTT
// libraries write each packet with its own Write, so `pub --repeat` made a
// syscall per message (58 k msg/s where mosquitto_pub does 137 k). Write
// appends to a pending buffer and returns; one flusher goroutine writes all
// that is pending at once (group commit): a lone packet leaves at once, a
// burst leaves together, in order. The first write error is returned by the
// next Write. Close writes what is pending before closing.
//
// Close is also where an ending connection says goodbye properly: it
// writes what is pending, half-closes (FIN), waits for the peer to close
// its side and only then closes the socket. Closing with unread bytes in
// the receive buffer makes the kernel send RST, and a peer that gets an
// RST may throw away what it had not read yet: the last publishes and the
// DISCONNECT itself, so the broker would publish the will.
type batchConn struct {
	net.Conn

	closeOnce sync.Once
	closeErr  error
	readOnce  sync.Once
	readEnded chan struct{} // closed when a Read has returned an error

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
	b := &batchConn{Conn: c, done: make(chan struct{}), readEnded: make(chan struct{})}
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

// Read records the end of the peer's stream for Close.
func (b *batchConn) Read(p []byte) (int, error) {
	n, err := b.Conn.Read(p)
	if err != nil {
		b.readOnce.Do(func() { close(b.readEnded) })
	}
	return n, err
}

// Close writes what is pending (for at most closeFlushTimeout), half-closes
// and waits (for at most closeLinger) for the peer to close, then closes.
// Every call returns only once that is done: paho.mqtt.golang closes twice
// (after writing DISCONNECT, then again when stopping its workers), and a
// second Close that closed the socket at once cut the first one's flush
// short, losing the last publishes and the DISCONNECT.
func (b *batchConn) Close() error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		b.cond.Broadcast()
		b.mu.Unlock()
		flushed := time.NewTimer(closeFlushTimeout)
		select {
		case <-b.done:
		case <-flushed.C:
		}
		flushed.Stop()
		b.mu.Lock()
		ok := b.err == nil && len(b.pending) == 0 && !b.inFlight
		b.mu.Unlock()
		if hc, half := b.Conn.(interface{ CloseWrite() error }); ok && half && hc.CloseWrite() == nil {
			b.Conn.SetReadDeadline(time.Now().Add(closeLinger))
			// Drain what the peer still sends so that closing does not
			// reset the connection; the library's own reader, if it is
			// still reading, competes for the same bytes, which no longer
			// matter.
			go func() {
				buf := make([]byte, 512)
				for {
					if _, err := b.Read(buf); err != nil {
						return
					}
				}
			}()
			<-b.readEnded
		}
		b.closeErr = b.Conn.Close()
	})
	return b.closeErr
}
