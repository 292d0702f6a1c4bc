package packet

import "strings"

// This file is the one topic matcher of mqttboard: the broker's trie
// (broker/topics), its ACL, the CLI and the TUI all decide "does this
// subscription receive this topic" here, or agree with it (the trie is
// checked against [MatchFilter] by a fuzz target). It allocates nothing.
//
// A subscription filter as written in a SUBSCRIBE is, outside in:
//
//	[$share/{group}/] [$filter/{params}/] {topic filter}
//
// where {group} is a share name, or flespi's sticky forms "name:count" and
// "name:from:count" (the group's business, not the match's), {params} is
// flespi's percent-encoded $filter conditions (the broker's business), and
// {topic filter} is levels separated by '/': a literal word, '+' (any one
// level), '#' (this level and every level below, last only), or a flespi
// topic selector "a,b,c" (one of the words listed, per level).

// Prefixes of a subscription filter (see [CutShare] and [CutFilterParams]).
const (
	SharePrefix  = "$share/"
	FilterPrefix = "$filter/"
)

// MatchFilter reports whether a PUBLISH to topic is delivered to a
// subscription made with filter as written in a SUBSCRIBE. It strips a
// "$share/{group}/" prefix and then a "$filter/{params}/" prefix and
// matches the topic filter left ([InnerFilter]) with [MatchTopic]; the
// $filter's conditions are not evaluated. A filter whose prefix has nothing
// after it ("$share/g") matches nothing, and no topic starting with
// "$share/" is ever delivered: that prefix names shared subscriptions, not
// topics.
func MatchFilter(filter, topic string) bool {
	inner, ok := InnerFilter(filter)
	if !ok || strings.HasPrefix(topic, SharePrefix) {
		return false
	}
	return MatchTopic(inner, topic)
}

// InnerFilter returns the topic filter a subscription filter matches on:
// filter without its "$share/{group}/" and "$filter/{params}/" prefixes, in
// that order (a "$share/" after "$filter/" is not a prefix: it stays part
// of the topic filter). ok is false when a prefix has no "/" after its
// group or params.
func InnerFilter(filter string) (inner string, ok bool) {
	if after, found := strings.CutPrefix(filter, SharePrefix); found {
		if _, filter, found = strings.Cut(after, "/"); !found {
			return "", false
		}
	}
	if after, found := strings.CutPrefix(filter, FilterPrefix); found {
		if _, filter, found = strings.Cut(after, "/"); !found {
			return "", false
		}
	}
	return filter, true
}

// CutShare splits "$share/{group}/{rest}" into group and rest; found is
// false, and rest is filter, when filter does not start with "$share/".
// When there is no '/' after the group, rest is "".
func CutShare(filter string) (group, rest string, found bool) {
	after, ok := strings.CutPrefix(filter, SharePrefix)
	if !ok {
		return "", filter, false
	}
	group, rest, _ = strings.Cut(after, "/")
	return group, rest, true
}

// CutFilterParams splits flespi's "$filter/{params}/{rest}" into params
// (still percent encoded) and rest; found is false, and rest is filter,
// when filter does not start with "$filter/". When there is no '/' after
// the params, rest is "".
func CutFilterParams(filter string) (params, rest string, found bool) {
	after, ok := strings.CutPrefix(filter, FilterPrefix)
	if !ok {
		return "", filter, false
	}
	params, rest, _ = strings.Cut(after, "/")
	return params, rest, true
}

// MatchTopic reports whether topic matches the topic filter f, which has
// no "$share/" or "$filter/" prefix (see [MatchFilter] for one that may).
// '+' matches any one level, '#' the level it stands in and every level
// below, including none ("a/#" matches "a") [MQTT-4.7.1-2]; a '#' that is
// not the last level matches nothing. A filter whose first level is '+' or
// '#' does not match a topic starting with '$' [MQTT-4.7.2-1]; a selector
// or literal that names the '$' word does. Selectors are split per level:
// "a,b/c" is the levels "a,b" and "c".
func MatchTopic(f, topic string) bool {
	dollar := topic != "" && topic[0] == '$'
	t := topic
	fEnd, tEnd := false, false
	for first := true; ; first = false {
		if fEnd {
			return tEnd
		}
		var fl string
		fl, f, fEnd = nextLevel(f)
		if fl == "#" {
			return fEnd && !(first && dollar)
		}
		if tEnd {
			return false
		}
		var tl string
		tl, t, tEnd = nextLevel(t)
		if fl == "+" {
			if first && dollar {
				return false
			}
			continue
		}
		if !LevelMatches(fl, tl) {
			return false
		}
	}
}

// nextLevel cuts the first level off s; last reports that it was the last.
func nextLevel(s string) (level, rest string, last bool) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i+1:], false
	}
	return s, "", true
}

// IsSelector reports whether a topic filter level is a flespi topic
// selector: words separated by commas ("a,b"), standing for any one of
// them.
func IsSelector(level string) bool {
	return strings.IndexByte(level, ',') >= 0 && level != "+" && level != "#"
}

// LevelMatches reports whether one topic filter level matches one topic
// level: '+' matches any, a selector each word it lists (whole words; a
// topic level containing a comma is one word, matched by no selector), a
// literal itself. '#' spans levels and is the caller's to handle; the '$'
// rule too ([MatchTopic] does both).
func LevelMatches(filterLevel, topicLevel string) bool {
	switch {
	case filterLevel == "+":
		return true
	case IsSelector(filterLevel):
		for s := filterLevel; ; {
			i := strings.IndexByte(s, ',')
			if i < 0 {
				return s == topicLevel
			}
			if s[:i] == topicLevel {
				return true
			}
			s = s[i+1:]
		}
	}
	return filterLevel == topicLevel
}
