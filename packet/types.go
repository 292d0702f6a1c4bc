package packet

import "fmt"

// Version is the protocol level carried in CONNECT.
type Version byte

// Protocol versions.
const (
	V31  Version = 3 // MQTT 3.1, protocol name "MQIsdp"
	V311 Version = 4 // MQTT 3.1.1
	V5   Version = 5 // MQTT 5.0
)

func (v Version) String() string {
	switch v {
	case V31:
		return "3.1"
	case V311:
		return "3.1.1"
	case V5:
		return "5.0"
	}
	return fmt.Sprintf("unknown(%d)", byte(v))
}

// Valid reports whether v is a protocol level this package speaks.
func (v Version) Valid() bool { return v == V31 || v == V311 || v == V5 }

// Type is an MQTT control packet type, the high nibble of the first byte.
type Type byte

// Control packet types.
const (
	CONNECT     Type = 1
	CONNACK     Type = 2
	PUBLISH     Type = 3
	PUBACK      Type = 4
	PUBREC      Type = 5
	PUBREL      Type = 6
	PUBCOMP     Type = 7
	SUBSCRIBE   Type = 8
	SUBACK      Type = 9
	UNSUBSCRIBE Type = 10
	UNSUBACK    Type = 11
	PINGREQ     Type = 12
	PINGRESP    Type = 13
	DISCONNECT  Type = 14
	AUTH        Type = 15 // MQTT 5.0 only
)

var typeNames = [...]string{"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
	"SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("TYPE(%d)", byte(t))
}

// QoS is a quality of service level, 0, 1 or 2.
type QoS byte

// MaxRemainingLength is the largest remaining length a four-byte variable
// byte integer can encode.
const MaxRemainingLength = 268_435_455

// Packet is one MQTT control packet.
type Packet interface {
	// Type is the control packet type.
	Type() Type
	// AppendTo appends the packet's wire encoding for protocol version v to
	// dst. Properties are written only for [V5], and only those the packet
	// type may carry.
	AppendTo(dst []byte, v Version) ([]byte, error)
	// String is a one-line human description (used by packet logs).
	String() string
	// decode parses the variable header and payload b (the remaining length
	// bytes) for version v; flags is the low nibble of the first byte.
	decode(d *decoder, flags byte) error
}

// Encode returns the wire encoding of p for version v in a new slice.
func Encode(p Packet, v Version) ([]byte, error) { return p.AppendTo(nil, v) }

// fixedFlags is the only valid low nibble for every type but PUBLISH
// [MQTT-2.1.3-1]; PUBREL, SUBSCRIBE and UNSUBSCRIBE carry 0b0010
// [MQTT-3.6.1-1] [MQTT-3.8.1-1] [MQTT-3.10.1-1].
func fixedFlags(t Type) byte {
	switch t {
	case PUBREL, SUBSCRIBE, UNSUBSCRIBE:
		return 0b0010
	}
	return 0
}
