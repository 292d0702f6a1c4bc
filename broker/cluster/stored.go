package cluster

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/mqttboard/mqttboard/broker/message"
	"github.com/mqttboard/mqttboard/broker/storage"
)

// A QoS 1/2 message published on one node may reach persistent sessions
// held by other nodes. With the replicated store, its PUBACK (PUBREC)
// promises that all of those deliveries are replicated too, not only
// this node's: the message carries a count id (as for count_subscribers,
// count.go), the publishing node then asks every node ("k"), and each
// answers once the commits that stored its deliveries resolved (at once
// when it had none). The acknowledgement waits for every answer; a node
// that failed to store, or did not answer within commitTimeout (it is
// being lost), fails the acknowledgement (0x97), and the publisher sends
// the message again: at least once, never acknowledged and lost.

// failedAnswer is a count answer that says the node did not store its
// deliveries.
const failedAnswer = math.MaxInt32

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
	n.mu.Unlock()
	if id == 0 {
		return nil
	}
	peers := n.readyPeers()
	if n.failingOver(m.Topic) {
		c, resolve := storage.NewCommit()
		resolve(fmt.Errorf("%w: a node was lost and its sessions are being taken over: send it again", storage.ErrWrite))
		return c
	}
	if len(peers) == 0 {
		return nil
	}
	ch := make(chan int, len(peers))
	n.mu.Lock()
	n.countWait[id] = ch
	n.mu.Unlock()
	// After the message on the same connection: every node reads the
	// request after routing it.
	req := binary.AppendUvarint(nil, id)
	err := n.send("k", append(req, n.cfg.NodeName...), false)
	c, resolve := storage.NewCommit()
	local = slices.Clone(local) // the caller's slice is reused for its next message
	if err != nil {
		n.forgetCount(id)
		resolve(fmt.Errorf("%w: the other nodes were not asked (%v)", storage.ErrWrite, err))
		return c
	}
	go func() {
		defer n.forgetCount(id)
		t := time.NewTimer(commitTimeout)
		defer t.Stop()
		var err error
	wait:
		for range peers {
			select {
			case a := <-ch:
				if a == failedAnswer {
					err = fmt.Errorf("%w: another node could not store it for its persistent sessions", storage.ErrWrite)
					break wait
				}
			case <-t.C:
				err = fmt.Errorf("%w: another node did not confirm it stored it within %v", storage.ErrWrite, commitTimeout)
				break wait
			case <-n.closed:
				err = storage.ErrClosed
				break wait
			}
		}
		// The local commits resolve first: the acknowledgement waits on
		// its last commit and only checks the others.
		if !commitsOK(local, n.closed) && err == nil {
			err = fmt.Errorf("%w: not stored on this node", storage.ErrWrite)
		}
		resolve(err)
	}()
	return c
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
