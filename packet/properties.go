package packet

import (
	"cmp"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// PropID is an MQTT 5 property identifier.
type PropID byte

// MQTT 5 property identifiers (specification section 2.2.2.2).
const (
	PropPayloadFormat        PropID = 0x01
	PropMessageExpiry        PropID = 0x02
	PropContentType          PropID = 0x03
	PropResponseTopic        PropID = 0x08
	PropCorrelationData      PropID = 0x09
	PropSubscriptionID       PropID = 0x0B
	PropSessionExpiry        PropID = 0x11
	PropAssignedClientID     PropID = 0x12
	PropServerKeepAlive      PropID = 0x13
	PropAuthMethod           PropID = 0x15
	PropAuthData             PropID = 0x16
	PropRequestProblemInfo   PropID = 0x17
	PropWillDelay            PropID = 0x18
	PropRequestResponseInfo  PropID = 0x19
	PropResponseInfo         PropID = 0x1A
	PropServerReference      PropID = 0x1C
	PropReasonString         PropID = 0x1F
	PropReceiveMaximum       PropID = 0x21
	PropTopicAliasMaximum    PropID = 0x22
	PropTopicAlias           PropID = 0x23
	PropMaximumQoS           PropID = 0x24
	PropRetainAvailable      PropID = 0x25
	PropUser                 PropID = 0x26
	PropMaximumPacketSize    PropID = 0x27
	PropWildcardSubAvailable PropID = 0x28
	PropSubIDAvailable       PropID = 0x29
	PropSharedSubAvailable   PropID = 0x2A
	willProps                Type   = 16 // pseudo packet type: the will properties inside CONNECT
	maxPropID                       = 0x2A
)

// Wire types of property values (section 1.5).
type wireType byte

const (
	wByte wireType = iota + 1
	wU16
	wU32
	wVarint
	wString
	wBinary
	wPair
)

type propInfo struct {
	name    string
	wire    wireType
	allowed uint32 // bit per packet Type (and willProps) that may carry it
	boolean bool   // value must be 0 or 1
}

func in(ts ...Type) uint32 {
	var m uint32
	for _, t := range ts {
		m |= 1 << t
	}
	return m
}

// propTable is the specification's table 2-4: each property, its wire type
// and the packets that may carry it.
var propTable = [maxPropID + 1]propInfo{
	// Payload format indicator values other than 0 and 1 are forwarded, not
	// refused: the spec gives them no meaning and no reason code, and EMQX
	// forwards them.
	PropPayloadFormat:        {"payload format indicator", wByte, in(PUBLISH, willProps), false},
	PropMessageExpiry:        {"message expiry interval", wU32, in(PUBLISH, willProps), false},
	PropContentType:          {"content type", wString, in(PUBLISH, willProps), false},
	PropResponseTopic:        {"response topic", wString, in(PUBLISH, willProps), false},
	PropCorrelationData:      {"correlation data", wBinary, in(PUBLISH, willProps), false},
	PropSubscriptionID:       {"subscription identifier", wVarint, in(PUBLISH, SUBSCRIBE), false},
	PropSessionExpiry:        {"session expiry interval", wU32, in(CONNECT, CONNACK, DISCONNECT), false},
	PropAssignedClientID:     {"assigned client identifier", wString, in(CONNACK), false},
	PropServerKeepAlive:      {"server keep alive", wU16, in(CONNACK), false},
	PropAuthMethod:           {"authentication method", wString, in(CONNECT, CONNACK, AUTH), false},
	PropAuthData:             {"authentication data", wBinary, in(CONNECT, CONNACK, AUTH), false},
	PropRequestProblemInfo:   {"request problem information", wByte, in(CONNECT), true},
	PropWillDelay:            {"will delay interval", wU32, in(willProps), false},
	PropRequestResponseInfo:  {"request response information", wByte, in(CONNECT), true},
	PropResponseInfo:         {"response information", wString, in(CONNACK), false},
	PropServerReference:      {"server reference", wString, in(CONNACK, DISCONNECT), false},
	PropReasonString:         {"reason string", wString, in(CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH), false},
	PropReceiveMaximum:       {"receive maximum", wU16, in(CONNECT, CONNACK), false},
	PropTopicAliasMaximum:    {"topic alias maximum", wU16, in(CONNECT, CONNACK), false},
	PropTopicAlias:           {"topic alias", wU16, in(PUBLISH), false},
	PropMaximumQoS:           {"maximum QoS", wByte, in(CONNACK), true},
	PropRetainAvailable:      {"retain available", wByte, in(CONNACK), true},
	PropUser:                 {"user property", wPair, in(CONNECT, CONNACK, PUBLISH, willProps, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, DISCONNECT, AUTH), false},
	PropMaximumPacketSize:    {"maximum packet size", wU32, in(CONNECT, CONNACK), false},
	PropWildcardSubAvailable: {"wildcard subscription available", wByte, in(CONNACK), true},
	PropSubIDAvailable:       {"subscription identifier available", wByte, in(CONNACK), true},
	PropSharedSubAvailable:   {"shared subscription available", wByte, in(CONNACK), true},
}

func (id PropID) String() string {
	if int(id) < len(propTable) && propTable[id].name != "" {
		return propTable[id].name
	}
	return fmt.Sprintf("property 0x%02X", byte(id))
}

// AllowedIn reports whether property id may appear in packets of type t.
func (id PropID) AllowedIn(t Type) bool {
	return int(id) < len(propTable) && propTable[id].allowed&(1<<t) != 0
}

func (id PropID) bit() uint64 { return 1 << id }

// UserProperty is one name/value pair. Order and repeats are significant
// and kept [MQTT-3.3.2-18].
type UserProperty struct {
	Key, Value string
}

// Properties holds every MQTT 5 property. A property is encoded when its
// value is non-zero or its bit is set in Present (for an explicit zero, e.g.
// Maximum QoS 0 or Retain Available 0); decoding sets Present for every
// property it reads. Only the properties the packet type allows are encoded.
type Properties struct {
	Present PropSet

	PayloadFormat        byte   // 0x01: 1 = UTF-8 payload
	MessageExpiry        uint32 // 0x02: seconds
	ContentType          string // 0x03
	ResponseTopic        string // 0x08
	CorrelationData      []byte // 0x09
	SubscriptionIDs      []uint32
	SessionExpiry        uint32 // 0x11: seconds; 0xFFFFFFFF = never
	AssignedClientID     string // 0x12
	ServerKeepAlive      uint16 // 0x13: seconds
	AuthMethod           string // 0x15
	AuthData             []byte // 0x16
	RequestProblemInfo   byte   // 0x17: absent means 1
	WillDelay            uint32 // 0x18: seconds
	RequestResponseInfo  byte   // 0x19
	ResponseInfo         string // 0x1A
	ServerReference      string // 0x1C
	ReasonString         string // 0x1F
	ReceiveMaximum       uint16 // 0x21: absent means 65535
	TopicAliasMaximum    uint16 // 0x22
	TopicAlias           uint16 // 0x23
	MaximumQoS           byte   // 0x24: absent means 2
	RetainAvailable      byte   // 0x25: absent means 1
	User                 []UserProperty
	MaximumPacketSize    uint32 // 0x27: absent means no limit
	WildcardSubAvailable byte   // 0x28: absent means 1
	SubIDAvailable       byte   // 0x29: absent means 1
	SharedSubAvailable   byte   // 0x2A: absent means 1
}

// PropSet is a set of property identifiers.
type PropSet uint64

// Has reports whether id is in the set.
func (s PropSet) Has(id PropID) bool { return s&PropSet(id.bit()) != 0 }

// Add returns the set with id added.
func (s PropSet) Add(id PropID) PropSet { return s | PropSet(id.bit()) }

// allowedIn[t] is the set of properties packet type t may carry.
var allowedIn = func() (m [willProps + 1]PropSet) {
	for id := PropID(1); id <= maxPropID; id++ {
		for t := Type(0); t <= willProps; t++ {
			if propTable[id].allowed&(1<<t) != 0 {
				m[t] = m[t].Add(id)
			}
		}
	}
	return m
}()

// set returns the properties to encode for packet type t.
func (p *Properties) set(t Type) PropSet { return p.present() & allowedIn[t] }

// present returns the properties marked present or holding a non-zero
// value.
func (p *Properties) present() PropSet {
	s := p.Present
	add := func(id PropID, ok bool) {
		if ok {
			s |= PropSet(id.bit())
		}
	}
	add(PropPayloadFormat, p.PayloadFormat != 0)
	add(PropMessageExpiry, p.MessageExpiry != 0)
	add(PropContentType, p.ContentType != "")
	add(PropResponseTopic, p.ResponseTopic != "")
	add(PropCorrelationData, p.CorrelationData != nil)
	add(PropSubscriptionID, len(p.SubscriptionIDs) > 0)
	add(PropSessionExpiry, p.SessionExpiry != 0)
	add(PropAssignedClientID, p.AssignedClientID != "")
	add(PropServerKeepAlive, p.ServerKeepAlive != 0)
	add(PropAuthMethod, p.AuthMethod != "")
	add(PropAuthData, p.AuthData != nil)
	add(PropRequestProblemInfo, p.RequestProblemInfo != 0)
	add(PropWillDelay, p.WillDelay != 0)
	add(PropRequestResponseInfo, p.RequestResponseInfo != 0)
	add(PropResponseInfo, p.ResponseInfo != "")
	add(PropServerReference, p.ServerReference != "")
	add(PropReasonString, p.ReasonString != "")
	add(PropReceiveMaximum, p.ReceiveMaximum != 0)
	add(PropTopicAliasMaximum, p.TopicAliasMaximum != 0)
	add(PropTopicAlias, p.TopicAlias != 0)
	add(PropMaximumQoS, p.MaximumQoS != 0)
	add(PropRetainAvailable, p.RetainAvailable != 0)
	add(PropUser, len(p.User) > 0)
	add(PropMaximumPacketSize, p.MaximumPacketSize != 0)
	add(PropWildcardSubAvailable, p.WildcardSubAvailable != 0)
	add(PropSubIDAvailable, p.SubIDAvailable != 0)
	add(PropSharedSubAvailable, p.SharedSubAvailable != 0)
	return s
}

// next removes the lowest property from s and returns it.
func (s *PropSet) next() PropID {
	id := PropID(bits.TrailingZeros64(uint64(*s)))
	*s &= *s - 1
	return id
}

// Has reports whether property id was decoded or will be encoded.
func (p *Properties) Has(id PropID) bool { return p.present()&PropSet(id.bit()) != 0 }

// Reset clears p and keeps the capacity of its slices for reuse.
func (p *Properties) Reset() {
	user, subs := p.User[:0], p.SubscriptionIDs[:0]
	*p = Properties{User: user, SubscriptionIDs: subs}
}

// UserValue returns the value of the first user property named key.
func (p *Properties) UserValue(key string) (string, bool) {
	for _, u := range p.User {
		if u.Key == key {
			return u.Value, true
		}
	}
	return "", false
}

// scalar returns the numeric value of a byte/u16/u32/varint property.
func (p *Properties) scalar(id PropID) uint32 {
	switch id {
	case PropPayloadFormat:
		return uint32(p.PayloadFormat)
	case PropMessageExpiry:
		return p.MessageExpiry
	case PropSessionExpiry:
		return p.SessionExpiry
	case PropServerKeepAlive:
		return uint32(p.ServerKeepAlive)
	case PropRequestProblemInfo:
		return uint32(p.RequestProblemInfo)
	case PropWillDelay:
		return p.WillDelay
	case PropRequestResponseInfo:
		return uint32(p.RequestResponseInfo)
	case PropReceiveMaximum:
		return uint32(p.ReceiveMaximum)
	case PropTopicAliasMaximum:
		return uint32(p.TopicAliasMaximum)
	case PropTopicAlias:
		return uint32(p.TopicAlias)
	case PropMaximumQoS:
		return uint32(p.MaximumQoS)
	case PropRetainAvailable:
		return uint32(p.RetainAvailable)
	case PropMaximumPacketSize:
		return p.MaximumPacketSize
	case PropWildcardSubAvailable:
		return uint32(p.WildcardSubAvailable)
	case PropSubIDAvailable:
		return uint32(p.SubIDAvailable)
	case PropSharedSubAvailable:
		return uint32(p.SharedSubAvailable)
	}
	return 0
}

func (p *Properties) setScalar(id PropID, n uint32) {
	switch id {
	case PropPayloadFormat:
		p.PayloadFormat = byte(n)
	case PropMessageExpiry:
		p.MessageExpiry = n
	case PropSessionExpiry:
		p.SessionExpiry = n
	case PropServerKeepAlive:
		p.ServerKeepAlive = uint16(n)
	case PropRequestProblemInfo:
		p.RequestProblemInfo = byte(n)
	case PropWillDelay:
		p.WillDelay = n
	case PropRequestResponseInfo:
		p.RequestResponseInfo = byte(n)
	case PropReceiveMaximum:
		p.ReceiveMaximum = uint16(n)
	case PropTopicAliasMaximum:
		p.TopicAliasMaximum = uint16(n)
	case PropTopicAlias:
		p.TopicAlias = uint16(n)
	case PropMaximumQoS:
		p.MaximumQoS = byte(n)
	case PropRetainAvailable:
		p.RetainAvailable = byte(n)
	case PropMaximumPacketSize:
		p.MaximumPacketSize = n
	case PropWildcardSubAvailable:
		p.WildcardSubAvailable = byte(n)
	case PropSubIDAvailable:
		p.SubIDAvailable = byte(n)
	case PropSharedSubAvailable:
		p.SharedSubAvailable = byte(n)
	}
}

func (p *Properties) stringField(id PropID) *string {
	switch id {
	case PropContentType:
		return &p.ContentType
	case PropResponseTopic:
		return &p.ResponseTopic
	case PropAssignedClientID:
		return &p.AssignedClientID
	case PropAuthMethod:
		return &p.AuthMethod
	case PropResponseInfo:
		return &p.ResponseInfo
	case PropServerReference:
		return &p.ServerReference
	case PropReasonString:
		return &p.ReasonString
	}
	return nil
}

func (p *Properties) binaryField(id PropID) *[]byte {
	switch id {
	case PropCorrelationData:
		return &p.CorrelationData
	case PropAuthData:
		return &p.AuthData
	}
	return nil
}

// decode reads a property length and the properties for packet type t
// (willProps for the will properties of CONNECT).
func (p *Properties) decode(d *decoder, t Type) error {
	start := d.off
	n, err := d.varint("property length")
	if err != nil {
		return err
	}
	if int(n) > d.remaining() {
		return d.failAt(start, MalformedPacket, "property length", "declares "+itoa(int(n))+" bytes, "+itoa(d.remaining())+" remain", "MQTT-2.2.2-1")
	}
	end := d.off + int(n)
	outer := d.b
	d.b = d.b[:end] // properties cannot read past their declared length
	defer func() { d.b = outer }()
	// A protocol error (a property not allowed here, repeated, or with a
	// value the spec forbids) is reported only once the whole block has
	// proved well formed: a block that is also malformed is a Malformed
	// Packet (0x81), as mosquitto decides, whatever came first.
	var perr *Error
	for d.off < end {
		at := d.off
		id64, err := d.varint("property identifier")
		if err != nil {
			return err
		}
		id := PropID(id64)
		if id64 > maxPropID || propTable[id].name == "" {
			return d.failAt(at, MalformedPacket, "property identifier", fmt.Sprintf("unknown property 0x%02X", id64), "MQTT-2.2.2-2")
		}
		info := &propTable[id]
		if info.allowed&(1<<t) == 0 {
			where := t.String()
			if t == willProps {
				where = "will properties"
			}
			perr = cmp.Or(perr, d.failAt(at, ProtocolError, "property", info.name+" is not allowed in "+where, "MQTT-2.2.2-2"))
		}
		// Only User Property and, in PUBLISH, Subscription Identifier
		// may repeat [MQTT-2.2.2-2] [MQTT-3.3.4-4].
		if p.Present.Has(id) && id != PropUser && !(id == PropSubscriptionID && t == PUBLISH) {
			perr = cmp.Or(perr, d.failAt(at, ProtocolError, "property", info.name+" appears more than once", "MQTT-2.2.2-2"))
		}
		p.Present = p.Present.Add(id)
		field := info.name
		switch info.wire {
		case wByte:
			c, err := d.byte1(field)
			if err != nil {
				return err
			}
			if info.boolean && c > 1 {
				perr = cmp.Or(perr, d.failAt(at, ProtocolError, field, "value "+itoa(int(c))+" is not 0 or 1", propRule(id)))
			}
			p.setScalar(id, uint32(c))
		case wU16:
			v, err := d.u16(field)
			if err != nil {
				return err
			}
			if v == 0 && (id == PropReceiveMaximum || id == PropTopicAlias) {
				perr = cmp.Or(perr, d.failAt(at, ProtocolError, field, "value 0 is not allowed", propRule(id)))
			}
			p.setScalar(id, uint32(v))
		case wU32:
			v, err := d.u32(field)
			if err != nil {
				return err
			}
			if v == 0 && id == PropMaximumPacketSize {
				perr = cmp.Or(perr, d.failAt(at, ProtocolError, field, "value 0 is not allowed", propRule(id)))
			}
			p.setScalar(id, v)
		case wVarint:
			v, err := d.varint(field)
			if err != nil {
				return err
			}
			if v == 0 {
				perr = cmp.Or(perr, d.failAt(at, ProtocolError, field, "value 0 is not allowed", "MQTT-3.8.2.1.2"))
			}
			p.SubscriptionIDs = append(p.SubscriptionIDs, v)
		case wString:
			s, err := d.str(field)
			if err != nil {
				return err
			}
			if id == PropResponseTopic && HasWildcard(s) {
				perr = cmp.Or(perr, d.failAt(at, ProtocolError, field, "contains a wildcard (+ or #): a response topic is a topic name", "MQTT-3.3.2-14"))
			}
			*p.stringField(id) = s
		case wBinary:
			b, err := d.binary(field)
			if err != nil {
				return err
			}
			*p.binaryField(id) = b
		case wPair:
			k, err := d.str("user property name")
			if err != nil {
				return err
			}
			v, err := d.str("user property value")
			if err != nil {
				return err
			}
			p.User = append(p.User, UserProperty{k, v})
		}
	}
	if perr != nil {
		return perr
	}
	return nil
}

func propRule(id PropID) string {
	switch id {
	case PropPayloadFormat:
		return "MQTT-3.3.2.3.2"
	case PropRequestProblemInfo:
		return "MQTT-3.1.2.11.7"
	case PropRequestResponseInfo:
		return "MQTT-3.1.2.11.6"
	case PropReceiveMaximum:
		return "MQTT-3.1.2.11.3"
	case PropMaximumPacketSize:
		return "MQTT-3.1.2.11.4"
	case PropTopicAlias:
		return "MQTT-3.3.2.3.4"
	case PropMaximumQoS:
		return "MQTT-3.2.2.3.4"
	}
	return "MQTT-2.2.2-2"
}

// size returns the encoded length of the properties allowed in t, without
// the property length prefix.
func (p *Properties) size(t Type) int {
	n := 0
	for set := p.set(t); set != 0; {
		id := set.next()
		switch propTable[id].wire {
		case wByte:
			n += 2
		case wU16:
			n += 3
		case wU32:
			n += 5
		case wVarint:
			for _, s := range p.SubscriptionIDs {
				n += 1 + varintSize(s)
			}
		case wString:
			n += 3 + len(*p.stringField(id))
		case wBinary:
			n += 3 + len(*p.binaryField(id))
		case wPair:
			for _, u := range p.User {
				n += 5 + len(u.Key) + len(u.Value)
			}
		}
	}
	return n
}

// appendTo appends the property length and the properties allowed in t;
// size is what p.size(t) returned.
func (p *Properties) appendTo(dst []byte, t Type, size int) []byte {
	dst = AppendVarint(dst, uint32(size))
	if size == 0 {
		return dst
	}
	set := p.set(t)
	// Topic Alias Maximum goes just before Receive Maximum, as mosquitto
	// writes them: the spec leaves the order free, and byte-for-byte
	// conformance sequences written against mosquitto expect this one.
	tamFirst := set.Has(PropTopicAliasMaximum) && set.Has(PropReceiveMaximum)
	if tamFirst {
		set &^= PropSet(PropTopicAliasMaximum.bit())
	}
	for set != 0 {
		id := set.next()
		if id == PropReceiveMaximum && tamFirst {
			dst = appendU16(append(dst, byte(PropTopicAliasMaximum)), uint16(p.scalar(PropTopicAliasMaximum)))
		}
		switch propTable[id].wire {
		case wByte:
			dst = append(dst, byte(id), byte(p.scalar(id)))
		case wU16:
			dst = appendU16(append(dst, byte(id)), uint16(p.scalar(id)))
		case wU32:
			dst = appendU32(append(dst, byte(id)), p.scalar(id))
		case wVarint:
			for _, s := range p.SubscriptionIDs {
				dst = AppendVarint(append(dst, byte(id)), s)
			}
		case wString:
			dst = appendString(append(dst, byte(id)), *p.stringField(id))
		case wBinary:
			dst = appendBinary(append(dst, byte(id)), *p.binaryField(id))
		case wPair:
			for _, u := range p.User {
				dst = appendString(append(dst, byte(id)), u.Key)
				dst = appendString(dst, u.Value)
			}
		}
	}
	return dst
}

// check reports a string or binary property too long to encode.
func (p *Properties) check(t Type) error {
	for set := p.set(t); set != 0; {
		id := set.next()
		info := &propTable[id]
		switch info.wire {
		case wString:
			if err := checkLen16(t, info.name, len(*p.stringField(id))); err != nil {
				return err
			}
		case wBinary:
			if err := checkLen16(t, info.name, len(*p.binaryField(id))); err != nil {
				return err
			}
		case wPair:
			for _, u := range p.User {
				if len(u.Key) > 0xffff || len(u.Value) > 0xffff {
					return encodeErr(t, info.name, "name or value exceeds 65535 bytes")
				}
			}
		}
	}
	return nil
}

// String lists the properties that are present, for packet logs.
func (p *Properties) String() string {
	var b strings.Builder
	sep := func() {
		if b.Len() > 0 {
			b.WriteString(" ")
		}
	}
	for id := PropID(1); id <= maxPropID; id++ {
		info := &propTable[id]
		if info.name == "" || !p.Has(id) {
			continue
		}
		switch info.wire {
		case wByte, wU16, wU32:
			sep()
			fmt.Fprintf(&b, "%s=%d", strings.ReplaceAll(info.name, " ", "-"), p.scalar(id))
		case wVarint:
			for _, s := range p.SubscriptionIDs {
				sep()
				fmt.Fprintf(&b, "subscription-identifier=%d", s)
			}
		case wString:
			sep()
			fmt.Fprintf(&b, "%s=%s", strings.ReplaceAll(info.name, " ", "-"), strconv.Quote(*p.stringField(id)))
		case wBinary:
			sep()
			fmt.Fprintf(&b, "%s=%x", strings.ReplaceAll(info.name, " ", "-"), *p.binaryField(id))
		case wPair:
			for _, u := range p.User {
				sep()
				fmt.Fprintf(&b, "%s=%s", strconv.Quote(u.Key), strconv.Quote(u.Value))
			}
		}
	}
	return b.String()
}
