package messages

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/mqttboard/mqttboard/tui/common"
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

// RenderPayload returns the payload's lines in mode, each made safe for
// the terminal (common.SafeLines). JSON that does not
// parse falls back to text with a note, so the key never shows nothing.
func RenderPayload(b []byte, m Mode) []string {
	switch m {
	case JSON:
		var out bytes.Buffer
		if err := json.Indent(&out, b, "", "  "); err == nil {
			return common.SafeLines(out.String())
		}
		return append([]string{"(not JSON; shown as text)"}, RenderPayload(b, Text)...)
	case Hex:
		return strings.Split(strings.TrimRight(hex.Dump(b), "\n"), "\n")
	}
	if !utf8.Valid(b) {
		return append([]string{"(binary; press v for hex)"}, common.SafeLines(string(b))...)
	}
	return common.SafeLines(string(b))
}
