package broker

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/mqttboard/mqttboard/broker/message"
	"github.com/mqttboard/mqttboard/broker/session"
	"github.com/mqttboard/mqttboard/broker/storage"
	"github.com/mqttboard/mqttboard/packet"
)

// A store shared by the nodes of a cluster (storage.Shared; the cluster's
// replicated store, docs/cluster.md): each node holds some of the
// persistent sessions, and a session moves to the node its client
// connects to. The node that gives a session up (a takeover from another
// node: Evict) stops writing it and waits until all it wrote is
// replicated; the node that takes it reads it from the shared store, with
// its subscriptions, queue, in-flight window and inbound QoS 2 ids, and
// continues as after a restart. A node that died holding sessions loses
// nothing its commits confirmed: its clients reconnect elsewhere and
// their sessions are read the same way.

// handOverTimeout bounds how long an evicting node waits for its writes
// of the session to be replicated before answering the claim.
const handOverTimeout = 5 * time.Second

// adoptStored runs in CONNECT after the client id's claim and before the
// session is attached: a session this node does not hold is read from the
// shared store (clean start false), or ended there (clean start). One nil
// check without a shared store.
func (s *Server) adoptStored(clientID string, cleanStart bool) error {
	if s.shared == nil {
		return nil
	}
	s.mu.Lock()
	_, here := s.sessions[clientID]
	s.mu.Unlock()
	if here {
		return nil
	}
	if cleanStart {
		// Another node (maybe one that died) may have stored a session
		// under this id; a clean start ends it, before the attach's own
		// records (commits are applied in order). (A survivor adopting
		// it at this moment skips it, or ends its copy: the claim came
		// first; broker/cluster take.go.)
		if se, ok := s.shared.(sessionEnder); ok {
			se.EndSession(clientID)
			return nil
		}
		var b storage.Batch
		b.DeleteSession(clientID)
		s.store.Apply(&b)
		return nil
	}
	ss, ok, err := s.shared.Session(clientID)
	if err != nil {
		return fmt.Errorf("the cluster could not read the stored session: %w", err)
	}
	if !ok {
		return nil
	}
	if taker, ok := s.shared.(sessionTaker); ok {
		// Exclusive: fails when another node took it since the read.
		held, err := taker.TakeSession(clientID)
		if err != nil {
			return fmt.Errorf("the cluster could not hand over the stored session: %w", err)
		}
		if !held {
			return nil // ended meanwhile (a clean start elsewhere): a new session
		}
	}
	// A later CONNECT of this client id, on this node, may have read and
	// attached the session while this one waited for the store (seconds
	// in a failover): restoring it again would replace the session that
	// connection is attached to, whose messages would then queue where
	// no connection reads them. The attach takes that one over instead.
	s.mu.Lock()
	_, here = s.sessions[clientID]
	s.mu.Unlock()
	if here {
		return nil
	}
	var fix storage.Batch
	_, due, err := s.restoreSession(&ss, time.Now(), &fix)
	if err != nil {
		return err
	}
	if fix.Len() > 0 {
		s.store.Apply(&fix)
	}
	if due != nil {
		s.publishWill(due)
	}
	// Messages published on other nodes after CONNACK must find the
	// session's subscriptions here.
	s.syncInterest()
	s.opts.Logger.Debug("session taken from the cluster's store", "client", clientID, "subscriptions", len(ss.Subscriptions))
	return nil
}

// sessionTaker is a [storage.Shared] whose sessions a node takes
// exclusively (the cluster's replicated store, broker/cluster take.go):
// TakeSession, after the node read the session (Shared.Session), makes
// it the session's holder, failing when another node took it since, so
// two nodes never both hold one; false when the session was ended since.
type sessionTaker interface {
	TakeSession(clientID string) (bool, error)
}

// sessionEnder is a shared store that ends a session another node may
// have stored more cheaply than a batch's DeleteSession when it stored
// none (broker/cluster's Store.EndSession). The commit is that of a
// batch deleting the session.
type sessionEnder interface {
	EndSession(clientID string) *storage.Commit
}

// handOver is Evict's end of a session on this node with a shared store:
// the session stops writing, and every record written so far is
// replicated before Evict returns (and the claim is answered), so the
// claiming node reads them all.
func (s *Server) handOver(sess *session.Session) {
	if s.shared == nil {
		return
	}
	sess.SetStore(nil)
	ctx, cancel := context.WithTimeout(context.Background(), handOverTimeout)
	defer cancel()
	if err := s.store.Apply(new(storage.Batch)).Wait(ctx); err != nil {
		s.opts.Logger.Warn("cluster: a session's last records were not confirmed before its takeover", "client", sess.ClientID, "err", err)
	}
}

// storedRemote is a [Bridge] whose other nodes confirm that they stored
// a message for their persistent sessions (the cluster with a shared
// store: broker/cluster's Node.Stored).
type storedRemote interface {
	// Stored returns a commit that resolves once every local commit has
	// and every other node answered that the deliveries of m it stored
	// are replicated (failing when one did not, or did not answer in
	// time); nil when nothing needs waiting for.
	Stored(m *message.Message, local []*storage.Commit) *storage.Commit
}

// withRemote adds to a PUBLISH's commits the other nodes' confirmation
// that they stored it (storedRemote): with a shared store, a PUBACK
// promises that every persistent session the message reached, on any
// node, has it replicated.
func (s *Server) withRemote(m *message.Message, commits []*storage.Commit) []*storage.Commit {
	if s.shared == nil || m == nil || m.QoS == 0 {
		return commits
	}
	sr, ok := s.bridge.(storedRemote)
	if !ok {
		return commits
	}
	if c := sr.Stored(m, commits); c != nil {
		return append(commits, c)
	}
	return commits
}

// RouteRemoteStored is [Server.RouteRemote] that also returns the commits
// that stored the message for this node's persistent sessions (a copy;
// none without a store), for the publishing node's acknowledgement.
func (s *Server) RouteRemoteStored(m *message.Message) (int, []*storage.Commit) {
	r := routerPool.Get().(*router)
	r.remote = true
	n := s.route(m, r)
	var cs []*storage.Commit
	if s.store != nil {
		r.applyRoute(s)
		cs = slices.Clone(r.takeCommits())
		r.resetCommits()
	}
	r.remote = false
	routerPool.Put(r)
	return n, cs
}

// AdoptSession takes over ss, a session of a node of the cluster that was
// lost (read from the shared store by the node chosen to adopt them): it
// is rebuilt here as an offline session, as after a restart, so messages
// for it queue here until its client reconnects (here or on another node,
// which then takes it from this one). The record is written back as this
// node's before AdoptSession returns. A session this node already holds
// is left alone.
func (s *Server) AdoptSession(ss storage.Session) error {
	if s.shared == nil {
		return nil
	}
	s.mu.Lock()
	_, here := s.sessions[ss.ClientID]
	s.mu.Unlock()
	if here {
		return nil
	}
	var fix storage.Batch
	_, due, err := s.restoreSession(&ss, time.Now(), &fix)
	if err != nil {
		return err
	}
	if fix.Len() == 0 {
		rec := ss
		rec.InboundQoS2 = nil
		fix.PutSession(rec) // the record names this node now
	}
	commit := s.store.Apply(&fix)
	if due != nil {
		s.publishWill(due)
	}
	s.syncInterest()
	ctx, cancel := context.WithTimeout(context.Background(), handOverTimeout)
	defer cancel()
	return commit.Wait(ctx)
}

// refuser is a [Bridge] that refuses QoS 1/2 PUBLISHes for a while: the
// cluster's node in a minority (every topic), or while a lost node's
// sessions are taken over (the topics they could receive; broker/cluster
// failover.go).
type refuser interface{ Refusing(topic string) bool }

// errRefused fails the acknowledgement of a PUBLISH a failing-over or
// minority cluster node did not take.
var errRefused = fmt.Errorf("%w: this node of the cluster takes no QoS 1/2 message now (it reaches no majority of the nodes, or a lost node's sessions are being taken over): send it again", storage.ErrWrite)

// refused returns, for a QoS 1/2 PUBLISH on topic that such a node does
// not take, a failed commit for its acknowledgement (0x97; MQTT 3.1.1:
// the connection closes), before the message is routed anywhere; nil
// otherwise, and at once without a shared store.
func (s *Server) refused(qos packet.QoS, topic string) *storage.Commit {
	if s.shared == nil || qos == 0 {
		return nil
	}
	r, ok := s.bridge.(refuser)
	if !ok || !r.Refusing(topic) {
		return nil
	}
	c, resolve := storage.NewCommit()
	resolve(errRefused)
	return c
}
