package broker

import (
	"fmt"
	"path"
	"strings"

	"github.com/mqttboard/mqttboard/broker/topics"
	"github.com/mqttboard/mqttboard/packet"
)

// ACL is static access control: an ordered list of rules, the first that
// applies decides, and a default for requests no rule covers.
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
}

// ACLRule allows or denies publish and/or subscribe on topic filters to
// clients whose user name and client id match glob patterns (path.Match
// syntax; empty matches anyone). In Topics, %u stands for the user name and
// %c for the client id.
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

// connectAllowed is true unless a future rule kind refuses the client; the
// static ACL governs topics only.
func (a *ACL) connectAllowed(user, cid string) bool { return true }

// publishAllowed decides a PUBLISH to topic.
func (a *ACL) publishAllowed(user, cid, topic string) bool {
	for i := range a.Rules {
		r := &a.Rules[i]
		if !r.applies("publish", user, cid) {
			continue
		}
		for _, f := range r.Topics {
			if filterMatches(expand(f, user, cid), topic) {
				return r.Allow
			}
		}
	}
	return a.allowDefault()
}

// subscribeAllowed decides a SUBSCRIBE to filter. An allow rule applies
// when its filter covers every topic the subscription could receive; a deny
// rule when it overlaps any of them, so "deny secret/#, allow #" refuses a
// subscription to "#".
func (a *ACL) subscribeAllowed(user, cid, filter string) bool {
	return a.patternAllowed("subscribe", user, cid, filter)
}

// wildcardDeleteAllowed decides flespi's bulk deletion of retained
// messages by an empty PUBLISH to pattern: a publish to every topic the
// pattern matches must be allowed, by the rule of subscribeAllowed.
func (a *ACL) wildcardDeleteAllowed(user, cid, pattern string) bool {
	return a.patternAllowed("publish", user, cid, pattern)
}

func (a *ACL) patternAllowed(action, user, cid, filter string) bool {
	for i := range a.Rules {
		r := &a.Rules[i]
		if !r.applies(action, user, cid) {
			continue
		}
		for _, f := range r.Topics {
			f = expand(f, user, cid)
			if r.Allow && covers(f, filter) || !r.Allow && overlaps(f, filter) {
				return r.Allow
			}
		}
	}
	return a.allowDefault()
}

// filterMatches reports whether topic name t matches the rule's filter f
// (see [packet.MatchTopic], the one matcher).
func filterMatches(f, t string) bool { return packet.MatchTopic(f, t) }

// covers reports whether every topic matching filter sub also matches
// filter f.
func covers(f, sub string) bool {
	var fl, sl topics.Levels
	if !topics.Split(f, &fl) || !topics.Split(sub, &sl) {
		return false
	}
	fs, ss := fl.Slice(), sl.Slice()
	for i, w := range fs {
		if w == "#" {
			return true
		}
		if i >= len(ss) || ss[i] == "#" {
			return false
		}
		if !topics.LevelCovers(w, ss[i]) {
			return false
		}
	}
	return len(fs) == len(ss)
}

// overlaps reports whether some topic matches both filters.
func overlaps(a, b string) bool {
	var al, bl topics.Levels
	if !topics.Split(a, &al) || !topics.Split(b, &bl) {
		return false
	}
	as, bs := al.Slice(), bl.Slice()
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
