package cluster

import (
	"encoding/binary"
	"errors"
	"math"
	"time"

	"github.com/mqttboard/mqttboard/broker/message"
	"github.com/mqttboard/mqttboard/packet"
)

// The envelope is how a message travels between nodes: a version byte,
// then the fields in a fixed order, strings and byte strings with a
// uvarint length. It carries everything a subscriber's node needs to
// deliver the message as the publisher's node would: topic, payload, QoS,
// retain, the forwarded properties, expiry as an absolute time, the
// publisher's client id (No Local), timestamp and account (flespi cid).

const envelopeVersion = 1

// flag bits of the envelope's second byte.
const (
	flagRetain = 1 << iota
	flagPayloadFormat
	flagCorrelation // CorrelationData present (it may be empty)
	flagCount       // the publisher asked for count_subscribers: a count id and the node follow
)

// maxUserProps bounds the user properties a decoded envelope may claim,
// so a corrupt count cannot make the decoder allocate without limit.
const maxUserProps = 1 << 16

var errEnvelope = errors.New("cluster: malformed message envelope")

// appendEnvelope encodes m.
func appendEnvelope(b []byte, m *message.Message) []byte {
	return appendCounted(b, m, 0, "")
}

// appendCounted encodes m with a count_subscribers request: the receiving
// node remembers how many deliveries it made under countID for node.
func appendCounted(b []byte, m *message.Message, countID uint64, node string) []byte {
	b = append(b, envelopeVersion)
	var fl byte
	if m.Retain {
		fl |= flagRetain
	}
	p := &m.Props
	if p.Has(packet.PropPayloadFormat) {
		fl |= flagPayloadFormat
	}
	if p.Has(packet.PropCorrelationData) {
		fl |= flagCorrelation
	}
	if countID != 0 {
		fl |= flagCount
	}
	b = append(b, fl, byte(m.QoS), p.PayloadFormat)
	b = appendString(b, m.Topic)
	b = appendString(b, m.Origin)
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(m.Timestamp))
	b = binary.AppendUvarint(b, m.CID)
	var exp int64
	if !m.Expires.IsZero() {
		exp = m.Expires.UnixNano()
	}
	b = binary.AppendVarint(b, exp)
	b = appendString(b, p.ContentType)
	b = appendString(b, p.ResponseTopic)
	b = appendString(b, string(p.CorrelationData))
	b = binary.AppendUvarint(b, uint64(len(p.User)))
	for _, u := range p.User {
		b = appendString(b, u.Key)
		b = appendString(b, u.Value)
	}
	if countID != 0 {
		b = binary.AppendUvarint(b, countID)
		b = appendString(b, node)
	}
	return append(b, m.Payload...) // the rest is the payload
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeEnvelope decodes an envelope into a new message. The message's
// strings and payload are copies: b belongs to the NATS client.
func decodeEnvelope(b []byte) (*message.Message, error) {
	m, _, _, err := decodeCounted(b)
	return m, err
}

// decodeCounted is decodeEnvelope that also returns the count request
// (0 and "" when there is none).
func decodeCounted(b []byte) (m *message.Message, countID uint64, node string, err error) {
	d := decoder{b: b}
	if d.byte() != envelopeVersion {
		return nil, 0, "", errEnvelope
	}
	fl, qos, pf := d.byte(), d.byte(), d.byte()
	m = &message.Message{Retain: fl&flagRetain != 0, QoS: packet.QoS(qos)}
	if qos > 2 {
		return nil, 0, "", errEnvelope
	}
	m.Topic = d.string()
	m.Origin = d.string()
	if len(d.b) < 8 {
		return nil, 0, "", errEnvelope
	}
	m.Timestamp = math.Float64frombits(binary.BigEndian.Uint64(d.b))
	d.b = d.b[8:]
	m.CID = d.uvarint()
	if exp := d.varint(); exp != 0 {
		m.Expires = time.Unix(0, exp)
	}
	p := &m.Props
	if fl&flagPayloadFormat != 0 {
		p.PayloadFormat = pf
		p.Present = p.Present.Add(packet.PropPayloadFormat)
	}
	p.ContentType = d.string()
	p.ResponseTopic = d.string()
	if cd := d.string(); fl&flagCorrelation != 0 {
		p.CorrelationData = []byte(cd)
		p.Present = p.Present.Add(packet.PropCorrelationData)
	}
	n := d.uvarint()
	if n > maxUserProps || n > uint64(len(d.b)) { // each pair takes at least 2 bytes
		return nil, 0, "", errEnvelope
	}
	if n > 0 {
		p.User = m.UserRoom(int(n))
		for range n {
			k := d.string()
			v := d.string()
			p.User = append(p.User, packet.UserProperty{Key: k, Value: v})
		}
	}
	if fl&flagCount != 0 {
		countID = d.uvarint()
		node = d.string()
	}
	if d.err {
		return nil, 0, "", errEnvelope
	}
	m.Payload = append([]byte(nil), d.b...)
	return m, countID, node, nil
}

// decoder reads an envelope; err is set by the first short read, after
// which every read returns zero values.
type decoder struct {
	b   []byte
	err bool
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.err = true
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = true
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = true
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.err = true
		d.b = nil
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
