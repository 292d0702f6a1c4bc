package broker

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"sync"

	"github.com/mqttboard/mqttboard/broker/topics"
	"github.com/mqttboard/mqttboard/packet"
)

// ACL is static access control: an ordered list of rules, the first that
// applies decides, and a default for requests no rule covers. It must not
// change once a [Server] uses it: its rules are compiled on first use.
//
// What is decided where (as mosquitto and EMQX do):
//   - PUBLISH, will and wildcard deletion: the topic (or pattern) against
//     the publish rules.
//   - SUBSCRIBE: the filter as written, without its "$share/{group}/" and
//     "$filter/{params}/" prefixes, against the subscribe rules: the first
//     rule whose filter matches the subscription's filter decides, matching
//     it as a topic filter matches a topic, except that a '+' or '#' in the
//     subscription is matched only by a '+' or '#' ('#' only by '#') in the
//     rule. So with "deny secret/#, allow #", "#" and "+/x" are granted and
//     "secret/x" and "secret/#" refused. A selector "a,b" is every filter it
//     stands for: it is granted when each of them is.
//   - Every delivery, live or retained: its topic against the subscriber's
//     subscribe ("read") rules, so the "#" subscriber above never receives
//     secret/x. Subscriptions the rules grant all topics of are not checked
//     per message.
type ACL struct {
	// HideDenied answers a denied SUBSCRIBE with 0x80 (Unspecified error)
	// instead of 0x87 (Not authorized), so a client cannot learn that an
	// ACL exists.
	HideDenied bool `json:"hide_denied" yaml:"hide_denied"`
	// Default is "allow" or "deny" for requests no rule applies to; empty
	// means "deny" when there are rules and "allow" when there are none.
	Default string `json:"default" yaml:"default"`
	// Rules are tried in order.
	Rules []ACLRule `json:"rules" yaml:"rules"`

	compiled *compiledACL // see [ACL.compile]
}

// ACLRule allows or denies publish and/or subscribe on topic filters to
// clients whose user name and client id match glob patterns (path.Match
// syntax; empty matches anyone). In Topics, %u stands for the user name and
// %c for the client id; a rule using one does not apply to a client whose
// user name (or client id) is empty or contains '/', '+' or '#', so nobody
// widens a rule by choosing a name.
type ACLRule struct {
	Username string   `json:"username" yaml:"username"`
	ClientID string   `json:"clientid" yaml:"clientid"`
	Action   string   `json:"action" yaml:"action"` // "publish", "subscribe" or "all"
	Allow    bool     `json:"allow" yaml:"allow"`
	Topics   []string `json:"topics" yaml:"topics"`
}

func (a *ACL) validate() error {
	switch a.Default {
	case "", "allow", "deny":
	default:
		return fmt.Errorf("acl.default: %q is not \"allow\" or \"deny\"", a.Default)
	}
	for i, r := range a.Rules {
		switch r.Action {
		case "publish", "subscribe", "all":
		default:
			return fmt.Errorf("acl.rules[%d].action: %q is not \"publish\", \"subscribe\" or \"all\"", i, r.Action)
		}
		for _, p := range []string{r.Username, r.ClientID} {
			if _, err := path.Match(p, ""); err != nil {
				return fmt.Errorf("acl.rules[%d]: bad pattern %q: %v", i, p, err)
			}
		}
		if len(r.Topics) == 0 {
			return fmt.Errorf("acl.rules[%d].topics: empty; a rule needs at least one topic filter", i)
		}
		for j, t := range r.Topics {
			if err := packet.ValidateFilter(strings.NewReplacer("%u", "u", "%c", "c").Replace(t)); err != nil {
				return fmt.Errorf("acl.rules[%d].topics[%d]: %v", i, j, err)
			}
		}
	}
	return nil
}

func (a *ACL) allowDefault() bool {
	return a.Default == "allow" || (a.Default == "" && len(a.Rules) == 0)
}

func (a *ACL) denyCode() packet.ReasonCode {
	if a.HideDenied {
		return packet.UnspecifiedError
	}
	return packet.NotAuthorized
}

func (r *ACLRule) applies(action, user, cid string) bool {
	if r.Action != "all" && r.Action != action {
		return false
	}
	if r.Username != "" {
		if ok, _ := path.Match(r.Username, user); !ok {
			return false
		}
	}
	if r.ClientID != "" {
		if ok, _ := path.Match(r.ClientID, cid); !ok {
			return false
		}
	}
	return true
}

func expand(t, user, cid string) string {
	if !strings.Contains(t, "%") {
		return t
	}
	return strings.NewReplacer("%u", user, "%c", cid).Replace(t)
}

// compiledACL is an ACL's rules read once: patterns without glob
// characters compared as strings, and which rules substitute %u or %c.
type compiledACL struct {
	rules        []compiledRule
	allowDefault bool
	// shared holds the rights of clients whose rules substitute nothing,
	// by the positions of the rules that apply (see [ACL.forClient]): a
	// few distinct sets at most, however many clients.
	shared sync.Map
}

type compiledRule struct {
	pub, sub          bool
	allow             bool
	user, cid         string // "" matches anyone
	userGlob, cidGlob bool   // path.Match, else equality
	usesUser, usesCID bool   // some topic has %u, %c
	topics            []string
}

// aclCompileMu guards ACL.compiled; compiling happens once per ACL, and
// then once per connection it is read.
var aclCompileMu sync.Mutex

func (a *ACL) compile() *compiledACL {
	aclCompileMu.Lock()
	defer aclCompileMu.Unlock()
	if a.compiled != nil {
		return a.compiled
	}
	c := &compiledACL{allowDefault: a.allowDefault(), rules: make([]compiledRule, 0, len(a.Rules))}
	for _, r := range a.Rules {
		cr := compiledRule{
			pub: r.Action == "publish" || r.Action == "all", sub: r.Action == "subscribe" || r.Action == "all",
			allow: r.Allow, user: r.Username, cid: r.ClientID,
			userGlob: strings.ContainsAny(r.Username, `*?[\`), cidGlob: strings.ContainsAny(r.ClientID, `*?[\`),
			topics: r.Topics,
		}
		for _, t := range r.Topics {
			cr.usesUser = cr.usesUser || strings.Contains(t, "%u")
			cr.usesCID = cr.usesCID || strings.Contains(t, "%c")
		}
		c.rules = append(c.rules, cr)
	}
	a.compiled = c
	return c
}

func globMatch(pattern string, glob bool, s string) bool {
	if pattern == "" {
		return true
	}
	if !glob {
		return pattern == s
	}
	ok, _ := path.Match(pattern, s)
	return ok
}

// safeSubstitute reports whether s may stand in for %u or %c in a topic
// filter without changing its levels or wildcards.
func safeSubstitute(s string) bool {
	return s != "" && !strings.ContainsAny(s, "/+#")
}

// clientACL is the ACL as it applies to one client: the rules whose user
// name and client id patterns match it, in order, with %u and %c
// substituted. A connection builds it once (see [conn.aclRights]).
type clientACL struct {
	rules        []clientRule
	allowDefault bool
	// trie indexes the rules' filters when there are many (see
	// [clientACL.index]); nil: they are tried one by one.
	trie *topics.Index
}

// trieMin is how many filters make a trie pay: below it trying each
// filter with packet.MatchTopic is faster than a trie walk
// (BenchmarkTokenACL).
const trieMin = 4

// ruleHolder is the trie's subscriber: one value for every rule filter.
type ruleHolder struct{}

func (ruleHolder) SubscriberID() string { return "" }
func (ruleHolder) Online() bool         { return true }

// index builds the trie of the rules' filters once, before the rights are
// shared (a connection's read loop and every publisher checking a
// delivery read them): each filter is a subscription whose ID is its
// rule's position, so a topic's first matching rule is the smallest ID
// that matches.
func (c *clientACL) index() *clientACL {
	n := 0
	for _, r := range c.rules {
		n += len(r.topics)
	}
	if n < trieMin {
		return c
	}
	x := topics.NewIndex()
	for i, r := range c.rules {
		for j, f := range r.topics {
			if packet.ValidateFilter(f) != nil {
				continue
			}
			x.Add(&topics.Subscription{Subscriber: ruleHolder{}, Filter: strconv.Itoa(i) + "/" + strconv.Itoa(j), Topic: f, ID: uint32(i)})
		}
	}
	c.trie = x
	return c
}

type clientRule struct {
	pub, sub, allow bool
	topics          []string
}

// forClient returns the rules that apply to the client with this user name
// and client id.
//
// Clients to whom the same rules apply with nothing substituted share one
// value (read-only once built), so a trie of many rules is built once per
// set of rules, not once per connection.
func (a *ACL) forClient(user, cid string) *clientACL {
	c := a.compile()
	ca := &clientACL{allowDefault: c.allowDefault}
	var key []byte // the applied rules' positions, when none substitutes
	shared := true
	for i, r := range c.rules {
		if !globMatch(r.user, r.userGlob, user) || !globMatch(r.cid, r.cidGlob, cid) {
			continue
		}
		if (r.usesUser && !safeSubstitute(user)) || (r.usesCID && !safeSubstitute(cid)) {
			continue
		}
		cr := clientRule{pub: r.pub, sub: r.sub, allow: r.allow, topics: r.topics}
		if r.usesUser || r.usesCID {
			shared = false
			cr.topics = make([]string, len(r.topics))
			for i, t := range r.topics {
				cr.topics[i] = expand(t, user, cid)
			}
		}
		key = strconv.AppendInt(append(key, ','), int64(i), 10)
		ca.rules = append(ca.rules, cr)
	}
	if !shared {
		return ca.index()
	}
	if v, ok := c.shared.Load(string(key)); ok {
		return v.(*clientACL)
	}
	v, _ := c.shared.LoadOrStore(string(key), ca.index())
	return v.(*clientACL)
}

// connectAllowed is true unless a future rule kind refuses the client; the
// static ACL governs topics only.
func (a *ACL) connectAllowed(user, cid string) bool { return true }

// publishAllowed decides a PUBLISH to topic by a client (wills use it; a
// connection keeps its [clientACL]).
func (a *ACL) publishAllowed(user, cid, topic string) bool {
	return a.forClient(user, cid).publish(topic)
}

// subscribeAllowed decides a SUBSCRIBE to filter (its inner topic filter:
// no $share or $filter prefix) by a client.
func (a *ACL) subscribeAllowed(user, cid, filter string) bool {
	return a.forClient(user, cid).subscribe(filter)
}

// publish decides a PUBLISH to topic: the first publish rule with a filter
// matching it.
func (c *clientACL) publish(topic string) bool { return c.topicAllowed(true, topic) }

// read decides whether a message on topic may be delivered to the client:
// the first subscribe rule with a filter matching it.
func (c *clientACL) read(topic string) bool { return c.topicAllowed(false, topic) }

func (c *clientACL) topicAllowed(pub bool, topic string) bool {
	if c.trie != nil {
		first := len(c.rules)
		c.trie.Match(topic, func(s *topics.Subscription) {
			if i := int(s.ID); i < first && (pub && c.rules[i].pub || !pub && c.rules[i].sub) {
				first = i
			}
		})
		if first < len(c.rules) {
			return c.rules[first].allow
		}
		return c.allowDefault
	}
	for i := range c.rules {
		r := &c.rules[i]
		if pub && !r.pub || !pub && !r.sub {
			continue
		}
		for _, f := range r.topics {
			if packet.MatchTopic(f, topic) {
				return r.allow
			}
		}
	}
	return c.allowDefault
}

// maxSelectorAlternatives bounds how many plain filters a selector
// subscription is expanded to for the SUBSCRIBE decision; beyond it the
// decision is made on the whole filter, conservatively (see subscribe).
const maxSelectorAlternatives = 1024

// subscribe decides a SUBSCRIBE to filter, its inner topic filter (no
// $share or $filter prefix), as [ACL] describes.
func (c *clientACL) subscribe(filter string) bool {
	var l topics.Levels
	if !topics.Split(filter, &l) {
		return false
	}
	lv := l.Slice()
	n := 1
	for _, w := range lv {
		if topics.IsSelector(w) {
			n *= len(topics.SelectorWords(w))
			if n > maxSelectorAlternatives {
				return c.subscribeWhole(lv)
			}
		}
	}
	if n == 1 {
		return c.subscribeOne(lv)
	}
	alt := make([]string, len(lv))
	return c.eachAlternative(lv, alt, 0)
}

// eachAlternative reports whether every plain filter the selector levels
// of lv (from level i on) stand for is allowed.
func (c *clientACL) eachAlternative(lv, alt []string, i int) bool {
	if i == len(lv) {
		return c.subscribeOne(alt)
	}
	if !topics.IsSelector(lv[i]) {
		alt[i] = lv[i]
		return c.eachAlternative(lv, alt, i+1)
	}
	for _, w := range topics.SelectorWords(lv[i]) {
		alt[i] = w
		if !c.eachAlternative(lv, alt, i+1) {
			return false
		}
	}
	return true
}

// subscribeOne decides a filter with no selector levels: the first subscribe
// rule with a filter covering it decides.
func (c *clientACL) subscribeOne(sub []string) bool {
	for i := range c.rules {
		r := &c.rules[i]
		if !r.sub {
			continue
		}
		for _, f := range r.topics {
			if coversLevels(f, sub) {
				return r.allow
			}
		}
	}
	return c.allowDefault
}

// subscribeWhole decides a filter with too many selector alternatives to
// try one by one: the first rule that covers some of them must be an allow
// rule covering all of them.
func (c *clientACL) subscribeWhole(sub []string) bool {
	for i := range c.rules {
		r := &c.rules[i]
		if !r.sub {
			continue
		}
		for _, f := range r.topics {
			if overlapsLevels(f, sub) {
				return r.allow && coversLevels(f, sub)
			}
		}
	}
	return c.allowDefault
}

// readChecked reports whether deliveries to a subscription with this inner
// filter must be checked one by one with [clientACL.read]: false only when
// the subscribe rules grant every topic the filter can receive.
func (c *clientACL) readChecked(filter string) bool {
	var l topics.Levels
	if !topics.Split(filter, &l) {
		return true
	}
	sub := l.Slice()
	for i := range c.rules {
		r := &c.rules[i]
		if !r.sub {
			continue
		}
		for _, f := range r.topics {
			if !overlapsLevels(f, sub) {
				continue
			}
			// The first rule that could decide some delivery: only an
			// allow rule deciding all of them spares the check.
			return !(r.allow && coversLevels(f, sub))
		}
	}
	return !c.allowDefault
}

// wildcardDelete decides flespi's bulk deletion of retained messages by an
// empty PUBLISH to pattern: the first publish rule touching any topic the
// pattern matches must be an allow rule covering all of them.
func (c *clientACL) wildcardDelete(pattern string) bool {
	var l topics.Levels
	if !topics.Split(pattern, &l) {
		return false
	}
	sub := l.Slice()
	for i := range c.rules {
		r := &c.rules[i]
		if !r.pub {
			continue
		}
		for _, f := range r.topics {
			if overlapsLevels(f, sub) {
				return r.allow && coversLevels(f, sub)
			}
		}
	}
	return c.allowDefault
}

// wildcardDeleteAllowed is [clientACL.wildcardDelete] for a client.
func (a *ACL) wildcardDeleteAllowed(user, cid, pattern string) bool {
	return a.forClient(user, cid).wildcardDelete(pattern)
}

// aclRights returns the connection's ACL rights, built on first use (after
// CONNECT, when user name and client id are final); nil without an ACL.
// Read loop only.
func (c *conn) aclRights() *clientACL {
	if c.auth.acl == nil && c.s.opts.ACL != nil {
		a := c.s.opts.ACL.forClient(c.auth.username, c.clientID)
		if c.auth == &noAuth {
			return a // never: CONNECT makes a connAuth when there is an ACL
		}
		c.auth.acl = a
	}
	return c.auth.acl
}

// The level relations below take the '$' rule into account as
// [packet.MatchTopic] does: a filter whose first level is '+' or '#'
// matches no topic starting with '$'.

// dollarOnly reports whether every topic a first filter level can match
// starts with '$'.
func dollarOnly(level string) bool {
	if level == "+" || level == "#" {
		return false
	}
	for _, w := range topics.SelectorWords(level) {
		if !strings.HasPrefix(w, "$") {
			return false
		}
	}
	return strings.HasPrefix(level, "$") || topics.IsSelector(level)
}

// someDollar reports whether a first filter level can match a topic
// starting with '$'.
func someDollar(level string) bool {
	if level == "+" || level == "#" {
		return false
	}
	if topics.IsSelector(level) {
		for _, w := range topics.SelectorWords(level) {
			if strings.HasPrefix(w, "$") {
				return true
			}
		}
		return false
	}
	return strings.HasPrefix(level, "$")
}

func wild(level string) bool { return level == "+" || level == "#" }

// coversLevels reports whether every topic matching filter sub also matches
// filter f. For a sub without selectors this is the SUBSCRIBE rule of
// [ACL]: '+' in sub is covered by '+' or '#', '#' only by '#'.
func coversLevels(f string, sub []string) bool {
	var fl topics.Levels
	if !topics.Split(f, &fl) {
		return false
	}
	fs := fl.Slice()
	if wild(fs[0]) && someDollar(sub[0]) {
		return false // f misses sub's '$' topics
	}
	for i, w := range fs {
		if w == "#" {
			return true
		}
		if i >= len(sub) || sub[i] == "#" {
			return false
		}
		if !topics.LevelCovers(w, sub[i]) {
			return false
		}
	}
	return len(fs) == len(sub)
}

// overlapsLevels reports whether some topic matches both filter f and
// filter sub.
func overlapsLevels(f string, sub []string) bool {
	var fl topics.Levels
	if !topics.Split(f, &fl) {
		return false
	}
	as, bs := fl.Slice(), sub
	if wild(as[0]) && dollarOnly(bs[0]) || wild(bs[0]) && dollarOnly(as[0]) {
		return false
	}
	for i := 0; i < len(as) && i < len(bs); i++ {
		if as[i] == "#" || bs[i] == "#" {
			return true
		}
		if !topics.LevelsOverlap(as[i], bs[i]) {
			return false
		}
	}
	return len(as) == len(bs) ||
		(len(as) == len(bs)+1 && as[len(as)-1] == "#") ||
		(len(bs) == len(as)+1 && bs[len(bs)-1] == "#")
}
