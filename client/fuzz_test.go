package client

import (
	"strings"
	"testing"
)

// FuzzParseURL: ParseURL never panics, and a URL it accepts has a known
// scheme and a port.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"mqtt://localhost:1883", "mqtts://h", "ws://h/mqtt", "wss://u:p@h:443/p", "h:1", "localhost", "tcp://h", ":", "mqtt://[::1]:1883", "mqtt://h:99999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURL(s)
		if err != nil {
			return
		}
		switch u.Scheme {
		case "mqtt", "mqtts", "ws", "wss":
		default:
			t.Fatalf("%q: accepted scheme %q", s, u.Scheme)
		}
		if u.Port() == "" || strings.ContainsAny(u.Port(), " /") {
			t.Fatalf("%q: port %q", s, u.Port())
		}
	})
}
