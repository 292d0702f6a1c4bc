package cluster

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/broker"
)

// logWatch is a log destination that says when a line containing want
// was written.
type logWatch struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func newLogWatch(want string) *logWatch { return &logWatch{want: want, seen: make(chan struct{})} }

func (w *logWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func (w *logWatch) wait(t *testing.T, who string) {
	t.Helper()
	select {
	case <-w.seen:
	case <-time.After(20 * time.Second):
		w.mu.Lock()
		defer w.mu.Unlock()
		t.Fatalf("%s never logged %q; its log:\n%s", who, w.want, w.buf.String())
	}
}

// TestDuplicateNodeNameIsTold: a second node named like a member is
// refused by its peer; before, it served alone with nothing in its log
// and the member logged only NATS's "duplicate name" once a second. Now
// the refused node warns that it joined no peer and why that may be, and
// the member's error says what to do.
func TestDuplicateNodeNameIsTold(t *testing.T) {
	member := newLogWatch("give each node its own --node-name")
	s1 := broker.New(broker.Options{Listen: "127.0.0.1:0"})
	if err := s1.Listen(); err != nil {
		t.Fatal(err)
	}
	n1, err := Start(s1, Config{NodeName: "a", Listen: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(member, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer n1.Close()

	refused := newLogWatch("has joined none of its peers")
	s2 := broker.New(broker.Options{Listen: "127.0.0.1:0"})
	if err := s2.Listen(); err != nil {
		t.Fatal(err)
	}
	n2, err := Start(s2, Config{NodeName: "a", Listen: "127.0.0.1:0", Peers: []string{n1.ClusterAddr().String()},
		JoinWarnAfter: 300 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(refused, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Close()

	refused.wait(t, "the refused node")
	member.wait(t, "the member")
	refused.mu.Lock()
	defer refused.mu.Unlock()
	if !strings.Contains(refused.buf.String(), `already named \"a\"`) {
		t.Errorf("the warning does not name the node: %s", refused.buf.String())
	}
}
