package broker

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/mqttboard/mqttboard/broker/message"
	"github.com/mqttboard/mqttboard/broker/session"
	"github.com/mqttboard/mqttboard/broker/topics"
	"github.com/mqttboard/mqttboard/packet"
)

// Authenticator decides who a CONNECT is when the broker runs with token
// authentication (`mqttboard broker --auth token`): flespi's tokens,
// accounts and namespaces (package broker/auth implements it). With no
// Authenticator every client is in [Options.AccountID] with the static
// [ACL], as before.
type Authenticator interface {
	// Authenticate returns the identity the credentials of a CONNECT
	// present, or a refusal: code is BadUserNameOrPassword (no token, or
	// an unknown one) or NotAuthorized (a disabled or expired token), and
	// reason says which for the log.
	Authenticate(username string, password []byte, hasPassword bool) (id *Identity, code packet.ReasonCode, reason string)
	// Acquire and Release bracket a connection that authenticated with
	// the token: while one is held the token counts as in use, so its ttl
	// does not run out (flespi: "an active MQTT session counts as use").
	Acquire(tokenID uint64)
	Release(tokenID uint64)
	// Sees reports whether sessions of account viewer receive messages of
	// account owner: its own, and those of its subaccounts at any depth.
	Sees(viewer, owner uint64) bool
	// Watch is called once by [New]: revoke is how the authenticator ends
	// the connections of a token that expired, was disabled, deleted or
	// changed.
	Watch(revoke func(tokenID uint64, reason string))
}

// Identity is what a connection authenticated as: a token of an account.
type Identity struct {
	// TokenID is stamped on every message the connection publishes
	// (flespi's "token_id" user property).
	TokenID uint64
	// Account is the token's account, flespi's "cid": the namespace the
	// connection publishes into, stamped on its messages.
	Account uint64
	// Type is the token's access type: 0 standard, 1 master, 2 ACL.
	Type int
	// Grants are an ACL token's MQTT permissions (type 2 only): nothing
	// else is allowed.
	Grants []Grant
	// Token is the token's JSON without its key, for the CONNACK "token"
	// user property.
	Token json.RawMessage
}

// Grant is one MQTT entry of an ACL token: the actions allowed on a topic
// filter (selectors allowed).
type Grant struct {
	Topic     string
	Publish   bool
	Subscribe bool
}

// tokenACL compiles an identity's rights into the form every enforcement
// point reads (the same as the static ACL's): types 0 and 1 may do
// anything, an ACL token only what it grants. flespi/ topics are never
// granted by an ACL ("ACLs for MQTT cannot be configured for topics
// starting with flespi/"), so the deny rule comes first.
func tokenACL(id *Identity) *clientACL {
	if id.Type != 2 {
		return &clientACL{allowDefault: true}
	}
	ca := &clientACL{rules: []clientRule{{pub: true, sub: true, allow: false, topics: []string{"flespi/#"}}}}
	for _, g := range id.Grants {
		ca.rules = append(ca.rules, clientRule{pub: g.Publish, sub: g.Subscribe, allow: true, topics: []string{g.Topic}})
	}
	return ca.index()
}

// authenticate runs the Authenticator on a CONNECT. It reports false after
// refusing the connection.
func (c *conn) authenticate(p *packet.Connect) bool {
	a := c.s.opts.Auth
	if a == nil {
		return true
	}
	id, code, reason := a.Authenticate(p.Username, p.Password, p.PasswordFlag)
	c.auth.username = shownUser(p.Username, id)
	if id == nil {
		c.refuse(code, reason)
		return false
	}
	c.auth.ident = id
	c.auth.acl = tokenACL(id)
	// Client ids are one namespace for the whole broker (as in mosquitto):
	// a session of another account is not taken over.
	c.s.mu.Lock()
	old := c.s.sessions[c.clientID]
	c.s.mu.Unlock()
	if old != nil && old.Account != 0 && old.Account != id.Account {
		c.auth.ident = nil
		c.refuse(packet.ClientIdentifierNotValid, "client id "+c.clientID+" is in use by another account")
		return false
	}
	return true
}

// shownUser is the user name that logs, events and the inspection API
// show for a connection presenting a token: never a key. A user name that
// may be one (64 characters, or "FlespiToken ...") becomes
// "FlespiToken #<id>", or "FlespiToken ?" when refused.
func shownUser(username string, id *Identity) string {
	if len(username) != 64 && !(len(username) >= 11 && strings.EqualFold(username[:11], "flespitoken")) {
		return username
	}
	if id == nil {
		return "FlespiToken ?"
	}
	return "FlespiToken #" + strconv.FormatUint(id.TokenID, 10)
}

// account returns the connection's account: its token's, else the
// broker's one account.
func (c *conn) account() uint64 {
	if c.auth.ident != nil {
		return c.auth.ident.Account
	}
	return c.s.opts.AccountID
}

// tokenID returns the id of the connection's token, 0 without one.
func (c *conn) tokenID() uint64 {
	if c.auth.ident != nil {
		return c.auth.ident.TokenID
	}
	return 0
}

// authAttached runs once the connection has its session, before CONNACK:
// the token is in use from now, and the session belongs to the account. A
// resumed session's subscriptions were granted to the token that made them:
// they are decided again under this one (see [conn.regrant]).
func (c *conn) authAttached(present bool) {
	if c.auth.ident == nil {
		return
	}
	c.s.mu.Lock()
	c.sess.Account = c.auth.ident.Account
	c.s.mu.Unlock()
	c.s.opts.Auth.Acquire(c.auth.ident.TokenID)
	if present {
		c.regrant()
	}
}

// regrant decides a resumed session's subscriptions again under the
// connection's token: those it may not subscribe to are removed, the others
// get its read rights and account. (A persistent session outlives the
// token that made it; rights never do.)
func (c *conn) regrant() {
	for _, old := range c.sess.Subs() {
		if !c.auth.acl.subscribe(old.Topic) {
			c.s.index.Remove(c.sess, old.Filter)
			c.sess.RemoveSub(old.Filter)
			c.s.onDenied(c, "subscribe", old.Filter) // log (logs.go)
			continue
		}
		sub := *old
		var cond *condition
		if oc, ok := old.Cond.(*condition); ok {
			cp := *oc
			cp.read, cp.auth = nil, nil
			if cp.hasCID || cp.filter != nil {
				cond = &cp
			}
		}
		if c.auth.acl.readChecked(sub.Topic) {
			if cond == nil {
				cond = &condition{}
			}
			cond.read = c.auth.acl
		}
		sub.Cond = nil
		if cond = c.scope(&sub, cond); cond != nil {
			sub.Cond = cond
		}
		// Removed first: a shared group is keyed by account too.
		c.s.index.Remove(c.sess, old.Filter)
		c.s.index.Add(&sub)
		c.sess.AddSub(&sub)
	}
}

// authDetached runs once per attached connection when it ended.
func (c *conn) authDetached() {
	if c.auth.ident != nil {
		c.s.opts.Auth.Release(c.auth.ident.TokenID)
	}
}

// revokeToken ends every connection authenticated with the token, with
// DISCONNECT 0x87 (Not authorized) in 5.0; 3.1.1 connections are closed.
func (s *Server) revokeToken(tokenID uint64, reason string) {
	var doomed []*conn
	s.mu.Lock()
	for _, sess := range s.sessions {
		if c, _ := sess.Conn().(*conn); c != nil && c.auth.ident != nil && c.auth.ident.TokenID == tokenID {
			doomed = append(doomed, c)
		}
	}
	s.mu.Unlock()
	for _, c := range doomed {
		c.Kick(packet.NotAuthorized, reason)
	}
}

// tokenProps is the CONNACK's "token" user property (flespi's MQTT Board
// reads token.id, token.cid and token.access).
func (c *conn) tokenProps() (packet.UserProperty, bool) {
	if c.auth.ident == nil || len(c.auth.ident.Token) == 0 {
		return packet.UserProperty{}, false
	}
	return packet.UserProperty{Key: "token", Value: string(c.auth.ident.Token)}, true
}

// stampToken writes the publisher's token id as the "token_id" user
// property, replacing any the publisher set (every one of them: a second
// would let it smuggle a value), or removes the publisher's when there is
// no token: receivers tell senders apart by it, so it never comes from the
// client. seen says whether the user properties hold a token_id at all.
func stampToken(m *message.Message, seen bool) {
	if seen {
		u := m.Props.User[:0]
		for _, p := range m.Props.User {
			if p.Key != "token_id" {
				u = append(u, p)
			}
		}
		clear(m.Props.User[len(u):])
		m.Props.User = u
	}
	if m.TokenID != 0 {
		m.Props.User = append(m.Props.User, packet.UserProperty{Key: "token_id", Value: strconv.FormatUint(m.TokenID, 10)})
	}
}

// denyCode is the SUBACK code of a subscription the ACL refuses.
func (c *conn) denyCode() packet.ReasonCode {
	if c.auth.ident == nil && c.s.opts.ACL != nil {
		return c.s.opts.ACL.denyCode()
	}
	return packet.NotAuthorized
}

// scope confines a new subscription to the accounts the subscriber sees
// (its own and its subaccounts', see [Authenticator.Sees]) and puts its
// shared group in the subscriber's account. Without token authentication
// it changes nothing, so routing stays as it was.
func (c *conn) scope(sub *topics.Subscription, cond *condition) *condition {
	if c.auth.ident == nil {
		return cond
	}
	sub.Account = c.auth.ident.Account
	if cond == nil {
		cond = &condition{}
	}
	cond.auth, cond.viewer = c.s.opts.Auth, c.auth.ident.Account
	return cond
}

// deleteRetained is flespi's wildcard deletion of retained messages by an
// empty PUBLISH: within the publisher's account.
func (c *conn) deleteRetained(pattern string) int {
	if c.auth.ident == nil {
		return c.s.deleteRetainedMatching(pattern, 0, true, c.route) // persist.go
	}
	return c.s.deleteRetainedMatching(pattern, c.auth.ident.Account, false, c.route)
}

// confine keeps a subscription made for a session by the API within the
// accounts the session's account sees, as [conn.scope] does for the
// client's own (the caller holds s.mu, under which sess.Account is
// written). Without token authentication, or for a session no token has
// attached, it changes nothing.
func (s *Server) confine(sess *session.Session, sub *topics.Subscription) {
	if s.opts.Auth == nil || sess.Account == 0 {
		return
	}
	sub.Account = sess.Account
	cond, _ := sub.Cond.(*condition)
	if cond == nil {
		cond = &condition{}
	}
	cond.auth, cond.viewer = s.opts.Auth, sess.Account
	sub.Cond = cond
}

// logAccount is the account a log record about clientID is published in
// (flespi/log/mqtt/...): its session's, so that each account (and the
// accounts above it) reads the logs of its own sessions; 0, the broker's
// account, without token authentication or for a client with no session
// of an account (a refused CONNECT). It takes s.mu: logEvent is called
// with no broker lock held.
func (s *Server) logAccount(clientID string) uint64 {
	if s.opts.Auth == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess := s.sessions[clientID]; sess != nil {
		return sess.Account
	}
	return 0
}
