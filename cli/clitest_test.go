package cli

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/client"
	"github.com/mqttboard/mqttboard/client/clienttest"
)

// wait bounds every wait in these tests.
const wait = 10 * time.Second

// syncBuffer is a goroutine-safe buffer that can be waited on for text, so
// tests synchronise on what a command printed instead of sleeping.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{changed: make(chan struct{})} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.b.Write(p)
	close(s.changed)
	s.changed = make(chan struct{})
	return n, err
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor blocks until the buffer holds text, failing after wait.
func (s *syncBuffer) waitFor(t *testing.T, text string) {
	t.Helper()
	timeout := time.After(wait)
	for {
		s.mu.Lock()
		has := strings.Contains(s.b.String(), text)
		ch := s.changed
		s.mu.Unlock()
		if has {
			return
		}
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("%q not written within %v; have:\n%s", text, wait, s.String())
		}
	}
}

// bgRun is one mqttboard invocation in the background.
type bgRun struct {
	out, errOut *syncBuffer
	code        chan int
	cancel      context.CancelFunc
}

// start runs mqttboard with args in a goroutine; stdin is in.
func start(t *testing.T, in string, args ...string) *bgRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &bgRun{out: newSyncBuffer(), errOut: newSyncBuffer(), code: make(chan int, 1), cancel: cancel}
	ios := &IOStreams{In: strings.NewReader(in), Out: r.out, ErrOut: r.errOut}
	go func() { r.code <- Run(ctx, ios, args) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.code:
		case <-time.After(wait):
			t.Errorf("mqttboard %v did not stop after cancel", args)
		}
	})
	return r
}

// exit waits for the command to end and returns its exit code.
func (r *bgRun) exit(t *testing.T) int {
	t.Helper()
	select {
	case c := <-r.code:
		r.code <- c // for Cleanup
		return c
	case <-time.After(wait):
		t.Fatalf("command did not end within %v; stderr:\n%s", wait, r.errOut.String())
		return -1
	}
}

// mqttboard runs a command to its end and returns exit code, stdout and stderr.
func mqttboard(t *testing.T, in string, args ...string) (int, string, string) {
	t.Helper()
	r := start(t, in, args...)
	code := r.exit(t)
	return code, r.out.String(), r.errOut.String()
}

// subscribed starts `mqttboard sub` with args and returns once its SUBACK
// has arrived (seen in the -d packet trace).
func subscribed(t *testing.T, args ...string) *bgRun {
	t.Helper()
	r := start(t, "", append([]string{"sub", "-d"}, args...)...)
	r.errOut.waitFor(t, "< SUBACK")
	return r
}

// peer is a client of our own package used as the other side.
func peer(t *testing.T, addr string) *client.Client {
	t.Helper()
	c, err := client.New(client.Options{URL: "mqtt://" + addr})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func startMosquitto(t *testing.T) (addr, port string) {
	m := clienttest.Start(t, clienttest.Config{})
	_, port, _ = strings.Cut(m.Addr, ":")
	return m.Addr, port
}
