package auth

import (
	"strings"
	"testing"
)

// FuzzParseAccess: any bytes give a validated access or an error, never a
// panic; what validates survives a round trip through its grants.
func FuzzParseAccess(f *testing.F) {
	for _, s := range []string{
		`{"type":2,"acl":[{"uri":"mqtt","topic":"a/#","actions":["publish","subscribe"]}]}`,
		`{"type":1}`, `{"type":2,"acl":[{"uri":"gw/devices","methods":["GET"],"ids":"all"}]}`,
		`{"type":2,"acl":[{"uri":"mqtt","topic":"flespi/x","actions":["subscribe"]}]}`, `[]`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseAccess(b)
		if err != nil {
			return
		}
		for _, g := range a.grants() {
			if reachesFlespi(g.Topic) || (!g.Publish && !g.Subscribe) {
				t.Fatalf("grant %+v from %s", g, b)
			}
		}
	})
}

// FuzzCredentials: the CONNECT and Authorization parsers never panic, and
// every key they find is non-empty.
func FuzzCredentials(f *testing.F) {
	key := strings.Repeat("a", KeyLen)
	for _, s := range [][2]string{{key, ""}, {"x", key}, {"FlespiToken " + key, ""}, {"12", key[:16]}, {"flespitoken\t k", ""}, {"FlespiToken", ""}, {"0012", key[:16]}} {
		f.Add(s[0], []byte(s[1]), s[1] != "")
	}
	f.Fuzz(func(t *testing.T, user string, pass []byte, has bool) {
		for _, p := range parseMQTT(user, pass, has) {
			if p.key == "" && (p.id == 0 || len(p.short) != ShortLen) {
				t.Fatalf("empty presentation %+v", p)
			}
		}
		if k, ok := ParseAuthorization(user); ok && k == "" {
			t.Fatal("empty key accepted")
		}
	})
}
