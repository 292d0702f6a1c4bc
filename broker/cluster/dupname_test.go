package cluster

import (
	"bytes"
	"errors"
	"log/slog"
	"slices"
	"strconv"
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

// TestDuplicateNodeNameRefused: a node started with the name of a live
// member it names as its peer is refused by Start with an error naming the
// name and the peer, and the member keeps serving alone. Before, Start
// succeeded and the new node served on its own, cut off from the cluster
// (NATS refused its route without a word to it).
func TestDuplicateNodeNameRefused(t *testing.T) {
	a := startNode(t, "a", "", broker.Options{NoStamp: true})
	sub := dial(t, a.addr, "sub", true)
	sub.sub(t, "t")

	s2 := broker.New(broker.Options{Listen: "127.0.0.1:0"})
	peer := a.cl.ClusterAddr().String()
	n2, err := Start(s2, Config{NodeName: "a", Listen: "127.0.0.1:0", Peers: []string{peer}})
	if err == nil {
		n2.Close()
		t.Fatal("a second node named \"a\" was started")
	}
	var de *DuplicateNameError
	if !errors.As(err, &de) || de.Name != "a" || de.Peer != peer {
		t.Fatalf("error %v, want a DuplicateNameError for \"a\" at %s", err, peer)
	}
	for _, want := range []string{`"a"`, peer, "--node-name", "keeps serving"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, err)
		}
	}
	// The member serves on, alone.
	pub := dial(t, a.addr, "pub", true)
	pub.pub(t, "t", 1, false, "still here")
	if p := sub.recv(t); string(p.Payload) != "still here" {
		t.Fatalf("got %q", p.Payload)
	}
	if m := a.cl.Members(); len(m) != 1 {
		t.Fatalf("members %v", m)
	}
}

// TestDuplicateNodeNameRefusedThroughMember: the duplicate names another
// member as its peer (b), not the node with its name (a): b reports that
// it has a live route to another node named so, and Start fails naming b.
// A node that takes over the name of a node that has stopped is accepted.
func TestDuplicateNodeNameRefusedThroughMember(t *testing.T) {
	a := startNode(t, "a", "", broker.Options{})
	b := startNode(t, "b", a.cl.ClusterAddr().String(), broker.Options{})
	waitMembers(t, []*node{a, b}, 2)

	s3 := broker.New(broker.Options{Listen: "127.0.0.1:0"})
	n3, err := Start(s3, Config{NodeName: "a", Listen: "127.0.0.1:0", Peers: []string{b.cl.ClusterAddr().String()}})
	if err == nil {
		n3.Close()
		t.Fatal("a second node named \"a\" was started through b")
	}
	var de *DuplicateNameError
	if !errors.As(err, &de) || de.Name != "a" || de.Via != "b" {
		t.Fatalf("error %v, want a DuplicateNameError for \"a\" via b", err)
	}
	if m := b.cl.Members(); !slices.Equal(m, []string{"b", "a"}) {
		t.Fatalf("b's members %v", m)
	}

	// a stops; a new "a" joining through b is the same name, not a
	// duplicate.
	a.cl.Close()
	deadline := time.Now().Add(wait)
	for len(b.cl.Members()) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("b still sees %v", b.cl.Members())
		}
		time.Sleep(5 * time.Millisecond) // no event for a route's end; bounded
	}
	a2 := startNode(t, "a", b.cl.ClusterAddr().String(), broker.Options{})
	waitMembers(t, []*node{a2, b}, 2)
}

// TestSimultaneousDuplicateIsTold: two nodes with one name that start at
// the same instant both pass the check (neither is a member yet); NATS
// refuses their routes and each is told, as before the check existed.
// Simulated by a joining node whose peer is down at its start.
func TestDuplicateNodeNameLateIsTold(t *testing.T) {
	ports := freePorts(t, 1)
	peer := "127.0.0.1:" + strconv.Itoa(ports[0])
	refused := newLogWatch("has joined none of its peers")
	s2 := broker.New(broker.Options{Listen: "127.0.0.1:0"})
	n2, err := Start(s2, Config{NodeName: "a", Listen: "127.0.0.1:0", Peers: []string{peer},
		JoinWarnAfter: 300 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(refused, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Close()

	member := newLogWatch("give each node its own --node-name")
	s1 := broker.New(broker.Options{Listen: "127.0.0.1:0"})
	n1, err := Start(s1, Config{NodeName: "a", Listen: peer, Logger: slog.New(slog.NewTextHandler(member, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer n1.Close()

	refused.wait(t, "the refused node")
	member.wait(t, "the member")
	refused.mu.Lock()
	defer refused.mu.Unlock()
	if !strings.Contains(refused.buf.String(), `already named \"a\"`) {
		t.Errorf("the warning does not name the node: %s", refused.buf.String())
	}
}

// FuzzParseRouteInfo: whatever a peer's route port sends as its first
// line, the probe reads a name or refuses it, and never panics; a name it
// reads is what the line's server_name says.
func FuzzParseRouteInfo(f *testing.F) {
	f.Add([]byte(`INFO {"server_id":"NABC","server_name":"a","version":"2.15.2","cluster":"mqttboard"}` + "\r\n"))
	f.Add([]byte("INFO {}\r\n"))
	f.Add([]byte("-ERR 'Authorization Violation'\r\n"))
	f.Add([]byte(`INFO {"server_name":"\u00e9\n"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		name, err := parseRouteInfo(b)
		if err != nil {
			return
		}
		if !strings.HasPrefix(string(b), "INFO ") {
			t.Fatalf("read %q from a line that is no INFO", name)
		}
	})
}
