package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/mqttboard/mqttboard/broker/session"
	"github.com/mqttboard/mqttboard/broker/storage"
	"github.com/mqttboard/mqttboard/packet"
)

// Sessions and subscriptions the management API changes are stored like a
// client's (with --data), so that POST /mqtt/sessions and the subscription
// endpoints keep what they answered across a restart.

// apiStoreWait bounds how long an API call waits for its change to be
// stored: the store gives back pressure only when it is overloaded.
const apiStoreWait = 10 * time.Second

// apiRecord is the stored record of sess, a session the API made and no
// client has used since: it has no will, user or protocol of its own, and
// its protocol 0 says so after a restart (restoredMeta).
func apiRecord(sess *session.Session, at time.Time) storage.Session {
	return sessionRecord(sess, 0, "", at, nil, 0)
}

// restoredMeta records, for the inspection API, what the store kept of a
// recovered session's last connection (protocol, user, when it ended). A
// session the API made keeps protocol 0 and so stays the API's alone: its
// subscription changes are stored again after a restart too.
func (s *Server) restoredMeta(sess *session.Session, ss *storage.Session, at time.Time) {
	m := &sessionMeta{sess: sess, username: ss.Username, version: packet.Version(ss.Protocol), disconnectedAt: at.UnixNano()}
	s.insp.mu.Lock()
	if s.insp.meta == nil {
		s.insp.meta = make(map[string]*sessionMeta)
	}
	s.insp.meta[sess.ClientID] = m
	s.insp.mu.Unlock()
}

// persistAPISession queues the record of sess after the API changed its
// subscriptions, and returns the commit (nil: nothing to store). Call with
// s.mu held, so that the record is ordered with the ones attach and
// disconnect write under it. An online session is written as its
// connection's SUBSCRIBE writes it. An offline one is written only when it
// is apiOnly ([Server.apiOnlyID]: no client used it since the API made it): one a client used has
// its will and the rest in its stored record, which only that connection's
// code rewrites; the API's change to it is kept in memory and stored with
// the session's next record (its client's next connection).
//
// One window stays: a client resuming the session between apiOnlyID and
// Server.mu here (its attach stored its record; it is not yet attached)
// has that record replaced by the API's, without its will, until its next
// SUBSCRIBE or disconnect rewrites it; only a crash inside that span loses
// the will.
func (s *Server) persistAPISession(sess *session.Session, apiOnly apiSession) *storage.Commit {
	if s.store == nil || !sess.Persistent() {
		return nil
	}
	if c, _ := sess.Conn().(*conn); c != nil {
		return c.persistSubs()
	}
	if apiOnly.sess != sess {
		return nil
	}
	var b storage.Batch
	b.PutSession(apiRecord(sess, apiOnly.since)) // the expiry still counts from then
	return s.store.Apply(&b)
}

// apiOnlyID reports whether the session of clientID, if any, is one the
// API made and no client has used since (its inspection meta is the
// API's: no protocol). Taken before Server.mu (inspector.mu is a leaf);
// the session it speaks of is checked again under Server.mu by identity.
func (s *Server) apiOnlyID(clientID string) apiSession {
	s.insp.mu.Lock()
	defer s.insp.mu.Unlock()
	if m := s.insp.meta[clientID]; m != nil && m.version == 0 {
		return apiSession{m.sess, timeOrZero(m.disconnectedAt)}
	}
	return apiSession{}
}

// apiSession is a session the API made and no client has used, with the
// time its offline period (and so its expiry) counts from: its creation,
// or what its record said after a restart.
type apiSession struct {
	sess  *session.Session
	since time.Time
}

// waitStored waits for commit (nil: nothing) and says what failed.
func waitStored(commit *storage.Commit, what string) error {
	if commit == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), apiStoreWait)
	defer cancel()
	if err := commit.Wait(ctx); err != nil {
		return fmt.Errorf("%s: storing it failed (it holds in memory until the broker stops): %w", what, err)
	}
	return nil
}
