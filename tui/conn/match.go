package conn

import "strings"

// MatchTopic reports whether topic matches the MQTT filter, which may be a
// flespi subscription as typed: "$share/group/f", "$share/group:n/f",
// "$filter/.../f" parts are not matched on, and a selector "a/b,c/d" matches
// any of its topics.
func MatchTopic(filter, topic string) bool {
	filter = stripPrefixes(filter)
	for f := range strings.SplitSeq(filter, ",") {
		if matchOne(f, topic) {
			return true
		}
	}
	return false
}

func stripPrefixes(f string) string {
	if rest, ok := strings.CutPrefix(f, "$share/"); ok {
		if _, after, ok := strings.Cut(rest, "/"); ok {
			f = after
		}
	}
	return f
}

func matchOne(filter, topic string) bool {
	// [MQTT-4.7.2-1]: wildcards at the first level do not match $ topics.
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "#") || strings.HasPrefix(filter, "+")) {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" {
			return true
		}
		tl, trest, tmore := strings.Cut(topic, "/")
		if fl != "+" && fl != tl {
			return false
		}
		if !fmore || !tmore {
			// "a/#" matches "a" too [MQTT-4.7.1-2].
			return fmore == tmore || (fmore && frest == "#")
		}
		filter, topic = frest, trest
	}
}
