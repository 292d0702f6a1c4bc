package cluster

import (
	"strings"

	"github.com/mqttboard/mqttboard/packet"
)

// MQTT topics become NATS subjects one level per token (docs/cluster.md):
// a level of plain printable ASCII stays as it is; any other level is
// percent-escaped byte by byte, and the empty level is "%" alone. No
// escaped level is a bare "%", and '%' itself is always escaped, so the
// mapping is injective: two topics never share a subject.

// plainByte reports whether b may stand for itself in a subject token:
// printable ASCII except '.', the token separator, the wildcards '*' and
// '>', '%' (the escape) and space.
func plainByte(b byte) bool {
	return b > ' ' && b < 0x7F && b != '.' && b != '*' && b != '>' && b != '%'
}

const hexDigits = "0123456789ABCDEF"

// appendLevel appends the token for one MQTT level.
func appendLevel(b []byte, level string) []byte {
	if level == "" {
		return append(b, '%')
	}
	for i := 0; i < len(level); i++ {
		c := level[i]
		if plainByte(c) {
			b = append(b, c)
		} else {
			b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	return b
}

// subject returns prefix + the escaped tokens of topic, e.g. "m." +
// "a//b.c" gives "m.a.%.b%2Ec".
func subject(prefix, topic string) string {
	b := make([]byte, 0, len(prefix)+len(topic)+8)
	b = append(b, prefix...)
	for i := 0; ; i++ {
		j := strings.IndexByte(topic, '/')
		if i > 0 {
			b = append(b, '.')
		}
		if j < 0 {
			b = appendLevel(b, topic)
			break
		}
		b = appendLevel(b, topic[:j])
		topic = topic[j+1:]
	}
	return string(b)
}

// filterSubjects returns the NATS subjects (with prefix) whose union
// covers every topic MQTT filter f matches: '+' and a flespi selector
// level become '*', '#' becomes '>' plus the parent subject ("a/#"
// matches "a" too [MQTT-4.7.1-2]). The node's own index refines the
// match, so a superset is enough; it must never be a subset.
func filterSubjects(prefix, f string) []string {
	b := make([]byte, 0, len(prefix)+len(f)+8)
	b = append(b, prefix...)
	levels := strings.Split(f, "/")
	for i, lv := range levels {
		if lv == "#" && i == len(levels)-1 {
			if i == 0 {
				return []string{prefix + ">"}
			}
			parent := string(b[:len(b)-1]) // without the trailing '.'
			return []string{parent, string(append(b, '>'))}
		}
		switch {
		case lv == "+" || packet.IsSelector(lv):
			// A selector "a,b" matches one level with one of the words:
			// any level, as far as NATS is concerned.
			b = append(b, '*')
		default:
			b = appendLevel(b, lv)
		}
		if i < len(levels)-1 {
			b = append(b, '.')
		}
	}
	return []string{string(b)}
}
