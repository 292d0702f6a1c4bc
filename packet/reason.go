package packet

import (
	"errors"
	"fmt"
	"strings"
)

// ReasonCode is an MQTT 5 reason code. It implements error so a broker can
// return one and answer with it; [Error] wraps one with the field and offset
// that caused it.
type ReasonCode byte

// MQTT 5 reason codes (specification section 2.4).
const (
	Success                             ReasonCode = 0x00 // also Normal disconnection, Granted QoS 0
	GrantedQoS1                         ReasonCode = 0x01
	GrantedQoS2                         ReasonCode = 0x02
	DisconnectWithWill                  ReasonCode = 0x04
	NoMatchingSubscribers               ReasonCode = 0x10
	NoSubscriptionExisted               ReasonCode = 0x11
	ContinueAuthentication              ReasonCode = 0x18
	ReAuthenticate                      ReasonCode = 0x19
	UnspecifiedError                    ReasonCode = 0x80
	MalformedPacket                     ReasonCode = 0x81
	ProtocolError                       ReasonCode = 0x82
	ImplementationSpecificError         ReasonCode = 0x83
	UnsupportedProtocolVersion          ReasonCode = 0x84
	ClientIdentifierNotValid            ReasonCode = 0x85
	BadUserNameOrPassword               ReasonCode = 0x86
	NotAuthorized                       ReasonCode = 0x87
	ServerUnavailable                   ReasonCode = 0x88
	ServerBusy                          ReasonCode = 0x89
	Banned                              ReasonCode = 0x8A
	ServerShuttingDown                  ReasonCode = 0x8B
	BadAuthenticationMethod             ReasonCode = 0x8C
	KeepAliveTimeout                    ReasonCode = 0x8D
	SessionTakenOver                    ReasonCode = 0x8E
	TopicFilterInvalid                  ReasonCode = 0x8F
	TopicNameInvalid                    ReasonCode = 0x90
	PacketIdentifierInUse               ReasonCode = 0x91
	PacketIdentifierNotFound            ReasonCode = 0x92
	ReceiveMaximumExceeded              ReasonCode = 0x93
	TopicAliasInvalid                   ReasonCode = 0x94
	PacketTooLarge                      ReasonCode = 0x95
	MessageRateTooHigh                  ReasonCode = 0x96
	QuotaExceeded                       ReasonCode = 0x97
	AdministrativeAction                ReasonCode = 0x98
	PayloadFormatInvalid                ReasonCode = 0x99
	RetainNotSupported                  ReasonCode = 0x9A
	QoSNotSupported                     ReasonCode = 0x9B
	UseAnotherServer                    ReasonCode = 0x9C
	ServerMoved                         ReasonCode = 0x9D
	SharedSubscriptionsNotSupported     ReasonCode = 0x9E
	ConnectionRateExceeded              ReasonCode = 0x9F
	MaximumConnectTime                  ReasonCode = 0xA0
	SubscriptionIdentifiersNotSupported ReasonCode = 0xA1
	WildcardSubscriptionsNotSupported   ReasonCode = 0xA2
)

// Aliases that read better where the packet gives 0x00 another name.
const (
	NormalDisconnection ReasonCode = 0x00
	GrantedQoS0         ReasonCode = 0x00
)

type reasonInfo struct {
	name  string
	valid uint16 // bit per Type the code may appear in
}

func types(ts ...Type) uint16 {
	var m uint16
	for _, t := range ts {
		m |= 1 << t
	}
	return m
}

// reasons lists every reason code with the packets it is valid in
// (specification table 2-6).
var reasons = [256]reasonInfo{
	0x00: {"success", types(CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH)},
	0x01: {"granted QoS 1", types(SUBACK)},
	0x02: {"granted QoS 2", types(SUBACK)},
	0x04: {"disconnect with will message", types(DISCONNECT)},
	0x10: {"no matching subscribers", types(PUBACK, PUBREC)},
	0x11: {"no subscription existed", types(UNSUBACK)},
	0x18: {"continue authentication", types(AUTH)},
	0x19: {"re-authenticate", types(AUTH)},
	0x80: {"unspecified error", types(CONNACK, PUBACK, PUBREC, SUBACK, UNSUBACK, DISCONNECT)},
	0x81: {"malformed packet", types(CONNACK, DISCONNECT)},
	0x82: {"protocol error", types(CONNACK, DISCONNECT)},
	0x83: {"implementation specific error", types(CONNACK, PUBACK, PUBREC, SUBACK, UNSUBACK, DISCONNECT)},
	0x84: {"unsupported protocol version", types(CONNACK)},
	0x85: {"client identifier not valid", types(CONNACK)},
	0x86: {"bad user name or password", types(CONNACK)},
	0x87: {"not authorized", types(CONNACK, PUBACK, PUBREC, SUBACK, UNSUBACK, DISCONNECT)},
	0x88: {"server unavailable", types(CONNACK)},
	0x89: {"server busy", types(CONNACK, DISCONNECT)},
	0x8A: {"banned", types(CONNACK)},
	0x8B: {"server shutting down", types(DISCONNECT)},
	0x8C: {"bad authentication method", types(CONNACK, DISCONNECT)},
	0x8D: {"keep alive timeout", types(DISCONNECT)},
	0x8E: {"session taken over", types(DISCONNECT)},
	0x8F: {"topic filter invalid", types(SUBACK, UNSUBACK, DISCONNECT)},
	0x90: {"topic name invalid", types(CONNACK, PUBACK, PUBREC, DISCONNECT)},
	0x91: {"packet identifier in use", types(PUBACK, PUBREC, SUBACK, UNSUBACK)},
	0x92: {"packet identifier not found", types(PUBREL, PUBCOMP)},
	0x93: {"receive maximum exceeded", types(DISCONNECT)},
	0x94: {"topic alias invalid", types(DISCONNECT)},
	0x95: {"packet too large", types(CONNACK, DISCONNECT)},
	0x96: {"message rate too high", types(DISCONNECT)},
	0x97: {"quota exceeded", types(CONNACK, PUBACK, PUBREC, SUBACK, DISCONNECT)},
	0x98: {"administrative action", types(DISCONNECT)},
	0x99: {"payload format invalid", types(CONNACK, PUBACK, PUBREC, DISCONNECT)},
	0x9A: {"retain not supported", types(CONNACK, DISCONNECT)},
	0x9B: {"QoS not supported", types(CONNACK, DISCONNECT)},
	0x9C: {"use another server", types(CONNACK, DISCONNECT)},
	0x9D: {"server moved", types(CONNACK, DISCONNECT)},
	0x9E: {"shared subscriptions not supported", types(SUBACK, DISCONNECT)},
	0x9F: {"connection rate exceeded", types(CONNACK, DISCONNECT)},
	0xA0: {"maximum connect time", types(DISCONNECT)},
	0xA1: {"subscription identifiers not supported", types(SUBACK, DISCONNECT)},
	0xA2: {"wildcard subscriptions not supported", types(SUBACK, DISCONNECT)},
}

// String is the specification's name for the code in lower case.
func (r ReasonCode) String() string {
	if n := reasons[r].name; n != "" {
		return n
	}
	return fmt.Sprintf("reason code 0x%02X", byte(r))
}

// Error makes a ReasonCode usable as an error: "not authorized (0x87)".
func (r ReasonCode) Error() string { return fmt.Sprintf("%s (0x%02X)", r.String(), byte(r)) }

// IsError reports whether r reports a failure (0x80 and above).
func (r ReasonCode) IsError() bool { return r >= 0x80 }

// ValidFor reports whether the specification allows r in packets of type t.
func (r ReasonCode) ValidFor(t Type) bool { return reasons[r].valid&(1<<t) != 0 }

// ConnackV3 maps an MQTT 5 CONNACK reason code to the MQTT 3.1/3.1.1 return
// code with the nearest meaning (3.1.1 section 3.2.2.3).
func (r ReasonCode) ConnackV3() byte {
	switch r {
	case Success:
		return 0x00
	case UnsupportedProtocolVersion:
		return 0x01 // unacceptable protocol version
	case ClientIdentifierNotValid:
		return 0x02 // identifier rejected
	case ServerUnavailable, ServerBusy, ServerShuttingDown, UseAnotherServer, ServerMoved, ConnectionRateExceeded:
		return 0x03 // server unavailable
	case BadUserNameOrPassword, BadAuthenticationMethod:
		return 0x04 // bad user name or password
	}
	return 0x05 // not authorized
}

// ConnackFromV3 maps an MQTT 3.1/3.1.1 CONNACK return code to the MQTT 5
// reason code with the same meaning.
func ConnackFromV3(code byte) ReasonCode {
	switch code {
	case 0x00:
		return Success
	case 0x01:
		return UnsupportedProtocolVersion
	case 0x02:
		return ClientIdentifierNotValid
	case 0x03:
		return ServerUnavailable
	case 0x04:
		return BadUserNameOrPassword
	case 0x05:
		return NotAuthorized
	}
	return UnspecifiedError
}

// Error is a decoding or encoding failure: which packet, which field, at
// which byte of the packet (counting the fixed header), which rule, and the
// reason code a server answers with (in CONNACK or DISCONNECT).
type Error struct {
	Code   ReasonCode // MalformedPacket, ProtocolError, PacketTooLarge, ...
	Packet Type       // 0 when the type itself could not be read
	Field  string     // e.g. "topic name", "property 0x23 (topic alias)"
	Offset int        // byte offset from the start of the packet; -1 if unknown
	Msg    string     // what is wrong
	Rule   string     // conformance statement, e.g. "MQTT-3.3.2-2"
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Code.String())
	if e.Packet != 0 {
		b.WriteString(": ")
		b.WriteString(e.Packet.String())
	}
	if e.Field != "" {
		b.WriteString(" ")
		b.WriteString(e.Field)
	}
	if e.Offset >= 0 {
		fmt.Fprintf(&b, " at byte %d", e.Offset)
	}
	if e.Msg != "" {
		b.WriteString(": ")
		b.WriteString(e.Msg)
	}
	if e.Rule != "" {
		b.WriteString(" [")
		b.WriteString(e.Rule)
		b.WriteString("]")
	}
	return b.String()
}

// Unwrap lets errors.Is(err, packet.ProtocolError) and errors.As with
// ReasonCode work on an *Error.
func (e *Error) Unwrap() error { return e.Code }

// CodeOf returns the reason code carried by err: the code of an [*Error] or
// a [ReasonCode], UnspecifiedError for anything else, Success for nil.
func CodeOf(err error) ReasonCode {
	if err == nil {
		return Success
	}
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	var rc ReasonCode
	if errors.As(err, &rc) {
		return rc
	}
	return UnspecifiedError
}
