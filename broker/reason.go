package broker

import "unicode/utf8"

// maxReasonLen bounds the Reason String the broker sends. Some client
// libraries mis-parse a property block whose length needs a two-byte
// variable byte integer (128 bytes or more), turning a correct reason code
// into a client-side parse error; 96 bytes leaves room for the property's
// own header and a user property or two. The full text still goes to the
// broker's events and log.
const maxReasonLen = 96

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
