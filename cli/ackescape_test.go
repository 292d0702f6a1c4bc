package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mqttboard/mqttboard/client"
	"github.com/mqttboard/mqttboard/packet"
)

// TestAckUserPropertiesEscaped: pub -v printed the broker's user
// properties raw, so a broker could retitle or clear the terminal.
func TestAckUserPropertiesEscaped(t *testing.T) {
	var b bytes.Buffer
	a := &client.Ack{Type: packet.PUBACK, Codes: []packet.ReasonCode{0},
		User: []packet.UserProperty{{Key: "k\x1b]2;PWNED\x07", Value: "v\x1b[2J\u202e"}}}
	if err := writeAck(&b, false, "t", a); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); strings.ContainsAny(out, "\x1b\x07\u202e") || !strings.Contains(out, "PWNED") {
		t.Fatalf("pub -v line %q: control characters raw, or the text lost", out)
	}
}
