package cli

import (
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/client"
	"github.com/mqttboard/mqttboard/packet"
)

// FuzzFormat feeds arbitrary -F format strings and messages to the
// parser and the formatter: they must never panic, whatever the
// specifiers, widths, escapes and payloads (%J parses the payload).
func FuzzFormat(f *testing.F) {
	for _, s := range []string{"%t %p", "%j", "%J", "%x%X%l%q%r%d", "%U%C%D%R%E%F%A%S", "%I %u", "%%", `\n\t\r\0\\`, "%", `\`, "%z",
		"%-10.3t%05l%-p%7x", "@Y-@m-@d @H:@M:@S.@N @@", "@"} {
		f.Add(s, "a/b", []byte("payload"))
	}
	f.Fuzz(func(t *testing.T, format, topic string, payload []byte) {
		m := &client.MessageEvent{Message: client.Message{Topic: topic, Payload: payload, QoS: 1,
			Props: packet.Properties{User: []packet.UserProperty{{Key: "k", Value: "v"}}, CorrelationData: payload, SubscriptionIDs: []uint32{1, 2}}},
			Time: time.Unix(1700000000, 0)}
		tmpl, err := parseFormat(format)
		if err != nil {
			return
		}
		for _, pretty := range []bool{false, true} {
			tmpl.pretty = pretty
			tmpl.appendMessage(nil, m, func(string) {})
		}
	})
}

// FuzzFlagValues feeds arbitrary text to the small flag parsers: no panic,
// and what they accept is sane.
func FuzzFlagValues(f *testing.F) {
	for _, s := range []string{"k=v", "k: v", "=v", ":", "5", "3.1.1", "mqttv31", "1.5", "500ms", "1e300", "-1", "NaN", "Inf"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if p, err := parseUserProperty(s); err == nil && p.Key == "" {
			t.Fatalf("%q: accepted with an empty key", s)
		}
		if d, err := parseTimeout(s); err == nil && d < 0 {
			t.Fatalf("%q: negative timeout %v", s, d)
		}
		if v, err := parseVersion(s); err == nil && !v.Valid() {
			t.Fatalf("%q: invalid version %v", s, v)
		}
	})
}
