package packet

import "fmt"

// Ack is the body shared by PUBACK, PUBREC, PUBREL and PUBCOMP: a packet
// identifier and, in 5.0, a reason code and properties.
type Ack struct {
	PacketID   uint16
	ReasonCode ReasonCode
	Props      Properties
}

// Puback acknowledges a QoS 1 PUBLISH.
type Puback struct{ Ack }

// Pubrec is the first acknowledgement of a QoS 2 PUBLISH.
type Pubrec struct{ Ack }

// Pubrel releases a QoS 2 message after PUBREC.
type Pubrel struct{ Ack }

// Pubcomp completes a QoS 2 exchange.
type Pubcomp struct{ Ack }

// Type returns PUBACK.
func (*Puback) Type() Type { return PUBACK }

// Type returns PUBREC.
func (*Pubrec) Type() Type { return PUBREC }

// Type returns PUBREL.
func (*Pubrel) Type() Type { return PUBREL }

// Type returns PUBCOMP.
func (*Pubcomp) Type() Type { return PUBCOMP }

// AppendTo appends the encoded PUBACK for version v.
func (a *Puback) AppendTo(dst []byte, v Version) ([]byte, error) { return a.appendAck(dst, PUBACK, v) }

// AppendTo appends the encoded PUBREC for version v.
func (a *Pubrec) AppendTo(dst []byte, v Version) ([]byte, error) { return a.appendAck(dst, PUBREC, v) }

// AppendTo appends the encoded PUBREL for version v.
func (a *Pubrel) AppendTo(dst []byte, v Version) ([]byte, error) { return a.appendAck(dst, PUBREL, v) }

// AppendTo appends the encoded PUBCOMP for version v.
func (a *Pubcomp) AppendTo(dst []byte, v Version) ([]byte, error) {
	return a.appendAck(dst, PUBCOMP, v)
}

func (a *Puback) decode(d *decoder, _ byte) error  { return a.decodeAck(d) }
func (a *Pubrec) decode(d *decoder, _ byte) error  { return a.decodeAck(d) }
func (a *Pubrel) decode(d *decoder, _ byte) error  { return a.decodeAck(d) }
func (a *Pubcomp) decode(d *decoder, _ byte) error { return a.decodeAck(d) }

func (a *Puback) String() string  { return a.describe(PUBACK) }
func (a *Pubrec) String() string  { return a.describe(PUBREC) }
func (a *Pubrel) String() string  { return a.describe(PUBREL) }
func (a *Pubcomp) String() string { return a.describe(PUBCOMP) }

// appendAck writes the shortest form the spec allows: the reason code and
// property length are omitted when the reason is Success and there are no
// properties [MQTT-3.4.2-1].
func (a *Ack) appendAck(dst []byte, t Type, v Version) ([]byte, error) {
	if a.PacketID == 0 {
		return dst, encodeErr(t, "packet identifier", "must not be 0")
	}
	if v != V5 {
		dst, _ = appendHeader(dst, t, fixedFlags(t), 2)
		return appendU16(dst, a.PacketID), nil
	}
	if err := a.Props.check(t); err != nil {
		return dst, err
	}
	ps := a.Props.size(t)
	switch {
	case ps == 0 && a.ReasonCode == Success:
		dst, _ = appendHeader(dst, t, fixedFlags(t), 2)
		return appendU16(dst, a.PacketID), nil
	case ps == 0:
		dst, _ = appendHeader(dst, t, fixedFlags(t), 3)
		return append(appendU16(dst, a.PacketID), byte(a.ReasonCode)), nil
	}
	dst, err := appendHeader(dst, t, fixedFlags(t), 3+varintSize(uint32(ps))+ps)
	if err != nil {
		return dst, err
	}
	dst = append(appendU16(dst, a.PacketID), byte(a.ReasonCode))
	return a.Props.appendTo(dst, t, ps), nil
}

func (a *Ack) decodeAck(d *decoder) error {
	a.Props.Reset()
	a.ReasonCode = Success
	at := d.off
	var err error
	if a.PacketID, err = d.packetID(); err != nil {
		return err
	}
	if d.v != V5 {
		if d.remaining() != 0 {
			return d.fail(MalformedPacket, "remaining length", "must be 2 before MQTT 5", "MQTT-3.4.1")
		}
		return nil
	}
	if d.remaining() == 0 {
		return nil
	}
	code, err := d.byte1("reason code")
	if err != nil {
		return err
	}
	a.ReasonCode = ReasonCode(code)
	if !a.ReasonCode.ValidFor(d.typ) {
		return d.failAt(at+2, ProtocolError, "reason code", fmt.Sprintf("0x%02X is not a %s reason code", code, d.typ), "MQTT-3.4.2.1")
	}
	if d.remaining() == 0 {
		return nil
	}
	if err := a.Props.decode(d, d.typ); err != nil {
		return err
	}
	if d.remaining() != 0 {
		return d.fail(MalformedPacket, "end", itoa(d.remaining())+" unexpected trailing bytes", "MQTT-3.4.2")
	}
	return nil
}

func (a *Ack) describe(t Type) string {
	s := fmt.Sprintf("%s id=%d reason=%s", t, a.PacketID, a.ReasonCode.Error())
	if p := a.Props.String(); p != "" {
		s += " " + p
	}
	return s
}
