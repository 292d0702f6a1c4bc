package broker

import (
	"unicode/utf8"

	"github.com/mqttboard/mqttboard/packet"
)

// maxReasonLen bounds the Reason String the broker sends. Some client
// libraries mis-parse a property block whose length needs a two-byte
// variable byte integer (128 bytes or more), turning a correct reason code
// into a client-side parse error; 96 bytes leaves room for the property's
// own header and a user property or two. The full text still goes to the
// broker's events and log.
const maxReasonLen = 96

// clientRefusedTypes are the packet types a client never sends the broker:
// the reserved type 0, those only servers send, and AUTH (no enhanced
// authentication is offered [MQTT-4.12.0-1]). They are a protocol error
// (0x82) from their first byte, before any malformed body is looked at,
// as in mosquitto.
const clientRefusedTypes = 1<<0 | 1<<packet.CONNACK | 1<<packet.SUBACK | 1<<packet.UNSUBACK | 1<<packet.PINGRESP | 1<<packet.AUTH

// reasonString is the Reason String the broker sends for reason: ""
// when [Options.NoReasonStrings] is set, else reason cut by shortReason.
func (s *Server) reasonString(reason string) string {
	if s.opts.NoReasonStrings {
		return ""
	}
	return shortReason(reason)
}

// shortReason returns reason cut to at most maxReasonLen bytes, at a rune
// boundary, ending in "…" when it was cut.
func shortReason(reason string) string {
	if len(reason) <= maxReasonLen {
		return reason
	}
	const ellipsis = "…"
	cut := maxReasonLen - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(reason[cut]) {
		cut--
	}
	return reason[:cut] + ellipsis
}

// reasonList collects the reason strings of a SUBACK or UNSUBACK, once
// each: 65 filters refused for the same cause give one reason, not 65.
type reasonList []string

func (l *reasonList) add(r string) {
	for _, s := range *l {
		if s == r {
			return
		}
	}
	*l = append(*l, r)
}
