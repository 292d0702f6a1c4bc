package packet

import "strings"

// checkTopicName returns what is wrong with a topic name, and the rule, or
// "" when it is valid. The UTF-8 rules were checked when it was decoded.
func checkTopicName(t string) (msg, rule string) {
	if t == "" {
		return "is empty", "MQTT-4.7.3-1"
	}
	if strings.ContainsAny(t, "+#") {
		return "contains a wildcard (+ or #); wildcards are for subscriptions only", "MQTT-3.3.2-2"
	}
	return "", ""
}

// HasWildcard reports whether a topic contains + or #.
func HasWildcard(t string) bool { return strings.ContainsAny(t, "+#") }

// ValidateTopicName checks a topic name a client may publish to: non-empty,
// no wildcards, valid MQTT UTF-8. It returns a *Error with TopicNameInvalid.
func ValidateTopicName(t string) error {
	msg, rule := checkTopicName(t)
	if msg == "" {
		if m := checkUTF8([]byte(t)); m != "" {
			msg, rule = m, utf8Rule(m)
		}
	}
	if msg == "" {
		return nil
	}
	return &Error{Code: TopicNameInvalid, Packet: PUBLISH, Field: "topic name " + quote(t), Offset: -1, Msg: msg, Rule: rule}
}

// ValidateFilter checks a topic filter for a SUBSCRIBE or UNSUBSCRIBE: not
// empty [MQTT-4.7.3-1]; '#' alone in the last level [MQTT-4.7.1-1]; '+' alone
// in its level [MQTT-4.7.1-2]; "$share/{name}/{filter}" with a name free of
// '+' and '#' and a filter after it [MQTT-4.8.2-1] [MQTT-4.8.2-2]. flespi's
// "$filter/{params}/{filter}" form is accepted: its params level is percent
// encoded expressions, checked by the broker, not here. It returns a *Error
// with TopicFilterInvalid.
func ValidateFilter(f string) error {
	msg, rule := checkFilter(f)
	if msg == "" {
		if m := checkUTF8([]byte(f)); m != "" {
			msg, rule = m, utf8Rule(m)
		}
	}
	if msg == "" {
		return nil
	}
	return &Error{Code: TopicFilterInvalid, Packet: SUBSCRIBE, Field: "topic filter " + quote(f), Offset: -1, Msg: msg, Rule: rule}
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:61] + "..."
	}
	return `"` + s + `"`
}

func checkFilter(f string) (msg, rule string) {
	if f == "" {
		return "is empty", "MQTT-4.7.3-1"
	}
	if rest, ok := strings.CutPrefix(f, "$share/"); ok {
		name, filter, found := strings.Cut(rest, "/")
		if name == "" {
			return "shared subscription has an empty share name", "MQTT-4.8.2-1"
		}
		if strings.ContainsAny(name, "+#") {
			return "share name contains a wildcard", "MQTT-4.8.2-2"
		}
		if !found || filter == "" {
			return "shared subscription has no topic filter after the share name", "MQTT-4.8.2-2"
		}
		f = filter
	}
	if rest, ok := strings.CutPrefix(f, "$filter/"); ok {
		_, filter, found := strings.Cut(rest, "/")
		if !found || filter == "" {
			return "$filter subscription has no topic filter after its parameters", "MQTT-4.7.3-1"
		}
		f = filter
	}
	for i := 0; i < len(f); i++ {
		switch f[i] {
		case '#':
			if i != len(f)-1 || (i > 0 && f[i-1] != '/') {
				return "'#' must be the last character and alone in its level", "MQTT-4.7.1-1"
			}
		case '+':
			if (i > 0 && f[i-1] != '/') || (i < len(f)-1 && f[i+1] != '/') {
				return "'+' must occupy a whole level", "MQTT-4.7.1-2"
			}
		}
	}
	return "", ""
}
