package packet

import (
	"fmt"
	"strings"
)

// Subscription is one topic filter of a SUBSCRIBE with its options.
type Subscription struct {
	Filter            string
	QoS               QoS  // maximum QoS
	NoLocal           bool // 5.0: not sent back to the connection that published it
	RetainAsPublished bool // 5.0: keep the retain flag on forwarded messages
	RetainHandling    byte // 5.0: 0 send retained, 1 only for new subscriptions, 2 never
}

// Subscribe is the SUBSCRIBE packet.
type Subscribe struct {
	PacketID      uint16
	Props         Properties
	Subscriptions []Subscription
}

// Type returns SUBSCRIBE.
func (*Subscribe) Type() Type { return SUBSCRIBE }

func (s *Subscription) options(v Version) byte {
	o := byte(s.QoS)
	if v == V5 {
		if s.NoLocal {
			o |= 0x04
		}
		if s.RetainAsPublished {
			o |= 0x08
		}
		o |= s.RetainHandling << 4
	}
	return o
}

// AppendTo appends the encoded SUBSCRIBE for version v.
func (s *Subscribe) AppendTo(dst []byte, v Version) ([]byte, error) {
	if s.PacketID == 0 {
		return dst, encodeErr(SUBSCRIBE, "packet identifier", "must not be 0")
	}
	if len(s.Subscriptions) == 0 {
		return dst, encodeErr(SUBSCRIBE, "payload", "needs at least one topic filter")
	}
	n := 2
	ps := 0
	if v == V5 {
		if err := s.Props.check(SUBSCRIBE); err != nil {
			return dst, err
		}
		ps = s.Props.size(SUBSCRIBE)
		n += varintSize(uint32(ps)) + ps
	}
	for i := range s.Subscriptions {
		sub := &s.Subscriptions[i]
		if err := checkLen16(SUBSCRIBE, "topic filter", len(sub.Filter)); err != nil {
			return dst, err
		}
		if sub.QoS > 2 || sub.RetainHandling > 2 {
			return dst, encodeErr(SUBSCRIBE, "subscription options", "QoS or retain handling above 2")
		}
		n += 3 + len(sub.Filter)
	}
	dst, err := appendHeader(dst, SUBSCRIBE, fixedFlags(SUBSCRIBE), n)
	if err != nil {
		return dst, err
	}
	dst = appendU16(dst, s.PacketID)
	if v == V5 {
		dst = s.Props.appendTo(dst, SUBSCRIBE, ps)
	}
	for i := range s.Subscriptions {
		dst = appendString(dst, s.Subscriptions[i].Filter)
		dst = append(dst, s.Subscriptions[i].options(v))
	}
	return dst, nil
}

// asMalformed gives an error found in a SUBSCRIBE or UNSUBSCRIBE body the
// code mosquitto answers it with: Malformed Packet (0x81) for a protocol
// error in it (no filter, a property not allowed, reserved option values,
// a subscription identifier of 0) and for an empty filter, except a shared
// subscription's own rules (a share name without a filter, No Local on a
// shared subscription), a repeated property and a packet identifier of 0,
// which are protocol errors (0x82). A filter with a misplaced wildcard
// stays 0x8F.
func asMalformed(err error) error {
	e, ok := err.(*Error)
	if !ok || e.Code == MalformedPacket || e.Field == "packet identifier" || strings.Contains(e.Msg, "more than once") {
		return err
	}
	if strings.HasPrefix(e.Msg, "shared subscription has") || strings.HasPrefix(e.Msg, "share name") ||
		strings.HasPrefix(e.Msg, "no local set on shared") {
		c := *e
		c.Code = ProtocolError
		return &c
	}
	if e.Code == ProtocolError || e.Code == TopicFilterInvalid && e.Msg == "is empty" {
		c := *e
		c.Code = MalformedPacket
		return &c
	}
	return err
}

func (s *Subscribe) decode(d *decoder, _ byte) error { return asMalformed(s.decodeBody(d)) }

func (s *Subscribe) decodeBody(d *decoder) error {
	s.Props.Reset()
	s.Subscriptions = s.Subscriptions[:0]
	var err error
	if s.PacketID, err = d.idAndProps(&s.Props); err != nil {
		return err
	}
	if d.remaining() == 0 {
		return d.fail(ProtocolError, "payload", "SUBSCRIBE has no topic filter", "MQTT-3.8.3-2")
	}
	for d.remaining() > 0 {
		f, err := d.filter()
		if err != nil {
			return err
		}
		oat := d.off
		o, err := d.byte1("subscription options")
		if err != nil {
			return err
		}
		sub := Subscription{Filter: f, QoS: QoS(o & 0x03)}
		if sub.QoS == 3 {
			return d.failAt(oat, MalformedPacket, "subscription options", "QoS 3 does not exist", "MQTT-3.8.3-4")
		}
		if d.v == V5 {
			if o&0xC0 != 0 {
				return d.failAt(oat, MalformedPacket, "subscription options", "reserved bits 7-6 are set", "MQTT-3.8.3-5")
			}
			sub.NoLocal = o&0x04 != 0
			sub.RetainAsPublished = o&0x08 != 0
			sub.RetainHandling = o >> 4 & 0x03
			if sub.RetainHandling == 3 {
				return d.failAt(oat, ProtocolError, "subscription options", "retain handling 3 does not exist", "MQTT-3.8.3-5")
			}
			// No Local on a shared subscription is a protocol error [MQTT-3.8.3-4].
			if sub.NoLocal && strings.HasPrefix(f, "$share/") {
				return d.failAt(oat, ProtocolError, "subscription options", "no local set on shared subscription "+quote(f), "MQTT-3.8.3-4")
			}
		} else if o&0xFC != 0 {
			return d.failAt(oat, MalformedPacket, "subscription options", "reserved bits 7-2 are set", "MQTT-3-8.3-4")
		}
		s.Subscriptions = append(s.Subscriptions, sub)
	}
	return nil
}

func (s *Subscribe) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "SUBSCRIBE id=%d", s.PacketID)
	for _, sub := range s.Subscriptions {
		fmt.Fprintf(&b, " %q qos=%d", sub.Filter, sub.QoS)
		if sub.NoLocal {
			b.WriteString(" no-local")
		}
		if sub.RetainAsPublished {
			b.WriteString(" retain-as-published")
		}
		if sub.RetainHandling != 0 {
			fmt.Fprintf(&b, " retain-handling=%d", sub.RetainHandling)
		}
	}
	if p := s.Props.String(); p != "" {
		b.WriteString(" " + p)
	}
	return b.String()
}

// Suback is the SUBACK packet: one reason code per requested filter. In
// 3.1/3.1.1 only 0x00-0x02 and 0x80 exist; other failure codes encode as
// 0x80 there.
type Suback struct {
	PacketID    uint16
	Props       Properties
	ReasonCodes []ReasonCode
}

// Type returns SUBACK.
func (*Suback) Type() Type { return SUBACK }

// AppendTo appends the encoded SUBACK for version v.
func (s *Suback) AppendTo(dst []byte, v Version) ([]byte, error) {
	return appendCodes(dst, SUBACK, v, s.PacketID, &s.Props, s.ReasonCodes)
}

func (s *Suback) decode(d *decoder, _ byte) error {
	var err error
	s.PacketID, s.ReasonCodes, err = decodeCodes(d, &s.Props, s.ReasonCodes[:0])
	return err
}

func (s *Suback) String() string { return describeCodes(SUBACK, s.PacketID, &s.Props, s.ReasonCodes) }

// Unsubscribe is the UNSUBSCRIBE packet.
type Unsubscribe struct {
	PacketID uint16
	Props    Properties
	Filters  []string
}

// Type returns UNSUBSCRIBE.
func (*Unsubscribe) Type() Type { return UNSUBSCRIBE }

// AppendTo appends the encoded UNSUBSCRIBE for version v.
func (u *Unsubscribe) AppendTo(dst []byte, v Version) ([]byte, error) {
	if u.PacketID == 0 {
		return dst, encodeErr(UNSUBSCRIBE, "packet identifier", "must not be 0")
	}
	if len(u.Filters) == 0 {
		return dst, encodeErr(UNSUBSCRIBE, "payload", "needs at least one topic filter")
	}
	n, ps := 2, 0
	if v == V5 {
		if err := u.Props.check(UNSUBSCRIBE); err != nil {
			return dst, err
		}
		ps = u.Props.size(UNSUBSCRIBE)
		n += varintSize(uint32(ps)) + ps
	}
	for _, f := range u.Filters {
		if err := checkLen16(UNSUBSCRIBE, "topic filter", len(f)); err != nil {
			return dst, err
		}
		n += 2 + len(f)
	}
	dst, err := appendHeader(dst, UNSUBSCRIBE, fixedFlags(UNSUBSCRIBE), n)
	if err != nil {
		return dst, err
	}
	dst = appendU16(dst, u.PacketID)
	if v == V5 {
		dst = u.Props.appendTo(dst, UNSUBSCRIBE, ps)
	}
	for _, f := range u.Filters {
		dst = appendString(dst, f)
	}
	return dst, nil
}

func (u *Unsubscribe) decode(d *decoder, _ byte) error { return asMalformed(u.decodeBody(d)) }

func (u *Unsubscribe) decodeBody(d *decoder) error {
	u.Props.Reset()
	u.Filters = u.Filters[:0]
	var err error
	if u.PacketID, err = d.idAndProps(&u.Props); err != nil {
		return err
	}
	if d.remaining() == 0 {
		return d.fail(ProtocolError, "payload", "UNSUBSCRIBE has no topic filter", "MQTT-3.10.3-2")
	}
	for d.remaining() > 0 {
		f, err := d.filter()
		if err != nil {
			return err
		}
		u.Filters = append(u.Filters, f)
	}
	return nil
}

func (u *Unsubscribe) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "UNSUBSCRIBE id=%d", u.PacketID)
	for _, f := range u.Filters {
		fmt.Fprintf(&b, " %q", f)
	}
	if p := u.Props.String(); p != "" {
		b.WriteString(" " + p)
	}
	return b.String()
}

// Unsuback is the UNSUBACK packet; ReasonCodes and Props exist in 5.0 only.
type Unsuback struct {
	PacketID    uint16
	Props       Properties
	ReasonCodes []ReasonCode
}

// Type returns UNSUBACK.
func (*Unsuback) Type() Type { return UNSUBACK }

// AppendTo appends the encoded UNSUBACK for version v.
func (u *Unsuback) AppendTo(dst []byte, v Version) ([]byte, error) {
	if v != V5 {
		if u.PacketID == 0 {
			return dst, encodeErr(UNSUBACK, "packet identifier", "must not be 0")
		}
		dst, _ = appendHeader(dst, UNSUBACK, 0, 2)
		return appendU16(dst, u.PacketID), nil
	}
	return appendCodes(dst, UNSUBACK, v, u.PacketID, &u.Props, u.ReasonCodes)
}

func (u *Unsuback) decode(d *decoder, _ byte) error {
	if d.v != V5 {
		u.Props.Reset()
		u.ReasonCodes = u.ReasonCodes[:0]
		var err error
		if u.PacketID, err = d.packetID(); err != nil {
			return err
		}
		if d.remaining() != 0 {
			return d.fail(MalformedPacket, "remaining length", "must be 2 before MQTT 5", "MQTT-3.11.1")
		}
		return nil
	}
	var err error
	u.PacketID, u.ReasonCodes, err = decodeCodes(d, &u.Props, u.ReasonCodes[:0])
	return err
}

func (u *Unsuback) String() string {
	return describeCodes(UNSUBACK, u.PacketID, &u.Props, u.ReasonCodes)
}

// appendCodes encodes SUBACK and (5.0) UNSUBACK: packet id, properties, one
// reason code per filter.
func appendCodes(dst []byte, t Type, v Version, id uint16, props *Properties, codes []ReasonCode) ([]byte, error) {
	if id == 0 {
		return dst, encodeErr(t, "packet identifier", "must not be 0")
	}
	if len(codes) == 0 {
		return dst, encodeErr(t, "payload", "needs at least one reason code")
	}
	n, ps := 2+len(codes), 0
	if v == V5 {
		if err := props.check(t); err != nil {
			return dst, err
		}
		ps = props.size(t)
		n += varintSize(uint32(ps)) + ps
	}
	dst, err := appendHeader(dst, t, 0, n)
	if err != nil {
		return dst, err
	}
	dst = appendU16(dst, id)
	if v == V5 {
		dst = props.appendTo(dst, t, ps)
		for _, c := range codes {
			dst = append(dst, byte(c))
		}
		return dst, nil
	}
	for _, c := range codes {
		if c > GrantedQoS2 { // 3.1.1 knows one failure code [MQTT-3.9.3-2]
			c = UnspecifiedError
		}
		dst = append(dst, byte(c))
	}
	return dst, nil
}

func decodeCodes(d *decoder, props *Properties, codes []ReasonCode) (uint16, []ReasonCode, error) {
	props.Reset()
	id, err := d.idAndProps(props)
	if err != nil {
		return id, codes, err
	}
	if d.remaining() == 0 {
		return id, codes, d.fail(ProtocolError, "payload", d.typ.String()+" has no reason code", "MQTT-3.9.3-1")
	}
	for d.remaining() > 0 {
		c, _ := d.byte1("reason code")
		rc := ReasonCode(c)
		valid := rc.ValidFor(d.typ)
		if d.v != V5 {
			valid = c <= 2 || c == 0x80 // [MQTT-3.9.3-2]
		}
		if !valid {
			return id, codes, d.failAt(d.off-1, MalformedPacket, "reason code", fmt.Sprintf("0x%02X is not a %s reason code", c, d.typ), "MQTT-3.9.3-2")
		}
		codes = append(codes, rc)
	}
	return id, codes, nil
}

func describeCodes(t Type, id uint16, props *Properties, codes []ReasonCode) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s id=%d reasons=[", t, id)
	for i, c := range codes {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.Error())
	}
	b.WriteString("]")
	if p := props.String(); p != "" {
		b.WriteString(" " + p)
	}
	return b.String()
}
