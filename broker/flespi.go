package broker

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mqttboard/mqttboard/broker/filter"
	"github.com/mqttboard/mqttboard/broker/message"
	"github.com/mqttboard/mqttboard/broker/topics"
	"github.com/mqttboard/mqttboard/packet"
)

// The flespi broker's behaviours beyond MQTT (../shared/seeds/000):
// message stamping (timestamp, cid), retained ordering by timestamp,
// count_subscribers, cid and $filter subscriptions, modified_since, and the
// CONNACK user properties. Selectors and sticky groups live in topics/,
// wildcard deletion in retained/.

// stamp sets m's timestamp and account. Unless stamping is off it also
// writes them as the "timestamp" and "cid" user properties that flespi adds
// to every message: a publisher's own timestamp is kept (and used), its cid
// is replaced by its real account.
//
// The account is m.CID when the caller set it (a token's account), else
// the broker's one account. "token_id" is m.TokenID, the publisher's token,
// and never the publisher's own value (see stampToken).
func (s *Server) stamp(m *message.Message, now time.Time) {
	if m.CID == 0 {
		m.CID = s.opts.AccountID
	}
	m.Timestamp = float64(now.UnixNano()) / 1e9
	if s.opts.NoStamp {
		return
	}
	hasTS, hasCID, hasTok := false, false, false
	cid := strconv.FormatUint(m.CID, 10)
	for i, u := range m.Props.User {
		switch u.Key {
		case "timestamp":
			if hasTS {
				continue
			}
			hasTS = true
			if ts, err := strconv.ParseFloat(u.Value, 64); err == nil && ts > 0 && !math.IsInf(ts, 0) {
				m.Timestamp = ts
			}
		case "cid":
			hasCID = true
			m.Props.User[i].Value = cid
		case "token_id":
			hasTok = true
		}
	}
	if hasTok || m.TokenID != 0 {
		stampToken(m, hasTok)
	}
	if !hasTS {
		m.Props.User = append(m.Props.User, packet.UserProperty{Key: "timestamp", Value: m.FormatTimestamp(m.Timestamp)})
	}
	if !hasCID {
		m.Props.User = append(m.Props.User, packet.UserProperty{Key: "cid", Value: cid})
	}
}

// timeOf turns a UNIX time in fractional seconds into a time.Time.
func timeOf(ts float64) time.Time {
	sec, frac := math.Modf(ts)
	return time.Unix(int64(sec), int64(frac*1e9))
}

// condition is what a subscription checks per message beyond its topic
// filter: flespi's cid user property on SUBSCRIBE and $filter parameters,
// and the subscriber's ACL read rights when they do not grant every topic
// the filter matches (see [ACL]).
type condition struct {
	cid    uint64
	hasCID bool
	filter *filter.Filter // nil unless a $filter subscription
	read   *clientACL     // nil unless each delivery's topic must be checked
	// With token authentication: the subscriber's account, and who says
	// which accounts' messages it sees (tokens.go).
	auth   Authenticator
	viewer uint64
}

// accept reports whether m passes; fm is m's filter view, built by the
// caller once per message (see [router.view]).
func (c *condition) accept(m *message.Message, fm func() *filter.Message) bool {
	if c.hasCID && m.CID != c.cid {
		return false
	}
	if c.auth != nil && m.CID != c.viewer && !c.auth.Sees(c.viewer, m.CID) {
		return false // another account's namespace
	}
	if c.read != nil && !c.read.read(m.Topic) {
		return false
	}
	return c.filter == nil || c.filter.Match(fm())
}

// filterView returns the $filter view of m.
func filterView(m *message.Message) *filter.Message {
	return &filter.Message{Topic: m.Topic, Payload: m.Payload, Timestamp: m.Timestamp, CID: m.CID, User: m.Props.User}
}

// subscribeOptions are the flespi parts of one SUBSCRIBE: its cid and
// modified_since user properties.
type subscribeOptions struct {
	cid              uint64
	hasCID           bool
	modifiedSince    float64
	hasModifiedSince bool
}

// parseSubscribeOptions reads cid and modified_since from the SUBSCRIBE's
// user properties. A value that is not a number is an error naming it.
func parseSubscribeOptions(user []packet.UserProperty) (subscribeOptions, string) {
	var o subscribeOptions
	for _, u := range user {
		switch u.Key {
		case "cid":
			n, err := strconv.ParseUint(u.Value, 10, 64)
			if err != nil {
				return o, "user property cid=" + strconv.Quote(u.Value) + " is not an account id"
			}
			o.cid, o.hasCID = n, true
		case "modified_since":
			f, err := strconv.ParseFloat(u.Value, 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return o, "user property modified_since=" + strconv.Quote(u.Value) + " is not a UNIX time"
			}
			o.modifiedSince, o.hasModifiedSince = f, true
		}
	}
	return o, ""
}

// parseFlespiFilter splits a subscription's topic (after any $share
// prefix) into the filter for the index and its condition: a $filter
// subscription is parsed (a bad one is an error for SUBACK 0x8F); a cid
// from the SUBSCRIBE's user properties applies to every filter.
func parseFlespiFilter(topic string, so subscribeOptions) (string, *condition, error) {
	var c condition
	if filter.IsFilter(topic) {
		f, err := filter.Parse(topic)
		if err != nil {
			return "", nil, err
		}
		topic, c.filter = f.Topic, f
	}
	if so.hasCID {
		c.cid, c.hasCID = so.cid, true
	}
	if c.filter == nil && !c.hasCID {
		return topic, nil, nil
	}
	return topic, &c, nil
}

// retainedWanted reports whether a retained message goes to a new
// subscription with these options: modified_since on SUBSCRIBE, and the
// subscription's own condition.
func retainedWanted(m *message.Message, so subscribeOptions, cond *condition) bool {
	if so.hasModifiedSince && !(m.Timestamp > so.modifiedSince) {
		return false
	}
	if cond == nil {
		return true
	}
	var fm *filter.Message
	return cond.accept(m, func() *filter.Message {
		if fm == nil {
			fm = filterView(m)
		}
		return fm
	})
}

// connackProps builds flespi's CONNACK user properties: the session's ACL
// ("acl"; with token authentication "token": the token's JSON without its
// key), its account ("cid") and its current subscriptions, as JSON, so a client sees at once what it
// may do and what it already receives. Each subscription is flespi's
// {"topic","qos","no_local","rap","retain_handling","subscription_id"}
// (flespi's MQTT Board reads subscription.topic).
//
// They are information, and must never stop a CONNACK: a user property
// value holds at most 65,535 bytes and the CONNACK must fit the client's
// Maximum Packet Size [MQTT-3.1.2-24]. So the subscriptions list is cut to
// what fits (sorted by topic, so the cut is stable), and a
// "subscriptions_truncated" property says {"shown":N,"total":M}; if not
// even that fits, the properties are left out, largest first.
func (c *conn) connackProps() []packet.UserProperty {
	type rule struct {
		Action string   `json:"action"`
		Allow  bool     `json:"allow"`
		Topics []string `json:"topics"`
	}
	acl := []rule{}
	if a := c.s.opts.ACL; a != nil {
		for _, r := range a.Rules {
			if r.applies("publish", c.auth.username, c.clientID) || r.applies("subscribe", c.auth.username, c.clientID) {
				ts := make([]string, len(r.Topics))
				for i, t := range r.Topics {
					ts[i] = expand(t, c.auth.username, c.clientID)
				}
				acl = append(acl, rule{Action: r.Action, Allow: r.Allow, Topics: ts})
			}
		}
		acl = append(acl, rule{Action: "all", Allow: a.allowDefault(), Topics: []string{"#"}})
	} else {
		acl = append(acl, rule{Action: "all", Allow: true, Topics: []string{"#"}})
	}
	aj, _ := json.Marshal(acl)
	aclKey := "acl"
	if tp, ok := c.tokenProps(); ok {
		// With tokens the token says it all: id, cid, access (tokens.go).
		aclKey, aj = tp.Key, []byte(tp.Value)
	}
	cid := strconv.FormatUint(c.account(), 10)

	// budget is what the user properties may take in the CONNACK: its
	// other properties take well under connackReserve bytes.
	budget := maxUserPropertyValue * 3
	if c.maxOut > 0 {
		budget = min(budget, int(c.maxOut)-connackReserve)
	}
	pairSize := func(k, v string) int { return 5 + len(k) + len(v) }
	var out []packet.UserProperty
	if len(aj) <= maxUserPropertyValue && pairSize(aclKey, string(aj)) <= budget {
		out = append(out, packet.UserProperty{Key: aclKey, Value: string(aj)})
		budget -= pairSize(aclKey, string(aj))
	}
	if pairSize("cid", cid) <= budget {
		out = append(out, packet.UserProperty{Key: "cid", Value: cid})
		budget -= pairSize("cid", cid)
	}
	// Keep room to say the list was cut.
	const truncKey = "subscriptions_truncated"
	subsBudget := min(maxUserPropertyValue, budget-pairSize("subscriptions", "")-pairSize(truncKey, `{"shown":4294967295,"total":4294967295}`))
	if subsBudget < 2 {
		return out
	}
	subs := c.sess.Subs()
	slices.SortFunc(subs, func(a, b *topics.Subscription) int { return strings.Compare(a.Filter, b.Filter) })
	type sub struct {
		Topic          string `json:"topic"`
		QoS            byte   `json:"qos"`
		NoLocal        bool   `json:"no_local"`
		RAP            bool   `json:"rap"`
		RetainHandling byte   `json:"retain_handling"`
		SubscriptionID uint32 `json:"subscription_id"`
	}
	list := []byte{'['}
	shown := 0
	for _, s := range subs {
		e, err := json.Marshal(sub{s.Filter, byte(s.QoS), s.NoLocal, s.RetainAsPublished, s.RetainHandling, s.ID})
		if err != nil || len(list)+len(e)+2 > subsBudget {
			break
		}
		if shown > 0 {
			list = append(list, ',')
		}
		list = append(list, e...)
		shown++
	}
	list = append(list, ']')
	out = append(out, packet.UserProperty{Key: "subscriptions", Value: string(list)})
	if shown < len(subs) {
		out = append(out, packet.UserProperty{Key: truncKey, Value: `{"shown":` + strconv.Itoa(shown) + `,"total":` + strconv.Itoa(len(subs)) + `}`})
	}
	return out
}

const (
	// maxUserPropertyValue is the longest string MQTT can carry.
	maxUserPropertyValue = 65535
	// connackReserve is room for a CONNACK's fixed header and its other
	// properties (receive maximum, packet size, aliases, availability
	// flags, assigned client id, keep alive, response information).
	connackReserve = 512
)

// reserved reports whether topic is under the reserved prefix.
func (s *Server) reserved(topic string) bool {
	p := s.opts.ReservedPrefix
	return p != "-" && strings.HasPrefix(topic, p)
}
