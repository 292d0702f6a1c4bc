package cluster

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// The cluster secret (Config.Secret): NATS route authorization with a
// user name and password, the password being the secret. Every node
// requires it of the routes it accepts and presents it on the routes it
// makes, configured or learnt from a peer, so a node without the secret
// (or with another) is refused by every member. It travels in the route's
// CONNECT in clear: it keeps strangers and misconfigured nodes out of a
// cluster on a private network, it does not protect the traffic.

// routeUserName is the user name routes present with the secret.
const routeUserName = "mqttboard"

// routeUser is the route user name for secret ("" without a secret).
func routeUser(secret string) string {
	if secret == "" {
		return ""
	}
	return routeUserName
}

// ValidSecret reports why s cannot be a cluster secret ("" is none): it
// must be printable UTF-8 without spaces (it goes into route URLs and the
// NATS CONNECT), at most 1024 bytes, and at least 16 characters, so it is
// not guessed.
func ValidSecret(s string) error {
	if s == "" {
		return nil
	}
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return errors.New("use printable characters without spaces")
		}
	}
	if n := utf8.RuneCountInString(s); n < 16 || len(s) > 1024 {
		return fmt.Errorf("%d characters: use 16 to 1024 (e.g. `openssl rand -hex 16`)", n)
	}
	return nil
}
