package auth

import (
	"strconv"
	"strings"
)

// A CONNECT presents a token in one of flespi's four ways:
//
//  1. the key as the user name (the password is ignored);
//  2. the key as the password, with any user name;
//  3. "FlespiToken <key>" as the user name, the HTTP header's form;
//  4. for clients limited to 16-byte fields: the token id as the user
//     name and the key's first 16 characters as the password.

// presented is one way a CONNECT may name a token: by key, or by id and
// the key's first [ShortLen] characters.
type presented struct {
	key   string
	id    uint64
	short string
}

// parseMQTT lists what a CONNECT's user name and password may present, in
// the order they are tried: a user name that is a key wins over a password
// that is one.
func parseMQTT(username string, password []byte, hasPassword bool) []presented {
	var out []presented
	if k, ok := cutScheme(username); ok {
		return append(out, presented{key: k})
	}
	if len(username) == KeyLen {
		out = append(out, presented{key: username})
	}
	if hasPassword && len(password) == KeyLen {
		out = append(out, presented{key: string(password)})
	}
	if hasPassword && len(password) == ShortLen {
		if id, err := strconv.ParseUint(username, 10, 64); err == nil && id > 0 && username[0] != '0' && username[0] != '+' {
			out = append(out, presented{id: id, short: string(password)})
		}
	}
	return out
}

// cutScheme returns the key of "FlespiToken <key>" (the scheme's case
// does not matter, as for HTTP authentication schemes; spaces around the
// key are dropped).
func cutScheme(s string) (string, bool) {
	const scheme = "flespitoken"
	if len(s) <= len(scheme) || !strings.EqualFold(s[:len(scheme)], scheme) || (s[len(scheme)] != ' ' && s[len(scheme)] != '\t') {
		return "", false
	}
	k := strings.TrimSpace(s[len(scheme):])
	return k, k != ""
}

// ParseAuthorization returns the key of an HTTP Authorization header:
// "FlespiToken <key>", as flespi's REST API takes it. ok is false for any
// other scheme or an empty key.
func ParseAuthorization(h string) (key string, ok bool) {
	return cutScheme(strings.TrimSpace(h))
}
