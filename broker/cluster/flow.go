package cluster

import (
	"encoding/binary"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// Flow control between nodes (docs/cluster.md). Every message a node
// publishes to the subjects other nodes read through their inbox (m., r.,
// d, k, g.) takes the next number of one sequence. Every flowEvery-th, the
// node also publishes a marker "f" carrying that number to every node;
// a node's inbox goroutine reaches the marker only after routing every
// message the sender published before it (one route per pair of nodes, one
// inbox, both in order), and answers on "fa.<sender>". A sender whose
// sequence is flowWindow ahead of some peer's last answer waits before
// publishing: the publishing connection's read loop stops, so the MQTT
// publisher is held back by TCP as on one node that cannot keep up, and
// its QoS 1/2 messages are acknowledged only once they are on the way to
// a node that has room for them. At most a window of each peer's messages
// (and their markers) are on the way to a node or in its inbox, and the
// window is sized so that every peer's fits the inbox: NATS never has to
// drop. With P peers the window is inbox/(P+2) messages (16,384 in a
// cluster of 3): the peers' windows fill at most P/(P+2) of a node's
// inbox, which leaves room for a node that joined before every sender
// has narrowed its window, and for the markers. A wider window matters:
// a sender waits a whole marker round trip, through the peer's inbox,
// each time its window is used up (bench/cluster.sh's 3-node fan-in
// delivered about 2.5 times as much with 16,384 as with 4,096).
//
// Only [Node.Publish] waits (a local PUBLISH or will, called by the broker
// before it routes the message, holding no lock). The others never wait,
// and still count: forwards to a shared-group member (the inbox goroutine
// re-forwards when a member has gone, and the broker forwards while
// matching), count_subscribers requests (sent right after their message),
// wildcard deletions, markers and their answers. The inbox goroutine
// therefore never waits on a window, so two nodes publishing to each other
// cannot deadlock, and what the others add is at most one or two messages
// per waiting publish.
//
// A waiting sender re-checks every flowProbe: a peer that has no route any
// more is forgotten (membership change), and a marker with the current
// number is sent again, for a peer that restarted and lost the markers in
// its old inbox. It stops waiting when the node closes. The peers are the
// ready ones ([Node.readyPeers], at least every groupsTick): one that
// joined has a window from then on, one that left has none.

// flowProbe is how often a waiting sender looks for gone peers and sends
// its marker again.
const flowProbe = 100 * time.Millisecond

// flow is one node's sending side.
type flow struct {
	mu     sync.Mutex
	seq    uint64            // inbox messages published so far
	marked uint64            // seq of the last marker
	acked  map[string]uint64 // per peer: the last marker it routed
	more   chan struct{}     // closed when an answer arrives
	inbox  uint64            // every node's inbox length
	waits  atomic.Int64      // publishes that had to wait, for tests
}

// initFlow sets up the sending side for inboxes of inboxLen messages.
func (n *Node) initFlow(inboxLen int) {
	f := &n.flow
	f.inbox = uint64(inboxLen)
	f.acked = make(map[string]uint64)
	f.more = make(chan struct{})
}

// window returns how many messages may be on the way to each peer (see
// above). Call it with f.mu held.
func (f *flow) window() uint64 {
	return max(f.inbox/uint64(len(f.acked)+2), 16)
}

// subscribeFlow subscribes to the markers (through the inbox, in order with
// the messages) and to the answers to this node's markers.
func (n *Node) subscribeFlow() error {
	if _, err := n.nc.ChanSubscribe("f", n.inbox); err != nil {
		return err
	}
	_, err := n.nc.Subscribe("fa."+n.cfg.NodeName, n.onFlowAnswer)
	return err
}

// send publishes b on subj, one number of the flow sequence; with wait it
// first waits until every known peer has room (or the node closes).
func (n *Node) send(subj string, b []byte, wait bool) error {
	f := &n.flow
	var probe *time.Timer
	f.mu.Lock()
	for wait && !f.room() {
		if probe == nil {
			f.waits.Add(1)
			probe = time.NewTimer(flowProbe)
			defer probe.Stop()
		} else {
			probe.Reset(flowProbe)
		}
		more := f.more
		f.mu.Unlock()
		select {
		case <-more:
		case <-n.closed:
			wait = false
		case <-probe.C:
			n.probeFlow()
		}
		f.mu.Lock()
	}
	defer f.mu.Unlock()
	// Under f.mu: a marker must follow every message numbered before it.
	f.seq++
	err := n.nc.Publish(subj, b)
	if f.seq-f.marked >= f.window()/8 {
		n.marker()
	}
	return err
}

// room reports whether every known peer has room for one more message.
// Call it with f.mu held.
func (f *flow) room() bool {
	w := f.window()
	for _, a := range f.acked {
		if f.seq-a >= w {
			return false
		}
	}
	return true
}

// marker publishes the current number. Call it with n.flow.mu held.
func (n *Node) marker() {
	n.flow.marked = n.flow.seq
	var b [8 + 64]byte
	m := append(binary.BigEndian.AppendUint64(b[:0], n.flow.seq), n.cfg.NodeName...)
	n.nc.Publish("f", m)
}

// probeFlow forgets peers without a route and sends the marker again.
func (n *Node) probeFlow() {
	peers := n.peers()
	f := &n.flow
	f.mu.Lock()
	defer f.mu.Unlock()
	for p := range f.acked {
		if !slices.Contains(peers, p) {
			delete(f.acked, p) // readyPeers may only notice later
		}
	}
	n.marker()
}

// flowPeers sets the peers that windows are kept for: the ready peers
// (readyPeers calls it, at least every groupsTick). A new one starts with
// an empty window: what was sent before its route was not sent to it.
func (n *Node) flowPeers(ready []string) {
	f := &n.flow
	f.mu.Lock()
	defer f.mu.Unlock()
	changed := false
	for p := range f.acked {
		if !slices.Contains(ready, p) {
			delete(f.acked, p)
			changed = true
		}
	}
	for _, p := range ready {
		if _, ok := f.acked[p]; !ok {
			f.acked[p] = f.seq
		}
	}
	if changed {
		close(f.more)
		f.more = make(chan struct{})
	}
}

// onMarker answers another node's marker: everything it published before
// the marker has been routed here. The inbox goroutine runs it and never
// waits: the answer goes to a callback subscription, not to an inbox.
func (n *Node) onMarker(data []byte) {
	if len(data) <= 8 {
		return
	}
	from := string(data[8:])
	if from == n.cfg.NodeName || !nodeName.MatchString(from) {
		return
	}
	var b [8 + 64]byte
	a := append(append(b[:0], data[:8]...), n.cfg.NodeName...)
	n.nc.Publish("fa."+from, a)
}

// onFlowAnswer records a peer's answer to a marker of this node's.
func (n *Node) onFlowAnswer(m *nats.Msg) {
	if len(m.Data) <= 8 {
		return
	}
	seq := binary.BigEndian.Uint64(m.Data)
	peer := string(m.Data[8:])
	f := &n.flow
	f.mu.Lock()
	if a, ok := f.acked[peer]; ok && seq > a {
		f.acked[peer] = seq
		close(f.more)
		f.more = make(chan struct{})
	}
	f.mu.Unlock()
}

// flowWaits returns how many publishes have waited for a peer's room.
func (n *Node) flowWaits() int64 { return n.flow.waits.Load() }
