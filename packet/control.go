package packet

import "fmt"

// Pingreq is the PINGREQ packet.
type Pingreq struct{}

// Pingresp is the PINGRESP packet.
type Pingresp struct{}

// Type returns PINGREQ.
func (*Pingreq) Type() Type { return PINGREQ }

// Type returns PINGRESP.
func (*Pingresp) Type() Type { return PINGRESP }

// AppendTo appends the two bytes of PINGREQ.
func (*Pingreq) AppendTo(dst []byte, _ Version) ([]byte, error) {
	return append(dst, byte(PINGREQ)<<4, 0), nil
}

// AppendTo appends the two bytes of PINGRESP.
func (*Pingresp) AppendTo(dst []byte, _ Version) ([]byte, error) {
	return append(dst, byte(PINGRESP)<<4, 0), nil
}

func (*Pingreq) decode(d *decoder, _ byte) error  { return expectEmpty(d) }
func (*Pingresp) decode(d *decoder, _ byte) error { return expectEmpty(d) }
func (*Pingreq) String() string                   { return "PINGREQ" }
func (*Pingresp) String() string                  { return "PINGRESP" }

func expectEmpty(d *decoder) error {
	if d.remaining() != 0 {
		return d.fail(MalformedPacket, "remaining length", "must be 0", "MQTT-3.12.1")
	}
	return nil
}

// Disconnect is the DISCONNECT packet; ReasonCode and Props exist in 5.0.
type Disconnect struct {
	ReasonCode ReasonCode
	Props      Properties
}

// Type returns DISCONNECT.
func (*Disconnect) Type() Type { return DISCONNECT }

// AppendTo appends the encoded DISCONNECT for version v, in its shortest
// form [MQTT-3.14.2.1].
func (p *Disconnect) AppendTo(dst []byte, v Version) ([]byte, error) {
	return appendReasonProps(dst, DISCONNECT, v, p.ReasonCode, &p.Props)
}

func (p *Disconnect) decode(d *decoder, _ byte) error {
	return decodeReasonProps(d, &p.ReasonCode, &p.Props)
}

func (p *Disconnect) String() string { return describeReason(DISCONNECT, p.ReasonCode, &p.Props) }

// Auth is the MQTT 5 AUTH packet for enhanced authentication.
type Auth struct {
	ReasonCode ReasonCode
	Props      Properties
}

// Type returns AUTH.
func (*Auth) Type() Type { return AUTH }

// AppendTo appends the encoded AUTH; it fails for versions before 5.0.
func (p *Auth) AppendTo(dst []byte, v Version) ([]byte, error) {
	if v != V5 {
		return dst, encodeErr(AUTH, "", "AUTH exists only in MQTT 5.0")
	}
	return appendReasonProps(dst, AUTH, v, p.ReasonCode, &p.Props)
}

func (p *Auth) decode(d *decoder, _ byte) error { return decodeReasonProps(d, &p.ReasonCode, &p.Props) }

func (p *Auth) String() string { return describeReason(AUTH, p.ReasonCode, &p.Props) }

func appendReasonProps(dst []byte, t Type, v Version, rc ReasonCode, props *Properties) ([]byte, error) {
	if v != V5 {
		return append(dst, byte(t)<<4, 0), nil
	}
	if err := props.check(t); err != nil {
		return dst, err
	}
	ps := props.size(t)
	if ps == 0 && rc == Success {
		return append(dst, byte(t)<<4, 0), nil
	}
	if ps == 0 {
		// A reason code alone: the property length may be left out when
		// the remaining length is under 2 [MQTT-3.14.2.2.1]
		// [MQTT-3.15.2.2.1]; mosquitto writes "E0 01 81", and so do we.
		return append(dst, byte(t)<<4, 1, byte(rc)), nil
	}
	dst, err := appendHeader(dst, t, 0, 1+varintSize(uint32(ps))+ps)
	if err != nil {
		return dst, err
	}
	dst = append(dst, byte(rc))
	return props.appendTo(dst, t, ps), nil
}

func decodeReasonProps(d *decoder, rc *ReasonCode, props *Properties) error {
	props.Reset()
	*rc = Success
	if d.v != V5 {
		return expectEmpty(d)
	}
	if d.remaining() == 0 {
		return nil
	}
	c, _ := d.byte1("reason code")
	*rc = ReasonCode(c)
	if !rc.ValidFor(d.typ) {
		return d.failAt(d.off-1, MalformedPacket, "reason code", fmt.Sprintf("0x%02X is not a %s reason code", c, d.typ), "MQTT-3.14.2.1")
	}
	if d.remaining() == 0 {
		return nil
	}
	if err := props.decode(d, d.typ); err != nil {
		return err
	}
	if d.remaining() != 0 {
		return d.fail(MalformedPacket, "end", itoa(d.remaining())+" unexpected trailing bytes", "MQTT-3.14.2")
	}
	return nil
}

func describeReason(t Type, rc ReasonCode, props *Properties) string {
	s := fmt.Sprintf("%s reason=%s", t, rc.Error())
	if p := props.String(); p != "" {
		s += " " + p
	}
	return s
}
