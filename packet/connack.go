package packet

import "fmt"

// Connack is the CONNACK packet. In 3.1/3.1.1 ReasonCode is the return code
// mapped to MQTT 5 ([ConnackFromV3]) on decode and back ([ReasonCode.ConnackV3])
// on encode, so callers speak one set of codes.
type Connack struct {
	SessionPresent bool
	ReasonCode     ReasonCode
	Props          Properties
}

// Type returns CONNACK.
func (*Connack) Type() Type { return CONNACK }

// AppendTo appends the encoded CONNACK for version v.
func (c *Connack) AppendTo(dst []byte, v Version) ([]byte, error) {
	var flags byte
	if c.SessionPresent && v != V31 { // 3.1 has no session present flag
		flags = 1
	}
	if v != V5 {
		dst, _ = appendHeader(dst, CONNACK, 0, 2)
		return append(dst, flags, c.ReasonCode.ConnackV3()), nil
	}
	if err := c.Props.check(CONNACK); err != nil {
		return dst, err
	}
	ps := c.Props.size(CONNACK)
	dst, err := appendHeader(dst, CONNACK, 0, 2+varintSize(uint32(ps))+ps)
	if err != nil {
		return dst, err
	}
	dst = append(dst, flags, byte(c.ReasonCode))
	return c.Props.appendTo(dst, CONNACK, ps), nil
}

func (c *Connack) decode(d *decoder, _ byte) error {
	c.Props.Reset()
	at := d.off
	flags, err := d.byte1("acknowledge flags")
	if err != nil {
		return err
	}
	switch {
	case d.v == V31:
		// 3.1 has no session present flag: the byte is reserved and unused.
		flags = 0
	case flags&^1 != 0:
		return d.failAt(at, MalformedPacket, "acknowledge flags", "reserved bits 7-1 are set", "MQTT-3.2.2-1")
	}
	c.SessionPresent = flags&1 != 0
	code, err := d.byte1("reason code")
	if err != nil {
		return err
	}
	if d.v != V5 {
		if code > 5 {
			return d.failAt(at+1, MalformedPacket, "return code", fmt.Sprintf("0x%02X is not a 3.1.1 return code", code), "MQTT-3.2.2-6")
		}
		c.ReasonCode = ConnackFromV3(code)
	} else {
		c.ReasonCode = ReasonCode(code)
		if !c.ReasonCode.ValidFor(CONNACK) {
			return d.failAt(at+1, MalformedPacket, "reason code", fmt.Sprintf("0x%02X is not a CONNACK reason code", code), "MQTT-3.2.2.2")
		}
		if d.remaining() > 0 || d.v == V5 {
			if err := c.Props.decode(d, CONNACK); err != nil {
				return err
			}
		}
	}
	// A refusal never has session present set [MQTT-3.2.2-6].
	if c.SessionPresent && c.ReasonCode != Success {
		return d.failAt(at, ProtocolError, "session present", "set in a refusing CONNACK", "MQTT-3.2.2-6")
	}
	if d.remaining() != 0 {
		return d.fail(MalformedPacket, "end", itoa(d.remaining())+" unexpected trailing bytes", "MQTT-3.2.2")
	}
	return nil
}

func (c *Connack) String() string {
	s := fmt.Sprintf("CONNACK session-present=%t reason=%s", c.SessionPresent, c.ReasonCode.Error())
	if p := c.Props.String(); p != "" {
		s += " " + p
	}
	return s
}
