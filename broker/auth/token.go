// Package auth is flespi's access model for the bundled broker: tokens
// (a 64-character key and a numeric id, with a type, an ACL and a
// lifetime), accounts and their subaccounts, each an isolated topic
// namespace. [Registry] implements [broker.Authenticator] for
// `mqttboard broker --auth token` and keeps tokens and accounts in a
// [storage.Store], so they survive a restart when the broker has --data.
//
// The shapes follow flespi's public platform API (/platform/tokens,
// /platform/subaccounts): see [Token] and [Account].
package auth

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/packet"
)

// Token types (flespi's access.type).
const (
	Standard = 0 // everything MQTT in its account and subaccounts; no platform API
	Master   = 1 // everything, the platform API (tokens, subaccounts) included
	ACL      = 2 // only what its ACL grants: by default everything is denied
)

// KeyLen is the length of a token key: 64 characters, as flespi's.
const KeyLen = 64

// ShortLen is how much of a key the 16-byte form presents as the password
// (with the token id as the user name), for clients limited to 16-byte
// fields.
const ShortLen = 16

// Token is one token, in flespi's JSON shape.
type Token struct {
	ID      uint64 `json:"id"`
	Key     string `json:"key,omitempty"`
	CID     uint64 `json:"cid"`
	Info    string `json:"info"`
	Enabled bool   `json:"enabled"`
	// Expire is a UNIX time until which the token is valid, 0 for none.
	Expire int64 `json:"expire"`
	// TTL is how many seconds the token stays valid after its creation
	// or its last use, 0 for none. An active MQTT session is use.
	TTL      int64  `json:"ttl"`
	Created  int64  `json:"created"`
	Accessed int64  `json:"accessed"`
	Access   Access `json:"access"`
}

// Access is a token's access control: its type and, for an ACL token, the
// list of what it may do.
type Access struct {
	Type int        `json:"type"`
	ACL  []ACLEntry `json:"acl,omitempty"`
}

// ACLEntry is one grant of an ACL token. For MQTT it is
// {"uri":"mqtt","topic":"<filter>","actions":["publish","subscribe"]};
// entries for other flespi modules (any other uri, with "methods",
// "ids" or "submodules") are kept as given and grant nothing here.
type ACLEntry struct {
	URI        string          `json:"uri"`
	Topic      string          `json:"topic,omitempty"`
	Actions    []string        `json:"actions,omitempty"`
	Methods    []string        `json:"methods,omitempty"`
	IDs        json.RawMessage `json:"ids,omitempty"`
	Submodules json.RawMessage `json:"submodules,omitempty"`
}

// maxACLEntries bounds one token's ACL: enough for any real design, and a
// bound on what each connection of the token compiles.
const maxACLEntries = 1024

// Validate checks an access value as it arrives from the API, with errors
// naming the entry and field.
func (a *Access) Validate() error {
	switch a.Type {
	case Standard, Master:
		if len(a.ACL) > 0 {
			return fmt.Errorf("access.acl: only an ACL token (access.type 2) has an ACL; this one is type %d", a.Type)
		}
	case ACL:
	default:
		return fmt.Errorf("access.type: %d is not 0 (standard), 1 (master) or 2 (ACL)", a.Type)
	}
	if len(a.ACL) > maxACLEntries {
		return fmt.Errorf("access.acl: %d entries; at most %d", len(a.ACL), maxACLEntries)
	}
	for i, e := range a.ACL {
		if e.URI == "" {
			return fmt.Errorf("access.acl[%d].uri: missing", i)
		}
		if e.URI != "mqtt" {
			continue
		}
		if err := packet.ValidateFilter(e.Topic); err != nil {
			return fmt.Errorf("access.acl[%d].topic: %v", i, err)
		}
		if reachesFlespi(e.Topic) {
			return fmt.Errorf("access.acl[%d].topic: %q: ACLs for MQTT cannot be configured for topics starting with flespi/", i, e.Topic)
		}
		if len(e.Actions) == 0 {
			return fmt.Errorf("access.acl[%d].actions: empty; give \"publish\" and/or \"subscribe\"", i)
		}
		for _, act := range e.Actions {
			if act != "publish" && act != "subscribe" {
				return fmt.Errorf("access.acl[%d].actions: %q is not \"publish\" or \"subscribe\"", i, act)
			}
		}
	}
	return nil
}

// ParseAccess reads an access value (JSON) strictly: unknown fields and
// trailing data are errors, and the result is validated.
func ParseAccess(b []byte) (Access, error) {
	var a Access
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&a); err != nil {
		return Access{}, fmt.Errorf("access: %v", strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return Access{}, errors.New("access: trailing data after the JSON value")
	}
	return a, a.Validate()
}

// grants turns the MQTT entries of an ACL into the broker's grants.
func (a *Access) grants() []broker.Grant {
	if a.Type != ACL {
		return nil
	}
	var out []broker.Grant
	for _, e := range a.ACL {
		if e.URI != "mqtt" {
			continue
		}
		g := broker.Grant{Topic: e.Topic}
		for _, act := range e.Actions {
			g.Publish = g.Publish || act == "publish"
			g.Subscribe = g.Subscribe || act == "subscribe"
		}
		out = append(out, g)
	}
	return out
}

// NewKey returns a new random token key: 64 characters of [A-Za-z0-9],
// like flespi's.
func NewKey() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	var b [KeyLen]byte
	rand.Read(b[:])
	for i := range b {
		// 248 = 4 × 62: rejection keeps the letters uniform.
		for b[i] >= 248 {
			var one [1]byte
			rand.Read(one[:])
			b[i] = one[0]
		}
		b[i] = alphabet[b[i]%62]
	}
	return string(b[:])
}

// ValidKey reports whether k can be a token key: 64 printable ASCII
// characters without spaces (a configured master token need not be one of
// ours, but it must fit where tokens go).
func ValidKey(k string) bool {
	if len(k) != KeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] > '~' {
			return false
		}
	}
	return true
}

// reachesFlespi reports whether a filter names the flespi level first,
// itself or as one word of a selector ("flespi,other/#"). Wildcards are
// not counted: "#" may be granted, and the broker denies flespi/ before
// any grant.
func reachesFlespi(filter string) bool {
	first, _, _ := strings.Cut(filter, "/")
	for w := range strings.SplitSeq(first, ",") {
		if w == "flespi" {
			return true
		}
	}
	return false
}
