package packet

import (
	"fmt"
	"strings"
)

// Connect is the CONNECT packet. Its ProtocolVersion selects the encoding;
// AppendTo's version argument is ignored for CONNECT.
type Connect struct {
	ProtocolVersion Version // V31 writes protocol name "MQIsdp", others "MQTT"
	CleanStart      bool    // Clean Session in 3.1/3.1.1
	KeepAlive       uint16  // seconds
	ClientID        string
	UsernameFlag    bool // set with Username; a present but empty user name is legal
	Username        string
	PasswordFlag    bool
	Password        []byte
	WillFlag        bool
	Will            Will
	Props           Properties
}

// Will is the will message carried in CONNECT.
type Will struct {
	QoS     QoS
	Retain  bool
	Topic   string
	Payload []byte
	Props   Properties // will properties (MQTT 5)
}

// Type returns CONNECT.
func (*Connect) Type() Type { return CONNECT }

func (c *Connect) protocolName() string {
	if c.ProtocolVersion == V31 {
		return "MQIsdp"
	}
	return "MQTT"
}

// AppendTo appends the encoded CONNECT for c.ProtocolVersion.
func (c *Connect) AppendTo(dst []byte, _ Version) ([]byte, error) {
	v := c.ProtocolVersion
	if !v.Valid() {
		return dst, encodeErr(CONNECT, "protocol version", fmt.Sprintf("unsupported protocol level %d", byte(v)))
	}
	if err := c.check(); err != nil {
		return dst, err
	}
	name := c.protocolName()
	n := 2 + len(name) + 1 + 1 + 2 + 2 + len(c.ClientID)
	var propSize, willPropSize int
	if v == V5 {
		propSize = c.Props.size(CONNECT)
		n += varintSize(uint32(propSize)) + propSize
	}
	if c.WillFlag {
		if v == V5 {
			willPropSize = c.Will.Props.size(willProps)
			n += varintSize(uint32(willPropSize)) + willPropSize
		}
		n += 2 + len(c.Will.Topic) + 2 + len(c.Will.Payload)
	}
	if c.UsernameFlag {
		n += 2 + len(c.Username)
	}
	if c.PasswordFlag {
		n += 2 + len(c.Password)
	}
	dst, err := appendHeader(dst, CONNECT, 0, n)
	if err != nil {
		return dst, err
	}
	dst = appendString(dst, name)
	var flags byte
	if c.CleanStart {
		flags |= 0x02
	}
	if c.WillFlag {
		flags |= 0x04 | byte(c.Will.QoS)<<3
		if c.Will.Retain {
			flags |= 0x20
		}
	}
	if c.PasswordFlag {
		flags |= 0x40
	}
	if c.UsernameFlag {
		flags |= 0x80
	}
	dst = append(dst, byte(v), flags)
	dst = appendU16(dst, c.KeepAlive)
	if v == V5 {
		dst = c.Props.appendTo(dst, CONNECT, propSize)
	}
	dst = appendString(dst, c.ClientID)
	if c.WillFlag {
		if v == V5 {
			dst = c.Will.Props.appendTo(dst, willProps, willPropSize)
		}
		dst = appendString(dst, c.Will.Topic)
		dst = appendBinary(dst, c.Will.Payload)
	}
	if c.UsernameFlag {
		dst = appendString(dst, c.Username)
	}
	if c.PasswordFlag {
		dst = appendBinary(dst, c.Password)
	}
	return dst, nil
}

func (c *Connect) check() error {
	for _, f := range []struct {
		name string
		n    int
	}{{"client identifier", len(c.ClientID)}, {"user name", len(c.Username)}, {"password", len(c.Password)},
		{"will topic", len(c.Will.Topic)}, {"will payload", len(c.Will.Payload)}} {
		if err := checkLen16(CONNECT, f.name, f.n); err != nil {
			return err
		}
	}
	if c.WillFlag && c.Will.QoS > 2 {
		return encodeErr(CONNECT, "will QoS", "QoS 3 does not exist")
	}
	if err := c.Props.check(CONNECT); err != nil {
		return err
	}
	return c.Will.Props.check(willProps)
}

func (c *Connect) reset() {
	props, wprops := c.Props, c.Will.Props
	props.Reset()
	wprops.Reset()
	*c = Connect{Props: props, Will: Will{Props: wprops}}
}

func (c *Connect) decode(d *decoder, fixedFlags byte) error {
	c.reset()
	nameAt := d.off
	name, err := d.str("protocol name")
	if err != nil {
		return err
	}
	level, err := d.byte1("protocol level")
	if err != nil {
		return err
	}
	c.ProtocolVersion = Version(level)
	// The name must match the level: "MQIsdp" for 3.1, "MQTT" for 3.1.1 and
	// 5.0 [MQTT-3.1.2-1]; an unknown level is refused with 0x84 (0x01 in
	// 3.1.1) [MQTT-3.1.2-2].
	switch {
	case name == "MQIsdp" && level == byte(V31), name == "MQTT" && (level == byte(V311) || level == byte(V5)):
	case name != "MQIsdp" && name != "MQTT":
		return d.failAt(nameAt, ProtocolError, "protocol name", fmt.Sprintf("%q is neither \"MQTT\" nor \"MQIsdp\"", name), "MQTT-3.1.2-1")
	default:
		return d.failAt(nameAt+len(name)+2, UnsupportedProtocolVersion, "protocol level",
			fmt.Sprintf("protocol %q level %d is not 3 (3.1), 4 (3.1.1) or 5 (5.0)", name, level), "MQTT-3.1.2-2")
	}
	d.v = c.ProtocolVersion
	// MQTT 3.1 fixed neither the fixed header's flags nor connect flag bit
	// 0; 3.1.1 and 5.0 do [MQTT-2.1.3-1] [MQTT-3.1.2-3]. mosquitto accepts
	// both in a 3.1 CONNECT, and so do we (the reader leaves CONNECT's
	// fixed header flags to this check, which knows the level).
	if fixedFlags != 0 && c.ProtocolVersion != V31 {
		return d.failAt(-d.base, MalformedPacket, "fixed header flags", fmt.Sprintf("flags are 0x%X, must be 0x0", fixedFlags), "MQTT-2.1.3-1")
	}
	flagsAt := d.off
	flags, err := d.byte1("connect flags")
	if err != nil {
		return err
	}
	if flags&0x01 != 0 && c.ProtocolVersion != V31 {
		return d.failAt(flagsAt, MalformedPacket, "connect flags", "reserved bit 0 is set", "MQTT-3.1.2-3")
	}
	c.CleanStart = flags&0x02 != 0
	c.WillFlag = flags&0x04 != 0
	c.Will.QoS = QoS(flags >> 3 & 0x03)
	c.Will.Retain = flags&0x20 != 0
	c.PasswordFlag = flags&0x40 != 0
	c.UsernameFlag = flags&0x80 != 0
	if c.Will.QoS == 3 {
		return d.failAt(flagsAt, MalformedPacket, "will QoS", "QoS 3 does not exist", "MQTT-3.1.2-12")
	}
	if !c.WillFlag && (c.Will.QoS != 0 || c.Will.Retain) {
		return d.failAt(flagsAt, MalformedPacket, "connect flags", "will QoS or will retain set without the will flag", "MQTT-3.1.2-11")
	}
	if c.ProtocolVersion != V5 && c.PasswordFlag && !c.UsernameFlag {
		return d.failAt(flagsAt, MalformedPacket, "connect flags", "password flag set without user name flag", "MQTT-3.1.2-22")
	}
	if c.KeepAlive, err = d.u16("keep alive"); err != nil {
		return err
	}
	if c.ProtocolVersion == V5 {
		if err := c.Props.decode(d, CONNECT); err != nil {
			return err
		}
		// Authentication data without a method is a protocol error
		// [MQTT-3.1.2.11.10].
		if c.Props.Present.Has(PropAuthData) && !c.Props.Present.Has(PropAuthMethod) {
			return d.fail(ProtocolError, "authentication data", "present without an authentication method", "MQTT-3.1.2.11.10")
		}
	}
	if c.ClientID, err = d.name("client identifier"); err != nil {
		return err
	}
	if c.WillFlag {
		if c.ProtocolVersion == V5 {
			if err := c.Will.Props.decode(d, willProps); err != nil {
				return err
			}
		}
		at := d.off
		if c.Will.Topic, err = d.name("will topic"); err != nil {
			return err
		}
		if msg, rule := checkTopicName(c.Will.Topic); msg != "" {
			return d.failAt(at, TopicNameInvalid, "will topic", msg, rule)
		}
		if c.Will.Payload, err = d.binary("will payload"); err != nil {
			return err
		}
	}
	if c.UsernameFlag {
		if c.Username, err = d.name("user name"); err != nil {
			return err
		}
	}
	if c.PasswordFlag {
		if c.Password, err = d.binary("password"); err != nil {
			return err
		}
	}
	if d.remaining() != 0 {
		return d.fail(MalformedPacket, "payload", itoa(d.remaining())+" bytes after the last field", "MQTT-3.1.3-1")
	}
	return nil
}

func (c *Connect) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "CONNECT v%s client-id=%q clean=%t keepalive=%d", c.ProtocolVersion, c.ClientID, c.CleanStart, c.KeepAlive)
	if c.UsernameFlag {
		fmt.Fprintf(&b, " username=%q", c.Username)
	}
	if c.PasswordFlag {
		b.WriteString(" password=***")
	}
	if c.WillFlag {
		fmt.Fprintf(&b, " will={topic=%q qos=%d retain=%t payload=%dB", c.Will.Topic, c.Will.QoS, c.Will.Retain, len(c.Will.Payload))
		if s := c.Will.Props.String(); s != "" {
			b.WriteString(" " + s)
		}
		b.WriteString("}")
	}
	if s := c.Props.String(); s != "" {
		b.WriteString(" " + s)
	}
	return b.String()
}
