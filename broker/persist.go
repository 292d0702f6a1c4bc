package broker

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mqttboard/mqttboard/broker/message"
	"github.com/mqttboard/mqttboard/broker/session"
	"github.com/mqttboard/mqttboard/broker/storage"
	"github.com/mqttboard/mqttboard/broker/topics"
	"github.com/mqttboard/mqttboard/packet"
)

// The broker's side of persistence (Options.Store; see storage's package
// doc for the plan this follows). What is stored: sessions with a session
// expiry above 0 (3.1.1 clean session false), with subscriptions, will and
// user name, subscription options (cid included) and the will's message
// expiry; their QoS 1/2 deliveries, queued and in flight (session
// package; a QoS 1 delivery's sent state and packet id are not stored,
// a QoS 2 one's are); the inbound QoS 2 ids of such sessions; retained
// messages.
// Clean sessions and QoS 0 deliveries never touch the store. The
// acknowledgements that promise durability wait for their commits
// (durable.go).
//
// Decisions where the spec and the issue are silent:
//   - A graceful shutdown publishes the wills of connected clients, as
//     without a store, and stores their sessions without a will; the
//     delayed wills of offline sessions stay pending in the store and are
//     sent after the restart once their delay (counted from the
//     disconnect) has passed.
//   - A session the broker died holding (kill -9, power loss) counts its
//     expiry and its will delay from the restart; its will is sent then.
//   - A QoS 1 message that was in flight when the broker died goes out
//     again after the restart with DUP and a new packet id, not its old
//     one ([MQTT-4.4.0-1] asks for the old id on reconnect; storing it
//     cost a record rewrite per delivery, and QoS 1 receivers keep no
//     state by packet id). QoS 2 keeps its packet id, as exactly once
//     needs.
//   - Sticky shared groups need nothing stored beyond their members'
//     subscriptions: a device goes to the member that wins it by
//     rendezvous hashing (topics/shared.go), so the restored members get
//     the same devices as before (TestPersistStickyAcrossRestart).
//   - Not stored: $SYS retained topics (regenerated).

// ackQueueLen bounds the commits waiting in ackLoop's queue; a read loop
// that finds it full waits (back-pressure, like a full store queue).
const ackQueueLen = 1 << 14

// Open is [New] for a broker with Options.Store: it returns the error that
// recovering the stored state met (a *storage.CorruptError names the file
// and says what to do), closing the store, instead of a broker that would
// refuse to serve.
func Open(opts Options) (*Server, error) {
	s := New(opts)
	if s.restoreErr != nil {
		s.Close()
		return nil, s.restoreErr
	}
	return s, nil
}

// StoreSize is the store's size on disk in bytes, and false when the
// broker has no store or its engine cannot tell (see [storage.Sizer]).
func (s *Server) StoreSize() (int64, bool) {
	sz, ok := s.store.(storage.Sizer)
	if !ok {
		return 0, false
	}
	n, err := sz.Size()
	return n, err == nil
}

// restore runs in New, before any listener can accept: it sweeps what
// expired while the broker was down, then rebuilds the sessions (with
// subscriptions, queues, in-flight windows, inbound QoS 2 ids and will
// timers) and the retained messages.
func (s *Server) restore() error {
	ctx := context.Background()
	now := time.Now()
	st, err := s.store.Sweep(ctx, now)
	if err != nil {
		return fmt.Errorf("recovering the store: %w", err)
	}
	var stored []storage.Session
	if err := s.store.Sessions(func(ss storage.Session) error {
		stored = append(stored, ss)
		return nil
	}); err != nil {
		return fmt.Errorf("recovering sessions: %w", err)
	}
	var fix storage.Batch
	var due []*message.Message
	queued := 0
	for i := range stored {
		n, w, err := s.restoreSession(&stored[i], now, &fix)
		if err != nil {
			return err
		}
		queued += n
		if w != nil {
			due = append(due, w)
		}
	}
	retained := 0
	if err := s.store.Retained(func(r storage.Retained) error {
		m := message.FromRetained(&r)
		m.Topic, m.CID = s.retainedFromKey(r.Topic)
		if !m.Expired(now) {
			s.retained.Set(m)
			retained++
		}
		return nil
	}); err != nil {
		return fmt.Errorf("recovering retained messages: %w", err)
	}
	if fix.Len() > 0 {
		if err := s.store.Apply(&fix).Wait(ctx); err != nil {
			return fmt.Errorf("recovering sessions: %w", err)
		}
	}
	s.opts.Logger.Info("store recovered", "sessions", len(stored), "messages", queued, "retained", retained,
		"swept sessions", st.Sessions, "swept messages", st.Messages, "swept retained", st.Retained, "took", time.Since(now).Round(time.Millisecond))
	for _, w := range due {
		s.publishWill(w) // wills whose delay ran out while the broker was down
	}
	return nil
}

// restoreSession rebuilds one stored session; it returns how many
// messages it restored and its will when that is due now. A session the
// broker died holding gets DisconnectedAt = now, written back through fix.
func (s *Server) restoreSession(ss *storage.Session, now time.Time, fix *storage.Batch) (int, *message.Message, error) {
	sess := session.New(ss.ClientID, s.seq.Add(1), session.Limits{
		MaxQueueBytes:    s.opts.MaxQueueBytes,
		MaxInflightBytes: s.opts.MaxInflightBytes,
	})
	sess.Expiry = ss.ExpiryInterval
	sess.Account = ss.Account
	var rights *clientACL
	if s.opts.ACL != nil && s.opts.Auth == nil {
		rights = s.opts.ACL.forClient(ss.Username, ss.ClientID)
	}
	for _, sub := range ss.Subscriptions {
		ts, err := restoredSubscription(sess, sub, rights)
		if err != nil {
			s.opts.Logger.Warn("stored subscription dropped", "client", ss.ClientID, "filter", sub.Filter, "err", err)
			continue
		}
		if ss.Account != 0 && s.opts.Auth != nil {
			// Confined to what the account sees, as conn.scope does; the
			// token's own grants apply again when the client reconnects
			// (conn.regrant).
			ts.Account = ss.Account
			cond, _ := ts.Cond.(*condition)
			if cond == nil {
				cond = &condition{}
			}
			cond.auth, cond.viewer = s.opts.Auth, ss.Account
			ts.Cond = cond
		}
		s.index.Add(ts)
		sess.AddSub(ts)
	}
	n := 0
	if err := s.store.Messages(ss.ClientID, func(m storage.Message) error {
		if stale := sess.Restore(&m); stale != 0 {
			fix.DeleteMessage(ss.ClientID, stale)
		}
		n++
		return nil
	}); err != nil {
		return 0, nil, fmt.Errorf("recovering the queue of %q: %w", ss.ClientID, err)
	}
	for _, id := range ss.InboundQoS2 {
		sess.RestoreInbound(id)
	}
	sess.SetStore(s.store)
	will := s.willFromStored(ss)
	at := ss.DisconnectedAt
	if at.IsZero() {
		// The broker died while the client was connected: its connection
		// ended now, as far as expiry and the will are concerned.
		at = now
		rec := *ss
		rec.DisconnectedAt = now
		rec.InboundQoS2 = nil
		fix.PutSession(rec)
	}
	gone := now.Sub(at)
	var willDelay time.Duration
	if will != nil {
		willDelay = time.Duration(min(ss.Will.DelayInterval, ss.ExpiryInterval))*time.Second - gone
	}
	var due *message.Message
	if will != nil && willDelay <= 0 {
		due, will = will, nil
		rec := *ss
		rec.DisconnectedAt = at
		rec.Will = nil
		rec.InboundQoS2 = nil
		fix.PutSession(rec)
	}
	var expiry time.Duration
	if ss.ExpiryInterval != storage.NeverExpire {
		expiry = max(time.Duration(ss.ExpiryInterval)*time.Second-gone, time.Millisecond)
	}
	s.restoredMeta(sess, ss, at) // inspect_persist.go: what the REST API shows of it
	s.mu.Lock()
	s.sessions[ss.ClientID] = sess
	s.mu.Unlock()
	proto, user := packet.Version(ss.Protocol), ss.Username
	sess.Park(will, willDelay, s.willSender(sess, proto, user, at), expiry, func() { s.expire(sess) })
	return n, due, nil
}

// restoredSubscription rebuilds a subscription from its stored form, as
// handleSubscribe built it (with the SUBSCRIBE's cid option).
func restoredSubscription(sess *session.Session, sub storage.Subscription, rights *clientACL) (*topics.Subscription, error) {
	group, rest, _ := packet.CutShare(sub.Filter)
	topic, cond, err := parseFlespiFilter(rest, subscribeOptions{cid: sub.CID, hasCID: sub.HasCID})
	if err != nil {
		return nil, err
	}
	ts := &topics.Subscription{
		Subscriber:        sess,
		Filter:            sub.Filter,
		Topic:             topic,
		Group:             group,
		QoS:               packet.QoS(sub.QoS),
		NoLocal:           sub.NoLocal,
		RetainAsPublished: sub.RetainAsPublished,
		RetainHandling:    sub.RetainHandling,
		ID:                sub.ID,
	}
	if rights != nil && rights.readChecked(topic) {
		if cond == nil {
			cond = &condition{}
		}
		cond.read = rights
	}
	if cond != nil {
		ts.Cond = cond
	}
	return ts, nil
}

func (s *Server) willFromStored(ss *storage.Session) *message.Message {
	w := ss.Will
	if w == nil {
		return nil
	}
	cid := ss.Account
	if cid == 0 {
		cid = s.opts.AccountID
	}
	m := &message.Message{Topic: w.Topic, Payload: w.Payload, QoS: packet.QoS(w.QoS), Retain: w.Retain,
		Props: message.PropsFromStored(&w.Props), Origin: ss.ClientID, CID: cid, TokenID: ss.TokenID}
	m.Props.MessageExpiry = w.MessageExpiry // counted from publication (publishWill)
	return m
}

// sessionRecord is sess as the store keeps it. at is when its connection
// ended (zero while connected); will is its pending will, nil when none.
func sessionRecord(sess *session.Session, v packet.Version, user string, at time.Time, will *message.Message, willDelay uint32) storage.Session {
	rec := storage.Session{
		ClientID:       sess.ClientID,
		Protocol:       byte(v),
		ExpiryInterval: sess.Expiry,
		DisconnectedAt: at,
		Username:       user,
		Account:        sess.Account,
	}
	if will != nil {
		rec.TokenID = will.TokenID
	}
	if will != nil {
		rec.Will = &storage.Will{Topic: will.Topic, Payload: will.Payload, QoS: byte(will.QoS), Retain: will.Retain,
			DelayInterval: willDelay, Props: message.StoredProps(&will.Props), MessageExpiry: will.Props.MessageExpiry}
	}
	for _, sub := range sess.Subs() {
		st := storage.Subscription{
			Filter: sub.Filter, QoS: byte(sub.QoS), NoLocal: sub.NoLocal, RetainAsPublished: sub.RetainAsPublished,
			RetainHandling: sub.RetainHandling, ID: sub.ID,
		}
		if cond, ok := sub.Cond.(*condition); ok && cond.hasCID {
			st.CID, st.HasCID = cond.cid, true // the SUBSCRIBE's cid option (flespi.go)
		}
		rec.Subscriptions = append(rec.Subscriptions, st)
	}
	return rec
}

// persistAttach stores what CONNECT decided, under s.mu so that the
// session's records are applied in the order its owners changed: a clean
// start deletes the old stored session, a session with an expiry is stored
// as connected, one without is forgotten. The CONNACK waits for the
// returned commit (nil: nothing to wait for).
func (s *Server) persistAttach(c *conn, old *session.Session) *storage.Commit {
	var b storage.Batch
	if old != nil && old != c.sess && old.Persistent() {
		b.DeleteSession(c.clientID)
		old.SetStore(nil)
	}
	switch {
	case c.expiry > 0:
		c.sess.SetStore(s.store)
		if c.auth.ident != nil {
			c.sess.Account = c.auth.ident.Account // as authAttached will: the record needs it now
		}
		b.PutSession(sessionRecord(c.sess, c.v, c.storedUser(), time.Time{}, c.auth.will, c.willDelay))
	case c.sess.Persistent():
		b.DeleteSession(c.clientID)
		c.sess.SetStore(nil)
	}
	if b.Len() == 0 {
		return nil
	}
	return s.store.Apply(&b)
}

// storedUser is the user name a session record keeps for the static ACL;
// under token authentication it may be the token's key, which is not
// stored there (the account is).
func (c *conn) storedUser() string {
	if c.auth.ident != nil {
		return ""
	}
	return c.auth.username
}

// persistSubs stores the session's new subscriptions before SUBACK or
// UNSUBACK goes out (the returned commit; nil when the session is not
// persistent).
func (c *conn) persistSubs() *storage.Commit {
	if c.s.store == nil || !c.sess.Persistent() {
		return nil
	}
	c.mu.Lock()
	will := c.auth.will
	c.mu.Unlock()
	var b storage.Batch
	b.PutSession(sessionRecord(c.sess, c.v, c.storedUser(), time.Time{}, will, c.willDelay))
	return c.s.store.Apply(&b)
}

// persistDisconnect stores the end of c's connection, under s.mu: the
// session parked with its delayed will, or forgotten when its expiry is 0.
// At shutdown (closing) a persistent session is kept without a will: the
// will was published with the shutdown.
func (s *Server) persistDisconnect(c *conn, sess *session.Session, at time.Time, delayed *message.Message) {
	if s.store == nil || !sess.Persistent() {
		return
	}
	var b storage.Batch
	if c.expiry == 0 {
		b.DeleteSession(c.clientID)
		sess.SetStore(nil)
	} else {
		b.PutSession(sessionRecord(sess, c.v, c.storedUser(), at, delayed, c.willDelay))
	}
	s.store.Apply(&b)
}

// willSender is the function a parked session's will timer calls: it
// publishes the will and stores the session without it, so a restart does
// not send it twice.
func (s *Server) willSender(sess *session.Session, v packet.Version, user string, at time.Time) func(*message.Message) {
	return func(w *message.Message) {
		if w == nil {
			return
		}
		if s.store != nil {
			s.mu.Lock()
			if s.sessions[sess.ClientID] == sess && !sess.Online() && sess.Persistent() {
				var b storage.Batch
				b.PutSession(sessionRecord(sess, v, user, at, nil, 0))
				s.store.Apply(&b)
			}
			s.mu.Unlock()
		}
		s.publishWill(w)
	}
}

// persistEnd forgets a session that ended (expiry, REST removal); s.mu
// is held.
func (s *Server) persistEnd(sess *session.Session) {
	if s.store == nil || !sess.Persistent() {
		return
	}
	var b storage.Batch
	b.DeleteSession(sess.ClientID)
	sess.SetStore(nil)
	s.store.Apply(&b)
}

// batch returns the routing batch of r, made on first use; nil without a
// store, so the in-memory path allocates nothing.
func (r *router) batchFor(s *Server) *storage.Batch {
	if s.store == nil {
		return nil
	}
	if r.batch == nil {
		r.batch = new(storage.Batch)
	}
	return r.batch
}

// persistRetained stores a retained message (or its deletion) in the
// routing batch. $SYS topics are regenerated and never stored.
func (r *router) persistRetained(s *Server, m *message.Message) {
	if s.store == nil || strings.HasPrefix(m.Topic, "$SYS/") || (r.remote && s.shared != nil) {
		// Another node's retained message is in the shared store already:
		// its own node wrote it there, in its publisher's order.
		return
	}
	b := r.batchFor(s)
	if len(m.Payload) == 0 {
		b.DeleteRetained(s.retainedKey(m))
		return
	}
	rec := message.ToRetained(m)
	rec.Topic = s.retainedKey(m)
	b.PutRetained(rec)
}

// applyRoute applies what routing one message stored beyond the session
// queues (retained, the inbound QoS 2 id) and keeps the commit for the
// caller's acknowledgement (takeCommits).
func (r *router) applyRoute(s *Server) {
	if r.batch != nil && r.batch.Len() > 0 {
		r.commits = append(r.commits, s.store.Apply(r.batch))
	}
	r.batch = nil
}

// takeCommits returns the commits of the last routed message (empty when
// it stored nothing); the slice is the router's, valid until resetCommits.
func (r *router) takeCommits() []*storage.Commit { return r.commits }

// resetCommits forgets the commits of the previous message.
func (r *router) resetCommits() {
	clear(r.commits)
	r.commits = r.commits[:0]
}

// sweepStore deletes what expired from the store (Serve's sweep loop, once
// a minute) and compacts it now and then.
func (s *Server) sweepStore() {
	if s.store == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.store.Sweep(ctx, time.Now()); err != nil {
		s.opts.Logger.Warn("store sweep failed", "err", err)
	}
	if s.sweeps.Add(1)%compactEvery == 0 {
		if err := s.store.Compact(ctx); err != nil {
			s.opts.Logger.Warn("store compaction failed", "err", err)
		}
	}
}

// compactEvery is how many sweeps (minutes) pass between compactions:
// commits wait while one runs, and bbolt reuses freed pages meanwhile, so
// it is rare: every six hours.
const compactEvery = 6 * 60

// closeStore closes the store once every connection has ended.
func (s *Server) closeStore() {
	if s.store == nil {
		return
	}
	if err := s.store.Close(); err != nil {
		s.opts.Logger.Warn("store close", "err", err)
	}
}

// deleteRetainedMatching is flespi's wildcard deletion of retained
// messages (in account cid, or in every one); with a store, each deleted
// message is deleted there too, in the routing batch the publisher's
// acknowledgement waits for.
func (s *Server) deleteRetainedMatching(pattern string, cid uint64, every bool, r *router) int {
	gone := s.retained.DeleteMatchingMessages(pattern, cid, every)
	if s.store != nil {
		b := r.batchFor(s)
		for _, m := range gone {
			b.DeleteRetained(s.retainedKey(m))
		}
	}
	return len(gone)
}

// retainedKey is the store's key of a retained message: its topic, with
// the account in front for any account but the broker's own (accounts are
// separate namespaces with token authentication). NUL cannot occur in a
// topic [MQTT-1.5.4-2], so the two forms never collide.
func (s *Server) retainedKey(m *message.Message) string {
	if m.CID == 0 || m.CID == s.opts.AccountID {
		return m.Topic
	}
	return "\x00" + strconv.FormatUint(m.CID, 10) + "\x00" + m.Topic
}

// retainedFromKey reads back what retainedKey made.
func (s *Server) retainedFromKey(key string) (topic string, cid uint64) {
	if !strings.HasPrefix(key, "\x00") {
		return key, s.opts.AccountID
	}
	id, topic, _ := strings.Cut(key[1:], "\x00")
	cid, _ = strconv.ParseUint(id, 10, 64)
	return topic, cid
}
