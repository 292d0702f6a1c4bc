package broker

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/mqttboard/mqttboard/broker/message"
	"github.com/mqttboard/mqttboard/broker/session"
	"github.com/mqttboard/mqttboard/broker/storage"
	"github.com/mqttboard/mqttboard/broker/topics"
	"github.com/mqttboard/mqttboard/packet"
)

// The inspection and management API: the one model of the broker's state
// that the REST API (package restapi) and the board's broker pane read. It
// works on snapshots taken under the broker's locks in the documented order
// (LOCKS.md) and adds nothing to the message path: every figure is read
// when asked for.

// SessionInfo is a snapshot of one session, online or offline.
type SessionInfo struct {
	ClientID  string
	Connected bool
	// Protocol is "3.1", "3.1.1" or "5.0": of the live connection, or of
	// the last one while the session is offline.
	Protocol string
	// Address is the remote address of the live or last connection.
	Address  string
	Username string
	// Clean is the clean start (3.1.1: clean session) flag of the live or
	// last connection. A session made through [Server.CreateSession] has
	// false.
	Clean bool
	// KeepAlive is the keep alive in force, in seconds.
	KeepAlive int
	// Expiry is the session expiry interval in seconds; 0xFFFFFFFF never.
	Expiry uint32
	// CreatedAt is when the session was created; ConnectedAt and
	// DisconnectedAt when its last connection came and went (zero when not
	// known: DisconnectedAt while connected).
	CreatedAt, ConnectedAt, DisconnectedAt time.Time
	// Subscriptions are sorted by filter.
	Subscriptions []SubscriptionInfo
	// Queued are the messages waiting to be sent, Inflight those sent and
	// not acknowledged (QoS 1/2); the bytes are what they cost in memory,
	// as the queue limits count them.
	Queued, QueuedBytes, Inflight, InflightBytes int
	// IncomingQoS2 are QoS 2 messages received from the client and not yet
	// released by its PUBREL.
	IncomingQoS2 int
	// Dropped counts messages dropped for this session because its queue
	// was full.
	Dropped uint64
	// Published counts the PUBLISHes the client sent, Rejected those of
	// them refused with an error code, Received the PUBLISHes sent to the
	// client; BytesIn and BytesOut are the bytes read and written. They
	// are the live connection's, counting as it goes, or the last one's
	// while the session is offline (zero for a session no connection has
	// used since the broker started).
	Published, Received, Rejected, BytesIn, BytesOut uint64
	// WillPending is true while a delayed will waits to be published.
	WillPending bool
	// Node is the name of the cluster node that holds the session, ""
	// when the broker is not in a cluster.
	Node string
}

// SubscriptionInfo is one subscription of a session, as a client would
// send it in SUBSCRIBE. It is both what [Server.Sessions] reports and what
// [Server.Subscribe] takes.
type SubscriptionInfo struct {
	// Filter is the topic filter with any "$share/group/" or "$filter/..."
	// prefix; it identifies the subscription within its session.
	Filter            string
	QoS               packet.QoS
	NoLocal           bool
	RetainAsPublished bool
	// RetainHandling is 0 (send retained messages on subscribe), 1 (only
	// for a new subscription) or 2 (never).
	RetainHandling byte
	// ID is the MQTT 5 subscription identifier, 0 for none.
	ID uint32
}

// Errors of the management API. Handlers map them to HTTP status codes
// with errors.Is.
var (
	// ErrNoSession: no session has that client id.
	ErrNoSession = errors.New("no such session")
	// ErrSessionExists: CreateSession for a client id that has one.
	ErrSessionExists = errors.New("a session with this client id exists")
	// ErrInvalid wraps every validation error: the request was refused as a
	// whole and nothing was changed.
	ErrInvalid = errors.New("invalid")
)

// invalid returns an error wrapping ErrInvalid with a sentence saying what
// is wrong.
func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// inspector is the broker's bookkeeping for inspection: what it knows about
// offline sessions' last connections, and the log ring. It is filled on
// connect, disconnect and session end, never per message.
type inspector struct {
	mu sync.Mutex
	// meta holds, by client id, what an offline session's last connection
	// was (see sessionMeta): an online session's is read from its
	// connection, so an idle connected client costs no entry here.
	meta map[string]*sessionMeta
	logs logRing

	published atomic.Uint64 // records published over MQTT
}

// sessionMeta is what SessionInfo reports about an offline session that the
// session itself does not keep: its last connection, kept from its end
// (onDisconnect) until a connection resumes the session (inspectAttach) or
// the session ends (forgetMeta). A session made through the API has one
// with only createdAt and disconnectedAt.
type sessionMeta struct {
	sess              *session.Session
	address, username string
	// Unix nanoseconds, 0: not known.
	createdAt, connectedAt, disconnectedAt int64
	// The last connection's counters (connStats).
	published, received, rejected, bytesIn, bytesOut uint64
	keepAlive                                        uint16
	version                                          packet.Version
	clean                                            bool
}

// connStats is what the inspection API reads from a live connection besides
// its CONNECT fields: counters kept as it runs (atomics: the connection's
// own loops write them, any API reader reads them) and its times. It is
// part of conn; its bytes in are counted by conn's input.
type connStats struct {
	// (PUBLISHes from the client are counted in conn.rx.)
	// delivered counts PUBLISHes written and bytesOut the bytes written
	// (write loop).
	delivered, bytesOut atomic.Uint64
	// Set by inspectAttach before the connection attaches to its session,
	// read-only afterwards (readers reach the connection through the
	// session, under the lock Attach took). Unix nanoseconds.
	createdAt, connectedAt int64
}

// inspectAttach fills c's times before it attaches to its session: a
// resumed session keeps its creation time, from its offline meta (which
// onConnect drops once the connection answers for the session).
func (s *Server) inspectAttach(c *conn, present, clean bool) {
	now := time.Now().UnixNano()
	c.stats.connectedAt, c.stats.createdAt = now, now
	if clean {
		c.flags |= flagClean
	}
	s.insp.mu.Lock()
	if m := s.insp.meta[c.clientID]; m != nil && present && m.sess == c.sess && m.createdAt != 0 {
		c.stats.createdAt = m.createdAt
	}
	s.insp.mu.Unlock()
}

// dropMeta forgets the meta of clientID once a connection attached to its
// session: the session's own (it is online now) or one left by a session
// that the connection's clean start replaced.
func (s *Server) dropMeta(clientID string) {
	s.insp.mu.Lock()
	delete(s.insp.meta, clientID)
	s.insp.mu.Unlock()
}

// keepMeta records what c was, for its session that stays offline after
// it; called before c detaches.
func (s *Server) keepMeta(c *conn) {
	published, rejected := c.rxCounts()
	m := &sessionMeta{
		sess: c.sess, address: c.remoteAddr(), username: c.auth.username,
		createdAt: c.stats.createdAt, connectedAt: c.stats.connectedAt, disconnectedAt: time.Now().UnixNano(),
		published: published, received: c.stats.delivered.Load(), rejected: rejected,
		bytesIn: c.in.read.Load(), bytesOut: c.stats.bytesOut.Load(),
		keepAlive: c.keepAlive, version: c.v, clean: c.clean(),
	}
	s.insp.mu.Lock()
	if s.insp.meta == nil {
		s.insp.meta = make(map[string]*sessionMeta)
	}
	s.insp.meta[c.clientID] = m
	s.insp.mu.Unlock()
}

// forgetMeta drops the meta of a session that ended, unless the client id
// has a new session already.
func (s *Server) forgetMeta(sess *session.Session) {
	s.insp.mu.Lock()
	if m := s.insp.meta[sess.ClientID]; m != nil && m.sess == sess {
		delete(s.insp.meta, sess.ClientID)
	}
	s.insp.mu.Unlock()
}

func timeOrZero(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// Sessions returns every session, online and offline, sorted by client id.
func (s *Server) Sessions() []SessionInfo {
	return s.sessionInfos(nil)
}

// Session returns the session of clientID.
func (s *Server) Session(clientID string) (SessionInfo, bool) {
	out := s.sessionInfos(func(id string) bool { return id == clientID })
	if len(out) == 0 {
		return SessionInfo{}, false
	}
	return out[0], true
}

func (s *Server) sessionInfos(want func(string) bool) []SessionInfo {
	type entry struct {
		sess   *session.Session
		expiry uint32
		will   bool
	}
	s.mu.Lock()
	list := make([]entry, 0, len(s.sessions))
	for id, sess := range s.sessions {
		if want == nil || want(id) {
			list = append(list, entry{sess, sess.Expiry, sess.HasWill()})
		}
	}
	s.mu.Unlock()
	out := make([]SessionInfo, 0, len(list))
	node := s.nodeName() // cluster_shared.go
	for _, e := range list {
		info := s.sessionInfo(e.sess, e.expiry, e.will)
		info.Node = node
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b SessionInfo) int { return cmp.Compare(a.ClientID, b.ClientID) })
	return out
}

func (s *Server) sessionInfo(sess *session.Session, expiry uint32, will bool) SessionInfo {
	st := sess.Stats()
	info := SessionInfo{
		ClientID:      sess.ClientID,
		Expiry:        expiry,
		WillPending:   will,
		Queued:        st.Queued,
		QueuedBytes:   st.QueueBytes,
		Inflight:      st.Inflight,
		InflightBytes: st.InflightBytes,
		Dropped:       st.Dropped,
		IncomingQoS2:  sess.IncomingQoS2(),
	}
	// The connection's fields were written before it attached, and Conn
	// reads under the session lock that Attach took: no race. Its counters
	// are atomics.
	if c, _ := sess.Conn().(*conn); c != nil {
		info.Connected = true
		info.Protocol = protocolName(c.v)
		info.Address = c.remoteAddr()
		info.Username = c.auth.username
		info.KeepAlive = int(c.keepAlive)
		info.Clean = c.clean()
		info.CreatedAt, info.ConnectedAt = timeOrZero(c.stats.createdAt), timeOrZero(c.stats.connectedAt)
		info.Published, info.Rejected = c.rxCounts()
		info.Received, info.BytesOut = c.stats.delivered.Load(), c.stats.bytesOut.Load()
		info.BytesIn = c.in.read.Load()
	} else {
		s.insp.mu.Lock()
		if m := s.insp.meta[sess.ClientID]; m != nil && m.sess == sess {
			info.Protocol, info.Address, info.Username = protocolName(m.version), m.address, m.username
			info.Clean, info.KeepAlive = m.clean, int(m.keepAlive)
			info.CreatedAt, info.ConnectedAt, info.DisconnectedAt = timeOrZero(m.createdAt), timeOrZero(m.connectedAt), timeOrZero(m.disconnectedAt)
			info.Published, info.Received, info.Rejected = m.published, m.received, m.rejected
			info.BytesIn, info.BytesOut = m.bytesIn, m.bytesOut
		}
		s.insp.mu.Unlock()
	}
	for _, sub := range sess.Subs() {
		info.Subscriptions = append(info.Subscriptions, SubscriptionInfo{
			Filter: sub.Filter, QoS: sub.QoS, NoLocal: sub.NoLocal,
			RetainAsPublished: sub.RetainAsPublished, RetainHandling: sub.RetainHandling, ID: sub.ID,
		})
	}
	slices.SortFunc(info.Subscriptions, func(a, b SubscriptionInfo) int { return cmp.Compare(a.Filter, b.Filter) })
	return info
}

// protocolName names a protocol version the way users write it.
func protocolName(v packet.Version) string {
	switch v {
	case packet.V31:
		return "3.1"
	case packet.V311:
		return "3.1.1"
	case packet.V5:
		return "5.0"
	}
	return ""
}

// CreateSession makes an offline session for clientID, as a client
// connecting with clean start false and this expiry would leave behind: a
// client that connects later with clean start false resumes it, with the
// subscriptions added meanwhile by [Server.Subscribe] and the messages they
// queued. expiry is in seconds (0xFFFFFFFF: never) and must not be 0.
func (s *Server) CreateSession(clientID string, expiry uint32) error {
	if err := validClientID(clientID); err != nil {
		return err
	}
	if expiry == 0 {
		return invalid("session_expiry 0 would end the offline session at once: give the seconds it should live (4294967295: never)")
	}
	expiry = min(expiry, s.opts.MaxSessionExpiry)
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrServerClosed
	}
	if s.sessions[clientID] != nil {
		s.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrSessionExists, clientID)
	}
	sess := session.New(clientID, s.seq.Add(1), session.Limits{
		MaxQueueBytes:    s.opts.MaxQueueBytes,
		MaxInflightBytes: s.opts.MaxInflightBytes,
	})
	sess.Expiry = expiry
	if expiry != 0xFFFFFFFF {
		sess.Park(nil, 0, nil, time.Duration(expiry)*time.Second, func() { s.expire(sess) })
	}
	s.sessions[clientID] = sess
	// The meta goes in before anyone can see the session, so that
	// persistAPISession knows it is the API's alone.
	now := time.Now()
	s.insp.mu.Lock() // a leaf: nothing is taken under it
	if s.insp.meta == nil {
		s.insp.meta = make(map[string]*sessionMeta)
	}
	s.insp.meta[clientID] = &sessionMeta{sess: sess, createdAt: now.UnixNano(), disconnectedAt: now.UnixNano()}
	s.insp.mu.Unlock()
	var commit *storage.Commit
	if s.store != nil {
		// Stored like a persistent session its client left (persist.go):
		// recovered at start with its subscriptions and queue.
		sess.SetStore(s.store)
		var b storage.Batch
		b.PutSession(apiRecord(sess, now))
		commit = s.store.Apply(&b)
	}
	s.mu.Unlock()
	s.logEvent(LogRecord{EventCode: LogSessionCreated, ClientID: clientID, SessionExpiry: &expiry, Detail: "created through the API"})
	return waitStored(commit, "session "+clientID)
}

func validClientID(id string) error {
	switch {
	case id == "":
		return invalid("client_id is empty")
	case len(id) > 65535:
		return invalid("client_id is longer than 65535 bytes")
	case !utf8.ValidString(id) || strings.ContainsRune(id, 0):
		return invalid("client_id is not valid MQTT UTF-8 (no NUL, no invalid sequences)")
	}
	return nil
}

// DisconnectSession ends the live connection of clientID with DISCONNECT
// 0x98 (Administrative action) for MQTT 5 clients, as if the network had
// failed: the will is published (or its delay starts) and the session stays
// as its expiry interval says. It reports whether a connection was found.
func (s *Server) DisconnectSession(clientID string) bool {
	s.mu.Lock()
	sess := s.sessions[clientID]
	s.mu.Unlock()
	if sess == nil {
		return false
	}
	c, _ := sess.Conn().(*conn)
	if c == nil {
		return false
	}
	c.Kick(packet.AdministrativeAction, "disconnected by the broker's administrator")
	return true
}

// RemoveSession ends the session of clientID: its live connection is
// disconnected (0x98 Administrative action), then the session, its
// subscriptions and queued messages are deleted, and a pending will is
// published as at any session end [MQTT-3.1.2-8]. It returns
// [ErrNoSession] when there is none, and waits at most 5 s for the
// connection to end.
func (s *Server) RemoveSession(clientID string) error {
	kicked := false
	for range 3 { // a client reconnecting at once is kicked again, a few times
		s.mu.Lock()
		sess := s.sessions[clientID]
		if sess == nil {
			s.mu.Unlock()
			if kicked {
				return nil // it ended with its connection (expiry 0)
			}
			return fmt.Errorf("%w: %s", ErrNoSession, clientID)
		}
		if c, _ := sess.Conn().(*conn); c != nil {
			s.mu.Unlock()
			c.Kick(packet.AdministrativeAction, "session removed by the broker's administrator")
			kicked = true
			select {
			case <-c.wait(connDone):
			case <-time.After(5 * time.Second):
				c.nc.Close()
				<-c.wait(connDone)
			}
			continue
		}
		delete(s.sessions, clientID)
		s.persistEnd(sess) // persist.go
		will := sess.TakeWill()
		s.mu.Unlock()
		s.dropSubscriptions(sess)
		s.publishWill(will)
		s.forgetMeta(sess)
		s.logEvent(LogRecord{EventCode: LogSessionDeleted, ClientID: clientID, Detail: "removed through the API"})
		return nil
	}
	return fmt.Errorf("session %s: its client reconnected each time it was disconnected; try again", clientID)
}

// Subscribe adds subscriptions to the session of clientID, online or
// offline, as a SUBSCRIBE from its client would (a subscription with the
// same filter is replaced, retained messages are queued as its retain
// handling says). Every subscription is validated first: on an error
// nothing is changed.
func (s *Server) Subscribe(clientID string, subs []SubscriptionInfo) error {
	if len(subs) == 0 {
		return invalid("no subscriptions given")
	}
	if len(subs) > s.opts.MaxFiltersPerSubscribe {
		return invalid("%d subscriptions: at most %d at once", len(subs), s.opts.MaxFiltersPerSubscribe)
	}
	built := make([]*topics.Subscription, len(subs))
	seen := make(map[string]bool, len(subs))
	for i, in := range subs {
		sub, err := s.buildSubscription(in)
		if err != nil {
			return err
		}
		if seen[in.Filter] {
			return invalid("filter %q is given twice", in.Filter)
		}
		seen[in.Filter] = true
		built[i] = sub
	}
	apiOnly := s.apiOnlyID(clientID)
	s.mu.Lock()
	sess := s.sessions[clientID]
	if sess == nil {
		s.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrNoSession, clientID)
	}
	// Adding under s.mu: a session that ends later drops these with the
	// rest (it is removed from the map under s.mu first), and one that
	// already ended is not in the map.
	var wantRetained []*topics.Subscription
	for _, sub := range built {
		sub.Subscriber = sess
		s.confine(sess, sub) // tokens.go: within the session's account
		old := s.index.Add(sub)
		sess.AddSub(sub)
		if sub.Group == "" && (sub.RetainHandling == 0 || (sub.RetainHandling == 1 && old == nil)) {
			wantRetained = append(wantRetained, sub)
		}
	}
	asOf := s.retained.Version()                 // as in handleSubscribe: no message twice
	commit := s.persistAPISession(sess, apiOnly) // inspect_persist.go
	s.mu.Unlock()
	if err := waitStored(commit, "subscriptions of "+clientID); err != nil {
		return err
	}
	for _, sub := range built {
		s.emit(Event{Kind: EventSubscribed, ClientID: clientID, Topic: sub.Filter, Detail: "through the API"})
	}
	now := time.Now()
	for _, sub := range wantRetained {
		s.retained.MatchAsOf(sub.Topic, now, asOf, func(m *message.Message) {
			cond, _ := sub.Cond.(*condition)
			if !retainedWanted(m, subscribeOptions{}, cond) {
				return
			}
			s.enqueue(sess, session.Delivery{Msg: m, QoS: min(m.QoS, sub.QoS), Retain: true, SubID: sub.ID}, nil)
		})
	}
	return nil
}

// buildSubscription validates in and builds its index entry (without a
// subscriber).
func (s *Server) buildSubscription(in SubscriptionInfo) (*topics.Subscription, error) {
	if err := packet.ValidateFilter(in.Filter); err != nil {
		return nil, invalid("%v", err)
	}
	if in.QoS > 2 {
		return nil, invalid("filter %q: qos %d is not 0, 1 or 2", in.Filter, in.QoS)
	}
	if in.RetainHandling > 2 {
		return nil, invalid("filter %q: retain_handling %d is not 0, 1 or 2", in.Filter, in.RetainHandling)
	}
	if in.ID > 268435455 {
		return nil, invalid("filter %q: subscription id %d exceeds 268435455", in.Filter, in.ID)
	}
	group, _ := topics.ParseShared(in.Filter)
	rest := in.Filter
	if group != "" {
		rest = strings.TrimPrefix(rest, "$share/"+group+"/")
		if in.NoLocal {
			return nil, invalid("filter %q: no_local on a shared subscription is a protocol error [MQTT-3.8.3-4]", in.Filter)
		}
	}
	topic, cond, err := parseFlespiFilter(rest, subscribeOptions{})
	if err != nil {
		return nil, invalid("filter %q: %v", in.Filter, err)
	}
	if topics.CountLevels(topic) > s.opts.MaxTopicLevels {
		return nil, invalid("filter %q has more than %d levels", in.Filter, s.opts.MaxTopicLevels)
	}
	sub := &topics.Subscription{
		Filter: in.Filter, Topic: topic, Group: group, QoS: in.QoS,
		NoLocal: in.NoLocal, RetainAsPublished: in.RetainAsPublished, RetainHandling: in.RetainHandling, ID: in.ID,
	}
	if cond != nil {
		sub.Cond = cond
	}
	return sub, nil
}

// Unsubscribe removes subscriptions of the session of clientID by filter,
// online or offline, and returns the filters it removed (a filter the
// session does not have is skipped).
func (s *Server) Unsubscribe(clientID string, filters []string) ([]string, error) {
	apiOnly := s.apiOnlyID(clientID)
	s.mu.Lock()
	sess := s.sessions[clientID]
	if sess == nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrNoSession, clientID)
	}
	var removed []string
	for _, f := range filters {
		if s.index.Remove(sess, f) {
			removed = append(removed, f)
		}
		sess.RemoveSub(f)
	}
	var commit *storage.Commit
	if len(removed) > 0 {
		commit = s.persistAPISession(sess, apiOnly) // inspect_persist.go
	}
	s.mu.Unlock()
	if err := waitStored(commit, "subscriptions of "+clientID); err != nil {
		return removed, err
	}
	for _, f := range removed {
		s.emit(Event{Kind: EventUnsubscribed, ClientID: clientID, Topic: f, Detail: "through the API"})
	}
	return removed, nil
}

// Retained returns the unexpired retained messages matching filter, sorted
// by topic. The filter may use wildcards, flespi topic selectors (a,b) and
// the $filter/ prefix (cid, modified_since, payload= and message=
// expressions); "$share/" is refused. The messages are the broker's own,
// shared: read them, never change them.
func (s *Server) Retained(filter string) ([]*message.Message, error) {
	topic, cond, err := s.retainedFilter(filter)
	if err != nil {
		return nil, err
	}
	var out []*message.Message
	s.retained.Match(topic, time.Now(), func(m *message.Message) {
		if cond == nil || retainedWanted(m, subscribeOptions{}, cond) {
			out = append(out, m)
		}
	})
	slices.SortFunc(out, func(a, b *message.Message) int { return cmp.Compare(a.Topic, b.Topic) })
	return out, nil
}

func (s *Server) retainedFilter(filter string) (string, *condition, error) {
	if strings.HasPrefix(filter, "$share/") {
		return "", nil, invalid("%q: shared subscription filters do not select retained messages", filter)
	}
	if err := packet.ValidateFilter(filter); err != nil {
		return "", nil, invalid("%v", err)
	}
	topic, cond, err := parseFlespiFilter(filter, subscribeOptions{})
	if err != nil {
		return "", nil, invalid("%q: %v", filter, err)
	}
	if topics.CountLevels(topic) > s.opts.MaxTopicLevels {
		return "", nil, invalid("%q has more than %d levels", filter, s.opts.MaxTopicLevels)
	}
	return topic, cond, nil
}

// DeleteRetained deletes the retained messages matching filter (as
// [Server.Retained] selects them) and returns how many it deleted.
func (s *Server) DeleteRetained(filter string) (int, error) {
	topic, cond, err := s.retainedFilter(filter)
	if err != nil {
		return 0, err
	}
	if cond == nil {
		return s.retained.DeleteMatching(topic), nil
	}
	ms, _ := s.Retained(filter)
	n := 0
	for _, m := range ms {
		if s.retained.Delete(m) {
			n++
		}
	}
	return n, nil
}

// PublishMessage is a message published by the broker's administrator
// (the REST API), not by a client.
type PublishMessage struct {
	Topic   string
	Payload []byte
	QoS     packet.QoS
	Retain  bool
	// Props may carry payload format, message expiry, content type,
	// response topic, correlation data and user properties; the rest is
	// ignored.
	Props packet.Properties
	// TokenID is the token the API request presented (--auth token),
	// stamped as "token_id"; 0 for none.
	TokenID uint64
	// CID is the account whose namespace the message is published in
	// (--auth token), stamped as "cid"; 0 is the broker's account.
	CID uint64
}

// ValidatePublish checks m as the broker checks a client's PUBLISH (topic,
// levels, reserved prefix, payload and retained limits, UTF-8 payload when
// the payload format says so), returning an error wrapping [ErrInvalid].
func (s *Server) ValidatePublish(m *PublishMessage) error {
	o := &s.opts
	if err := packet.ValidateTopicName(m.Topic); err != nil {
		return invalid("%v", err)
	}
	switch {
	case m.QoS > 2:
		return invalid("topic %q: qos %d is not 0, 1 or 2", m.Topic, m.QoS)
	case s.reserved(m.Topic):
		return invalid("topic %q: topics under %s are reserved for the broker", m.Topic, o.ReservedPrefix)
	case topics.CountLevels(m.Topic) > o.MaxTopicLevels:
		return invalid("topic %q has more than %d levels", m.Topic, o.MaxTopicLevels)
	case len(m.Payload) > o.MaxPayload:
		return invalid("topic %q: payload of %d bytes exceeds the limit of %d", m.Topic, len(m.Payload), o.MaxPayload)
	case m.Retain && len(m.Payload) > o.MaxRetainedSize:
		return invalid("topic %q: retained payload of %d bytes exceeds the limit of %d", m.Topic, len(m.Payload), o.MaxRetainedSize)
	case m.Props.PayloadFormat == 1 && !utf8.Valid(m.Payload):
		return invalid("topic %q: payload_format_indicator 1 says UTF-8 but the payload is not", m.Topic)
	}
	for _, u := range m.Props.User {
		if !utf8.ValidString(u.Key) || !utf8.ValidString(u.Value) {
			return invalid("topic %q: user property %q is not valid UTF-8", m.Topic, u.Key)
		}
	}
	return nil
}

// Publish validates m ([Server.ValidatePublish]) and routes it to every
// matching subscription, stamped as a client's message would be; a
// retained message with an empty payload deletes the retained message of
// its topic. It returns the number of sessions it was queued for.
func (s *Server) Publish(m PublishMessage) (int, error) {
	if err := s.ValidatePublish(&m); err != nil {
		return 0, err
	}
	s.ctr.received.Add(1)
	msg := &message.Message{Topic: m.Topic, Payload: m.Payload, QoS: m.QoS, Retain: m.Retain, TokenID: m.TokenID, CID: m.CID}
	msg.Props = forwardProps(&m.Props, msg.UserRoom(len(m.Props.User)+2))
	s.stamp(msg, time.Now())
	if m.Props.MessageExpiry > 0 {
		msg.Expires = timeOf(msg.Timestamp).Add(time.Duration(m.Props.MessageExpiry) * time.Second)
	}
	r := routerPool.Get().(*router)
	n := s.route(msg, r)
	routerPool.Put(r)
	return n, nil
}

// Limits returns the broker's limits (the [Options] after defaults), so
// that an API in front of it can bound request bodies the same way.
func (s *Server) Limits() Options {
	o := s.opts
	o.ACL, o.OnEvent, o.Logger = nil, nil, nil
	return o
}

// ValidateSubscription checks a subscription as [Server.Subscribe] would,
// returning an error wrapping [ErrInvalid].
func (s *Server) ValidateSubscription(in SubscriptionInfo) error {
	_, err := s.buildSubscription(in)
	return err
}

// Healthy reports nil while the broker serves, [ErrServerClosed] once it
// is shutting down.
func (s *Server) Healthy() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return ErrServerClosed
	}
	return nil
}
