package messages

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// Mode is how the selected payload is shown.
type Mode int

// Payload modes, cycled with the View key.
const (
	Text Mode = iota
	JSON
	Hex
)

func (m Mode) String() string { return [...]string{"text", "json", "hex"}[m] }

// RenderPayload returns the payload's lines in mode. JSON that does not
// parse falls back to text with a note, so the key never shows nothing.
func RenderPayload(b []byte, m Mode) []string {
	switch m {
	case JSON:
		var out bytes.Buffer
		if err := json.Indent(&out, b, "", "  "); err == nil {
			return strings.Split(out.String(), "\n")
		}
		return append([]string{"(not JSON; shown as text)"}, RenderPayload(b, Text)...)
	case Hex:
		return strings.Split(strings.TrimRight(hex.Dump(b), "\n"), "\n")
	}
	if !utf8.Valid(b) {
		return append([]string{"(binary; press v for hex)"}, strings.Split(strings.ToValidUTF8(string(b), "�"), "\n")...)
	}
	return strings.Split(string(b), "\n")
}
