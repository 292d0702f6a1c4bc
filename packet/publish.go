package packet

import "fmt"

// Publish is the PUBLISH packet.
type Publish struct {
	Dup      bool
	QoS      QoS
	Retain   bool
	Topic    string // empty in 5.0 when a Topic Alias stands for it
	PacketID uint16 // QoS 1 and 2 only
	Props    Properties
	Payload  []byte
}

// Type returns PUBLISH.
func (*Publish) Type() Type { return PUBLISH }

func (p *Publish) flags() byte {
	f := byte(p.QoS) << 1
	if p.Dup {
		f |= 0x08
	}
	if p.Retain {
		f |= 0x01
	}
	return f
}

// HeaderSize returns the length AppendHeader writes for version v.
func (p *Publish) HeaderSize(v Version) int {
	n, _ := p.bodySize(v)
	return 1 + varintSize(uint32(n)) + n - len(p.Payload)
}

func (p *Publish) bodySize(v Version) (n, propSize int) {
	n = 2 + len(p.Topic) + len(p.Payload)
	if p.QoS > 0 {
		n += 2
	}
	if v == V5 {
		propSize = p.Props.size(PUBLISH)
		n += varintSize(uint32(propSize)) + propSize
	}
	return n, propSize
}

// AppendHeader appends everything of the encoded PUBLISH but the payload:
// fixed header, topic, packet identifier and properties. The header followed
// by Payload is the whole packet, so one payload buffer can be written to
// many receivers (net.Buffers) without being copied.
func (p *Publish) AppendHeader(dst []byte, v Version) ([]byte, error) {
	if p.QoS > 2 {
		return dst, encodeErr(PUBLISH, "QoS", "QoS 3 does not exist")
	}
	if p.QoS > 0 && p.PacketID == 0 {
		return dst, encodeErr(PUBLISH, "packet identifier", "QoS 1 and 2 need a non-zero packet identifier")
	}
	if err := checkLen16(PUBLISH, "topic name", len(p.Topic)); err != nil {
		return dst, err
	}
	if v == V5 {
		if err := p.Props.check(PUBLISH); err != nil {
			return dst, err
		}
	}
	n, ps := p.bodySize(v)
	dst, err := appendHeader(dst, PUBLISH, p.flags(), n)
	if err != nil {
		return dst, err
	}
	dst = appendString(dst, p.Topic)
	if p.QoS > 0 {
		dst = appendU16(dst, p.PacketID)
	}
	if v == V5 {
		dst = p.Props.appendTo(dst, PUBLISH, ps)
	}
	return dst, nil
}

// AppendTo appends the whole encoded PUBLISH for version v.
func (p *Publish) AppendTo(dst []byte, v Version) ([]byte, error) {
	dst, err := p.AppendHeader(dst, v)
	if err != nil {
		return dst, err
	}
	return append(dst, p.Payload...), nil
}

func (p *Publish) decode(d *decoder, flags byte) error {
	p.Props.Reset()
	p.Dup = flags&0x08 != 0
	p.QoS = QoS(flags >> 1 & 0x03)
	p.Retain = flags&0x01 != 0
	p.PacketID = 0
	if p.QoS == 3 {
		return d.failAt(-d.base, MalformedPacket, "QoS", "QoS 3 does not exist", "MQTT-3.3.1-4")
	}
	if p.Dup && p.QoS == 0 {
		return d.failAt(-d.base, MalformedPacket, "DUP flag", "set on a QoS 0 message", "MQTT-3.3.1-2")
	}
	topicAt := d.off
	var err error
	if p.Topic, err = d.name("topic name"); err != nil {
		return err
	}
	if p.QoS > 0 {
		at := d.off
		if p.PacketID, err = d.u16("packet identifier"); err != nil {
			return err
		}
		if p.PacketID == 0 {
			return d.failAt(at, ProtocolError, "packet identifier", "is 0 in a QoS "+itoa(int(p.QoS))+" message", "MQTT-2.2.1-3") // 0x82, as mosquitto (see packetID)
		}
	}
	if d.v == V5 {
		if err := p.Props.decode(d, PUBLISH); err != nil {
			return err
		}
	}
	p.Payload = d.rest()
	// An empty topic is allowed in 5.0 only when a Topic Alias names it
	// [MQTT-3.3.2-1] [MQTT-4.7.3-1].
	if p.Topic == "" && p.Props.Present.Has(PropTopicAlias) {
		return nil
	}
	if msg, rule := checkTopicName(p.Topic); msg != "" {
		if rule == "MQTT-3.3.2-2" && d.wildcardDelete && len(p.Payload) == 0 {
			if m, _ := checkFilter(p.Topic); m == "" {
				return nil // flespi: empty payload to a wildcard topic deletes retained messages
			}
		}
		return d.failAt(topicAt, TopicNameInvalid, "topic name", msg, rule)
	}
	return nil
}

func (p *Publish) String() string {
	s := fmt.Sprintf("PUBLISH topic=%q qos=%d", p.Topic, p.QoS)
	if p.QoS > 0 {
		s += fmt.Sprintf(" id=%d", p.PacketID)
	}
	if p.Retain {
		s += " retain"
	}
	if p.Dup {
		s += " dup"
	}
	s += fmt.Sprintf(" payload=%dB", len(p.Payload))
	if ps := p.Props.String(); ps != "" {
		s += " " + ps
	}
	return s
}
