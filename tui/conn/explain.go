package conn

import (
	"errors"
	"fmt"

	"github.com/mqttboard/mqttboard/client"
)

// Explain words a connection error for the board: what failed and what to
// change in the connection form. client's own messages end in command-line
// hints ("use -h/-p or -L") that mean nothing here.
func Explain(err error) string {
	if err == nil {
		return ""
	}
	var (
		dial    *client.DialError
		refused *client.RefusedError
	)
	switch {
	case errors.As(err, &dial):
		return fmt.Sprintf("connect to %s: %v — %s", dial.URL, dial.Err, dialHint(dial))
	case errors.As(err, &refused):
		s := fmt.Sprintf("the broker refused the connection: %v", refused.Code)
		if refused.ReasonString != "" {
			s += ": " + refused.ReasonString
		}
		switch refused.Code {
		case 0x86, 0x87:
			s += " — check Username and Password (e edits the connection)"
		case 0x84:
			s += " — try another Version (e edits the connection)"
		case 0x85:
			s += " — the broker does not accept this Client ID (e edits the connection)"
		}
		return s
	}
	return err.Error()
}

// dialHint words client's classification of the failure for the board.
func dialHint(d *client.DialError) string {
	switch d.Problem() {
	case client.DialBadHost:
		return "check the host in the URL (e edits the connection)"
	case client.DialUntrusted:
		return "set TLS CA file to the broker's CA, or TLS insecure (e edits the connection)"
	case client.DialCertRequired:
		return "the broker wants a client certificate: set TLS cert file and TLS key file (e)"
	case client.DialNotTLS:
		return "is a TLS listener there? (8883 by default; e edits the URL)"
	case client.DialNotWebSocket:
		return "is a WebSocket listener there? check the port and path in the URL (e)"
	}
	return "is a broker running there? check the URL (e edits the connection), r retries now"
}
