package cluster

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttboard/mqttboard/broker/message"
	"github.com/mqttboard/mqttboard/broker/storage"
)

// A QoS 1/2 message published on one node may reach persistent sessions
// held by other nodes. With the replicated store, its PUBACK (PUBREC)
// promises that all of those deliveries are replicated too, not only
// this node's: the message carries a count id (as for count_subscribers,
// count.go), and the publishing node then asks every node to confirm
// that it stored what it received. The requests are batched: one
// confirmation request ("k" with count id 0, then the request's own id)
// covers every message this node published before it, and each node
// answers once the commits that stored the deliveries of those messages
// (the messages it received from this node since its previous answer)
// resolved, at once when it had none. Every node reads a node's messages
// and requests in the order they were sent (one connection, one inbox),
// so a request follows the messages it covers. While requests are out,
// the next batch gathers (at most maxConfirming requests at once), so
// under load one round trip confirms many messages; with one message in
// flight it costs what the former request per message did. The
// acknowledgement waits for every answer; a node that failed to store,
// or did not answer within commitTimeout (it is being lost), fails the
// acknowledgement of every message of the batch (0x97), and the
// publishers send them again: at least once, never acknowledged and lost.

const (
	// failedAnswer is a count answer that says the node did not store
	// its deliveries.
	failedAnswer = math.MaxInt32
	// maxConfirming bounds the confirmation requests out at once.
	maxConfirming = 4
	// maxUnconfirmed is how many commits a node keeps for another node's
	// next confirmation request before it drops those already resolved
	// (a node that never asks again, because it died, leaves them).
	maxUnconfirmed = 4096
)

// confirmer gathers this node's messages waiting for the other nodes'
// confirmation (Stored) into batches (confirmLoop).
type confirmer struct {
	start   sync.Once
	mu      sync.Mutex
	pending []awaiting
	wake    chan struct{}
	slots   chan struct{}
	// requests and covered count the requests sent and the messages
	// they confirmed (for tests and measurements).
	requests, covered atomic.Int64
}

// awaiting is one message's acknowledgement waiting for confirmation.
type awaiting struct {
	local   []*storage.Commit
	resolve func(error)
	topic   string // for a node lost while the batch waits (awaitAnswers)
}

// unconfirmed is what a node stored for another node's messages since
// its last confirmation request (inbox goroutine only).
type unconfirmed struct {
	commits []*storage.Commit
	failed  bool // a commit dropped from commits (maxUnconfirmed) failed
}

// Stored implements the broker's storedRemote (cluster_store.go): the
// commit that resolves once local has and every peer confirmed that it
// stored m for its persistent sessions. nil when this node has no
// replicated store, no peer, or m was already counted (count_subscribers
// waits for the same answers).
func (n *Node) Stored(m *message.Message, local []*storage.Commit) *storage.Commit {
	if n.store == nil || m.QoS == 0 {
		return nil
	}
	n.mu.Lock()
	id := n.counting[m]
	delete(n.counting, m)
	peers := len(n.ready) // readyPeers (confirm) tells which answer
	n.mu.Unlock()
	if id == 0 {
		return nil
	}
	if n.failingOver(m.Topic) {
		c, resolve := storage.NewCommit()
		resolve(fmt.Errorf("%w: a node was lost and its sessions are being taken over: send it again", storage.ErrWrite))
		return c
	}
	if peers == 0 {
		return nil
	}
	c, resolve := storage.NewCommit()
	cf := &n.conf
	cf.start.Do(func() {
		cf.wake = make(chan struct{}, 1)
		cf.slots = make(chan struct{}, maxConfirming)
		n.wg.Go(n.confirmLoop)
	})
	cf.mu.Lock()
	// The caller's slice is reused for its next message.
	cf.pending = append(cf.pending, awaiting{slices.Clone(local), resolve, m.Topic})
	cf.mu.Unlock()
	select {
	case cf.wake <- struct{}{}:
	default:
	}
	select {
	case <-n.closed: // confirmLoop may have ended: nothing is left waiting
		n.failPending()
	default:
	}
	return c
}

// confirmLoop sends a confirmation request for what Stored gathered
// whenever fewer than maxConfirming are out.
func (n *Node) confirmLoop() {
	cf := &n.conf
	for {
		select {
		case <-n.closed:
			n.failPending()
			return
		case <-cf.wake:
		}
		select {
		case <-n.closed:
			n.failPending()
			return
		case cf.slots <- struct{}{}:
		}
		cf.mu.Lock()
		batch := cf.pending
		cf.pending = nil
		cf.mu.Unlock()
		if len(batch) == 0 {
			<-cf.slots
			continue
		}
		n.wg.Go(func() {
			defer func() { <-cf.slots }()
			n.confirm(batch)
		})
	}
}

func (n *Node) failPending() {
	cf := &n.conf
	cf.mu.Lock()
	batch := cf.pending
	cf.pending = nil
	cf.mu.Unlock()
	for _, a := range batch {
		a.resolve(storage.ErrClosed)
	}
}

// confirm asks every ready peer to confirm that it stored what it
// received from this node so far, and resolves batch.
func (n *Node) confirm(batch []awaiting) {
	peers := n.readyPeers()
	var err error
	errs := make([]error, len(batch)) // a message a lost node could have received (awaitAnswers)
	if len(peers) > 0 {
		n.mu.Lock()
		n.countSeq++
		id := n.countSeq << 1 // not a count_subscribers id (countID)
		ch := make(chan countAnswer, len(peers))
		n.countWait[id] = ch
		lost := n.fo.lostCh // before awaitAnswers' first check: a loss after it closes it
		n.mu.Unlock()
		defer n.forgetCount(id)
		// After the messages on the same connection: every node reads
		// the request after routing them.
		n.conf.requests.Add(1)
		n.conf.covered.Add(int64(len(batch)))
		req := binary.AppendUvarint(nil, 0)
		req = binary.AppendUvarint(req, id)
		err = n.send("k", append(req, n.cfg.NodeName...), false)
		if err != nil {
			err = fmt.Errorf("%w: the other nodes were not asked (%v)", storage.ErrWrite, err)
		} else {
			asked := time.Now()
			err = n.awaitAnswers(ch, peers, batch, errs, lost)
			if w := time.Since(asked); w > time.Second {
				n.log.Warn("cluster: a confirmation request waited for the other nodes", "waited", w.Round(time.Millisecond), "messages", len(batch), "err", err)
			}
		}
	}
	for i, a := range batch {
		// The local commits resolve first: the acknowledgement waits
		// on its last commit and only checks the others.
		e := cmp.Or(err, errs[i])
		if !commitsOK(a.local, n.closed) && e == nil {
			e = fmt.Errorf("%w: not stored on this node", storage.ErrWrite)
		}
		a.resolve(e)
	}
}

// awaitAnswers waits for peers' answers on ch (commitTimeout). A peer
// lost meanwhile (lost is closed) never answers: it is not waited for,
// and each message of batch with a topic its sessions could receive
// (failover.go) gets its error in errs at once (the others did not
// reach its sessions: they need only the other peers' answers). When
// every message has its error, it returns at once.
func (n *Node) awaitAnswers(ch chan countAnswer, peers []string, batch []awaiting, errs []error, lost chan struct{}) error {
	t := time.NewTimer(commitTimeout)
	defer t.Stop()
	pending := make(map[string]bool, len(peers))
	for _, p := range peers {
		pending[p] = true
	}
	unnamed := 0 // answers of nodes of an older version, which do not say who answered
	failed := 0
	checkLost := func() error {
		for p := range pending {
			gone := n.lostCould(p, batch, func(i int) {
				if errs[i] == nil {
					errs[i] = fmt.Errorf("%w: node %s, which may have stored it for its persistent sessions, was lost", storage.ErrWrite, p)
					failed++
				}
			})
			if gone {
				delete(pending, p)
			}
		}
		if failed > 0 && failed == len(batch) {
			return errs[0]
		}
		return nil
	}
	if err := checkLost(); err != nil {
		return err
	}
	for len(pending) > unnamed {
		select {
		case a := <-ch:
			if a.n == failedAnswer {
				return fmt.Errorf("%w: another node could not store it for its persistent sessions", storage.ErrWrite)
			}
			if pending[a.node] {
				delete(pending, a.node)
			} else {
				unnamed++
			}
		case <-lost:
			n.mu.Lock()
			lost = n.fo.lostCh
			n.mu.Unlock()
			if err := checkLost(); err != nil {
				return err
			}
		case <-t.C:
			return fmt.Errorf("%w: another node did not confirm it stored it within %v", storage.ErrWrite, commitTimeout)
		case <-n.closed:
			return storage.ErrClosed
		}
	}
	return nil
}

// unconfirm keeps commits for node's next confirmation request (inbox
// goroutine).
func (n *Node) unconfirm(node string, commits []*storage.Commit) {
	if len(commits) == 0 {
		return
	}
	if n.unconf == nil {
		n.unconf = make(map[string]*unconfirmed)
	}
	u := n.unconf[node]
	if u == nil {
		u = new(unconfirmed)
		n.unconf[node] = u
	}
	if len(u.commits) >= maxUnconfirmed {
		u.commits = slices.DeleteFunc(u.commits, func(c *storage.Commit) bool {
			select {
			case <-c.Durable():
				u.failed = u.failed || c.Err() != nil
				return true
			default:
				return false
			}
		})
	}
	u.commits = append(u.commits, commits...)
}

// answerConfirm answers node's confirmation request id (inbox
// goroutine): once every commit that stored what node sent before it
// resolved.
func (n *Node) answerConfirm(node string, id uint64) {
	var u unconfirmed
	if p := n.unconf[node]; p != nil {
		u = *p
		delete(n.unconf, node)
	}
	answer := func(failed bool) {
		b := binary.AppendUvarint(nil, id)
		b = binary.AppendUvarint(b, 0)
		var fl byte
		if failed {
			fl = 1
		}
		b = append(b, fl) // then this node's name (onCount)
		n.nc.Publish("c.cnt."+node, append(b, n.cfg.NodeName...))
	}
	if len(u.commits) == 0 {
		answer(u.failed)
		return
	}
	n.wg.Go(func() { answer(u.failed || !commitsOK(u.commits, n.closed)) })
}

func (n *Node) forgetCount(id uint64) {
	n.mu.Lock()
	delete(n.countWait, id)
	n.mu.Unlock()
}

// commitsOK waits for every commit and reports whether all succeeded.
func commitsOK(cs []*storage.Commit, closed <-chan struct{}) bool {
	ok := true
	for _, c := range cs {
		select {
		case <-c.Durable():
			if c.Err() != nil {
				ok = false
			}
		case <-closed:
			return false
		}
	}
	return ok
}
