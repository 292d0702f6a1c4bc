package cluster

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Taking a session is exclusive (docs/cluster.md, "Taking a session").
// A persistent session in the replicated store is held by one node: the
// one that wrote its record (x.<id>.s, header Mb-Owner) last. A node takes
// a session it does not hold — a survivor adopting a lost node's
// sessions, or the node a client reconnects to — by a compare-and-set on
// that record: it rewrites the record naming itself, expecting the
// record's stream sequence it read (JetStream's expected last subject
// sequence). Of two nodes that read the same record, one write succeeds
// and the other fails with "wrong last sequence": the loser leaves the
// session alone (an adopter skips it, a reconnecting client gets
// CONNACK 0x88 and connects again, which makes the claim evict the
// winner's copy). So two survivors never both hold a session, and a
// client reconnecting during an adoption never ends up held twice.
//
// A claim for a client id that this node answered while it adopts the
// same session waits for that adoption, so the eviction it makes finds
// the adopted copy; an adoption skips a session whose client id another
// node claimed with clean start a moment before (recentClaim), since that
// node ends the stored session without reading it.

// recentClaim is how long after answering another node's claim this node
// does not adopt that session: longer than a claiming node takes from
// its claim to its own compare-and-set (a read of the store).
const recentClaim = 10 * time.Second

// errMoved is takeSession's error when another node wrote the session's record
// after this node read it: that node holds the session now.
var errMoved = errors.New("another node of the cluster took this session at the same moment: connect again")

// takeSession makes this node the holder of clientID's stored session, only if
// the record is still the one this node read last (Session, or the
// adoption's read), else errMoved. When that read's sequence is no longer
// known (a sweep forgot it), the record must still name from ("": fail).
// It reports false (and no error) when there is no record (any more).
// Every later write of the session is this node's.
//
// Each request is bounded by readAsk and sent again while the stream
// elects a leader (a node was just lost: nobody answers). A write whose
// answer did not come is not taken as failed: the record is read again
// to learn whether it was stored (it names this node), so a session this
// node took is never left named after it while no node holds it (an
// adoption would skip it, and messages for it would reach no queue).
func (s *Store) takeSession(clientID, from string) (bool, error) {
	subj := sessionPrefix(clientID) + "s"
	s.cacheMu.Lock()
	seq, read := s.recSeq[clientID]
	delete(s.recSeq, clientID)
	s.cacheMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	var want uint64 // the record's sequence this node writes after, once known
	for {
		// The leader's current record (AllowDirect is off: this is the
		// stream leader's answer, consistent with the write below).
		cur, err := s.lastRecord(ctx, subj)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			// None, or ended since our read (a clean start elsewhere; the
			// read may also have come from a replica that had not applied
			// the purge yet): there is nothing to take.
			s.cacheMu.Lock()
			delete(s.queues, clientID)
			s.cacheMu.Unlock()
			return false, nil
		}
		if err != nil {
			return false, err
		}
		switch {
		case want == 0 && (read && cur.Sequence != seq || !read && (from == "" || cur.Header.Get(hdrOwner) != from)):
			return false, errMoved
		case want != 0 && cur.Sequence != want:
			// Written since: by this node's write whose answer was lost,
			// or by another node's.
			if cur.Header.Get(hdrOwner) == s.node && cur.Header.Get(hdrDel) == "" {
				return true, nil
			}
			return false, errMoved
		}
		want = cur.Sequence
		if cur.Header.Get(hdrDel) != "" {
			return false, nil
		}
		if cur.Header.Get(hdrOwner) == s.node {
			return true, nil
		}
		m := nats.NewMsg(subj)
		m.Header.Set(hdrOwner, s.node)
		m.Data = cur.Data
		actx, acancel := context.WithTimeout(ctx, readAsk)
		_, err = s.js.PublishMsg(actx, m, jetstream.WithExpectLastSequencePerSubject(cur.Sequence))
		acancel()
		if err == nil {
			return true, nil
		}
		var ae *jetstream.APIError
		if !errors.As(err, &ae) || ae.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence &&
			ae.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequenceConstant {
			if ctx.Err() != nil {
				return false, err
			}
			// No answer (or another error): read again, to learn
			// whether it was stored, and write again if not.
		}
		// Wrong last sequence: another node wrote it, or this node's
		// earlier write whose answer was lost; the next read tells.
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// lastRecord returns the stream leader's last message on subj, asking
// again (each ask bounded by readAsk) while the stream elects a leader,
// within ctx.
func (s *Store) lastRecord(ctx context.Context, subj string) (*jetstream.RawStreamMsg, error) {
	for {
		actx, cancel := context.WithTimeout(ctx, readAsk)
		cur, err := s.st.GetLastMsgForSubject(actx, subj)
		cancel()
		if err == nil || errors.Is(err, jetstream.ErrMsgNotFound) || ctx.Err() != nil {
			return cur, err
		}
		select { // a leader election after a node's loss: try again
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TakeSession implements the broker's session taker (cluster_store.go):
// see takeSession. It fails when another node took the session since this
// node's last read of it, and when the store does not answer; it reports
// false when the session was ended since.
func (s *Store) TakeSession(clientID string) (bool, error) {
	return s.takeSession(clientID, "")
}

// adoption is this node's adoption of one session (under Node.mu): a
// claim for it waits until done is closed.
type adoption struct{ done chan struct{} }

// claimSeen is another node's claim of a client id.
type claimSeen struct {
	node  string
	at    time.Time
	clean bool
}

// beginAdopt marks clientID, a session of the lost node, as being adopted
// by this node, unless a node other than the lost one claimed it with
// clean start within recentClaim: its client ends the stored session
// there, without reading it, so a copy adopted here would outlive it. (A
// claim without clean start does not stop the adoption: that node reads
// and takes the session, after or instead of this one, and should its
// CONNECT fail, the session must still be held somewhere.)
func (n *Node) beginAdopt(clientID, lost string) (end func(), ok bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if c, ok := n.claimedAt[clientID]; ok && c.clean && c.node != lost && time.Since(c.at) < recentClaim {
		return nil, false
	}
	if n.adopting == nil {
		n.adopting = make(map[string]*adoption)
	}
	a := &adoption{done: make(chan struct{})}
	n.adopting[clientID] = a
	return func() {
		n.mu.Lock()
		delete(n.adopting, clientID)
		n.mu.Unlock()
		close(a.done)
	}, true
}

// noteClaim remembers another node's claim of clientID (under Node.mu)
// and returns the adoption of it in progress here, if any, for the
// eviction to wait for.
func (n *Node) noteClaim(clientID, node string, clean bool) *adoption {
	if n.claimedAt == nil {
		n.claimedAt = make(map[string]claimSeen)
	}
	now := time.Now()
	if len(n.claimedAt) >= maxCounting {
		for id, c := range n.claimedAt {
			if now.Sub(c.at) >= recentClaim {
				delete(n.claimedAt, id)
			}
		}
	}
	if len(n.claimedAt) < 4*maxCounting {
		n.claimedAt[clientID] = claimSeen{node, now, clean}
	}
	return n.adopting[clientID]
}

// answers reports whether node answers a ping: a node whose route went
// away only for a moment (NATS closes one of two routes two nodes made to
// each other at the same time) is no lost node, and taking its sessions
// would leave them held twice.
func (n *Node) answers(node string) bool {
	_, err := n.nc.Request("c.ping."+node, nil, 500*time.Millisecond)
	return err == nil
}
