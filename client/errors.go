package client

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/mqttboard/mqttboard/packet"
)

// errCertRequired marks a connection that failed after the server asked
// for a client certificate that we did not have.
var errCertRequired = errors.New("the broker asked for a client certificate")

// DialError is a failure to reach the broker: DNS, TCP, TLS or the
// WebSocket handshake, or the connection closing before CONNACK.
type DialError struct {
	URL string
	Err error
}

// DialProblem is what kind of failure a [DialError] is: the one
// classification of dial failures, which each front end words with its own
// advice (command-line flags here, the connection form in the board).
type DialProblem int

// The kinds of dial failure.
const (
	DialUnreachable  DialProblem = iota // nothing answered: no broker, wrong port
	DialBadHost                         // the host name did not resolve
	DialUntrusted                       // the broker's certificate was not trusted
	DialCertRequired                    // the broker wants a client certificate
	DialNotTLS                          // a TLS handshake that the peer failed
	DialNotWebSocket                    // the WebSocket upgrade failed
)

// Problem classifies the failure.
func (e *DialError) Problem() DialProblem {
	var (
		dns  *net.DNSError
		cert *tls.CertificateVerificationError
		hs   *handshakeError
	)
	switch {
	case errors.As(e.Err, &dns):
		return DialBadHost
	case errors.As(e.Err, &cert):
		return DialUntrusted
	case errors.Is(e.Err, errCertRequired), strings.Contains(e.Err.Error(), "tls: certificate required"):
		// TLS 1.3 sends this alert after the handshake, on the first read.
		return DialCertRequired
	case errors.As(e.Err, &hs):
		// Only a handshake that a peer actually failed says anything
		// about TLS; a refused TCP connection does not.
		return DialNotTLS
	case strings.HasPrefix(e.URL, "ws"):
		return DialNotWebSocket
	}
	return DialUnreachable
}

// Error says what failed and which flag to check.
func (e *DialError) Error() string {
	hint := "is a broker running there? (use -h/-p or -L)"
	switch e.Problem() {
	case DialBadHost:
		hint = "check the host name (-h or -L)"
	case DialUntrusted:
		hint = "give the broker's CA with --cafile, or --insecure to skip verification"
	case DialCertRequired:
		hint = "the broker wants a client certificate: give --cert and --key"
	case DialNotTLS:
		hint = "is a TLS listener there? (8883 by default; a plain MQTT port does not speak TLS)"
	case DialNotWebSocket:
		hint = "is a WebSocket listener there? (check the port and path)"
	}
	return fmt.Sprintf("connect to %s: %v — %s", e.URL, e.Err, hint)
}

// Unwrap returns the network error.
func (e *DialError) Unwrap() error { return e.Err }

// RefusedError is a CONNACK with a failure reason code: the broker was
// reached and said no (bad credentials, not authorised, banned, ...).
type RefusedError struct {
	URL          string
	Code         packet.ReasonCode
	ReasonString string
}

// Error names the reason code and, where one helps, the flag to change.
func (e *RefusedError) Error() string {
	s := fmt.Sprintf("broker at %s refused the connection: %v", e.URL, e.Code)
	if e.ReasonString != "" {
		s += ": " + e.ReasonString
	}
	switch e.Code {
	case 0x86, 0x87:
		s += " — check -u/-P or the token"
	case 0x84:
		s += " — try another -V/--mqtt-version"
	case 0x85:
		s += " — the broker does not accept this client id (-i)"
	}
	return s
}

// ReasonError is a negative acknowledgement of a PUBLISH or SUBSCRIBE.
type ReasonError struct {
	Op string // "publish to a/b", "subscribe to a/#"
	// Packet is the acknowledgement that carried Code: PUBACK, PUBREC
	// (a refused QoS 2 message ends there) or SUBACK.
	Packet       packet.Type
	Code         packet.ReasonCode
	ReasonString string
}

// Error names the operation, the acknowledgement and the broker's reason.
func (e *ReasonError) Error() string {
	s := fmt.Sprintf("%s: broker answered %v", e.Op, e.Code)
	if e.Packet != 0 {
		s = fmt.Sprintf("%s: broker answered %v %v", e.Op, e.Packet, e.Code)
	}
	if e.ReasonString != "" {
		s += ": " + e.ReasonString
	}
	if e.Code == 0x87 {
		s += " — the credentials in use may not access this topic"
	}
	return s
}

// DisconnectedError is a DISCONNECT the broker sent (MQTT 5): the broker
// ended the connection and said why. Requests waiting for an answer end
// with it at once.
type DisconnectedError struct {
	Code            packet.ReasonCode
	ReasonString    string
	ServerReference string
}

// Error names the reason code, the broker's reason string and, when the
// broker sent one, the server to use instead.
func (e *DisconnectedError) Error() string {
	s := fmt.Sprintf("broker sent DISCONNECT: %v", e.Code)
	if e.ReasonString != "" {
		s += ": " + e.ReasonString
	}
	if e.ServerReference != "" {
		s += " — the broker points to " + e.ServerReference
	}
	return s
}
