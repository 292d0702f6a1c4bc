package conn

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"

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

func dialHint(d *client.DialError) string {
	var (
		dns     *net.DNSError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
	)
	msg := d.Err.Error()
	switch {
	case errors.As(d.Err, &dns):
		return "check the host in the URL (e edits the connection)"
	case errors.As(d.Err, &unknown), errors.As(d.Err, &host), strings.Contains(msg, "x509:"), strings.Contains(msg, "certificate"):
		if strings.Contains(msg, "certificate required") {
			return "the broker wants a client certificate: set TLS cert file and TLS key file (e)"
		}
		return "set TLS CA file to the broker's CA, or TLS insecure (e edits the connection)"
	case strings.Contains(msg, "tls:") || strings.Contains(msg, "TLS"):
		return "is a TLS listener there? (8883 by default; e edits the URL)"
	case strings.HasPrefix(d.URL, "ws"):
		return "is a WebSocket listener there? check the port and path in the URL (e)"
	}
	return "is a broker running there? check the URL (e edits the connection), r retries now"
}
