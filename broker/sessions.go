package broker

import (
	"slices"
	"time"

	"github.com/mqttboard/mqttboard/broker/message"
	"github.com/mqttboard/mqttboard/broker/session"
	"github.com/mqttboard/mqttboard/broker/storage"
)

// attach gives c its session: a new one, or the existing one for the
// client id, taking it over from a live connection first (that one gets
// DISCONNECT 0x8E [MQTT-3.1.4-3]). It reports whether a session was
// resumed, and false for ok when the server is closing.
// With a store, commit is what the CONNACK must wait for (persist.go).
func (s *Server) attach(c *conn, cleanStart bool) (present, ok bool, commit *storage.Commit) {
	for {
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			return false, false, nil
		}
		old := s.sessions[c.clientID]
		if old != nil {
			if oc, _ := old.Conn().(*conn); oc != nil {
				s.mu.Unlock()
				oc.Kick(0x8E, "another connection with the same client id took the session over")
				select {
				case <-oc.wait(connDone):
				case <-time.After(5 * time.Second):
					s.opts.Logger.Warn("takeover", "client", c.clientID, "err", errTakeoverTimeout)
					oc.nc.Close()
					<-oc.wait(connDone)
				}
				continue
			}
		}
		var will *message.Message
		if old != nil {
			// Reconnecting before the will delay ends cancels the will
			// [MQTT-3.1.3-9]; a clean start ends the old session, which
			// sends it.
			will = old.Resume()
		}
		if old != nil && !cleanStart {
			c.sess = old
			will = nil
			present = true
		} else {
			c.sess = session.New(c.clientID, s.seq.Add(1), session.Limits{
				MaxQueueBytes:    s.opts.MaxQueueBytes,
				MaxInflightBytes: s.opts.MaxInflightBytes,
			})
			s.sessions[c.clientID] = c.sess
		}
		c.sess.Expiry = c.expiry
		if s.store != nil {
			commit = s.persistAttach(c, old)
		}
		s.mu.Unlock()
		if old != nil && c.sess != old {
			s.dropSubscriptions(old)
		}
		if will != nil {
			s.publishWill(will)
		}
		return present, true, commit
	}
}

// disconnected runs once per connection after both loops ended: it
// publishes or schedules the will and ends or keeps the session.
func (s *Server) disconnected(c *conn) {
	sess := c.sess
	c.mu.Lock()
	code, reason := c.code, c.kickReason()
	c.mu.Unlock()
	s.ctr.connected.Add(-1)
	// EventDisconnected goes out last, once the session no longer shows
	// this connection and its will is published or scheduled: whoever
	// waits on the event (the board, tests, the REST API's callers) then
	// reads the state the event announces.
	defer s.emit(Event{Kind: EventDisconnected, ClientID: c.clientID, Reason: code, Detail: reason})
	s.onDisconnect(c, code, reason) // inspection and log (logs.go)
	c.authDetached()                // tokens.go: the token's ttl runs from now

	will := c.takeWill()
	// Detaching under s.mu makes attach either see this connection (and
	// wait for it to finish) or run after all of this: a reconnect cannot
	// slip between detaching and scheduling the will.
	s.mu.Lock()
	sess.Detach(c)
	if s.sessions[c.clientID] != sess {
		s.mu.Unlock()
		s.publishWill(will)
		return
	}
	if c.expiry == 0 || s.closing {
		delete(s.sessions, c.clientID)
		s.persistDisconnect(c, sess, time.Now(), nil)
		s.mu.Unlock()
		s.dropSubscriptions(sess)
		s.publishWill(will)
		return
	}
	sess.Expiry = c.expiry
	var delayed *message.Message
	if c.willDelay > 0 {
		delayed, will = will, nil
	}
	var expiry time.Duration
	if c.expiry != 0xFFFFFFFF {
		expiry = time.Duration(c.expiry) * time.Second
	}
	at := time.Now()
	s.persistDisconnect(c, sess, at, delayed)
	sess.Park(delayed, time.Duration(min(c.willDelay, c.expiry))*time.Second, s.willSender(sess, c.v, c.storedUser(), at), expiry, func() { s.expire(sess) })
	s.mu.Unlock()
	s.publishWill(will)
}

// expire ends a session whose expiry interval ran out while it was offline,
// sending a will still pending [MQTT-3.1.2-8].
func (s *Server) expire(sess *session.Session) {
	s.mu.Lock()
	if s.sessions[sess.ClientID] != sess || sess.Online() {
		s.mu.Unlock()
		return
	}
	delete(s.sessions, sess.ClientID)
	s.persistEnd(sess)
	w := sess.TakeWill()
	s.mu.Unlock()
	s.dropSubscriptions(sess)
	s.publishWill(w)
	s.emit(Event{Kind: EventExpired, ClientID: sess.ClientID})
}

// endSessions runs at shutdown: every pending will is sent now, since the
// sessions end with the process.
func (s *Server) endSessions() {
	s.mu.Lock()
	var wills []*message.Message
	for _, sess := range s.sessions {
		if s.store != nil && sess.Persistent() {
			sess.TakeWill() // stops its timers: the will stays pending in the store (persist.go)
			continue
		}
		if w := sess.TakeWill(); w != nil {
			wills = append(wills, w)
		}
	}
	s.mu.Unlock()
	for _, w := range wills {
		s.publishWill(w)
	}
}

func (s *Server) dropSubscriptions(sess *session.Session) {
	for _, sub := range sess.Subs() {
		s.index.Remove(sess, sub.Filter)
		sess.RemoveSub(sub.Filter)
	}
}

// publishWill routes a will message, applying the publish ACL of its
// connection as for any PUBLISH.
func (s *Server) publishWill(w *message.Message) {
	if w == nil {
		return
	}
	m := *w
	m.Props.User = slices.Clone(w.Props.User) // stamping appends to it
	s.stamp(&m, time.Now())
	if w.Props.MessageExpiry > 0 {
		m.Expires = timeOf(m.Timestamp).Add(time.Duration(w.Props.MessageExpiry) * time.Second)
		m.Props.MessageExpiry = 0
	}
	w = &m
	r := routerPool.Get().(*router)
	s.route(w, r)
	routerPool.Put(r)
}
