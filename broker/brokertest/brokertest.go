// Package brokertest runs the bundled broker on a loopback port for tests,
// the way httptest runs HTTP servers: started, waited for, cleaned up.
package brokertest

import (
	"context"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/broker"
)

// Start runs a broker with default options on 127.0.0.1:0 and returns its
// address; the broker is closed when the test ends.
func Start(t testing.TB) string {
	_, addr := StartServer(t, broker.Options{})
	return addr
}

// StartServer runs a broker with opts (Listen is forced to 127.0.0.1:0)
// and returns it with its address. If opts.OnEvent is nil, events are
// discarded.
func StartServer(t testing.TB, opts broker.Options) (*broker.Server, string) {
	t.Helper()
	opts.Listen = "127.0.0.1:0"
	s := broker.New(opts)
	if err := s.Listen(); err != nil {
		t.Fatalf("brokertest: listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Serve(ctx)
	}()
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		s.Shutdown(sctx)
		cancel()
		<-done
	})
	return s, s.Addr().String()
}

// Events returns Options whose OnEvent feeds a buffered channel, and the
// channel, so tests wait on broker events instead of sleeping. Events that
// do not fit in the buffer are dropped rather than blocking the broker.
func Events(size int) (broker.Options, <-chan broker.Event) {
	ch := make(chan broker.Event, size)
	return broker.Options{OnEvent: func(e broker.Event) {
		select {
		case ch <- e:
		default:
		}
	}}, ch
}

// Recv waits up to timeout for a value from ch and fails the test without
// one.
func Recv[T any](t testing.TB, ch <-chan T, timeout time.Duration) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(timeout):
		var zero T
		t.Fatalf("brokertest: nothing received within %v", timeout)
		return zero
	}
}

// WaitEvent waits for the first event satisfying ok, discarding others.
func WaitEvent(t testing.TB, ch <-chan broker.Event, timeout time.Duration, ok func(broker.Event) bool) broker.Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case e := <-ch:
			if ok(e) {
				return e
			}
		case <-deadline:
			t.Fatalf("brokertest: expected event not seen within %v", timeout)
			return broker.Event{}
		}
	}
}
