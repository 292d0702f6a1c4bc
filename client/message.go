package client

import "github.com/mqttboard/mqttboard/packet"

// Message is an application message, sent or received.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
	// Dup is set on a received message the broker is redelivering.
	Dup bool
	// PacketID is a received QoS 1/2 PUBLISH's packet identifier (0 for
	// QoS 0 and on sent messages), for views that show the PUBLISH whole.
	PacketID uint16
	// Props are the MQTT 5 publish properties (ignored for 3.1/3.1.1).
	// On a received message SubscriptionIDs lists the subscriptions it
	// matched.
	Props packet.Properties
	// PropOrder lists a received message's property identifiers in the
	// order they came on the wire (PropUser once per pair). It is set only
	// with Options.KeepPropertyOrder: paho keeps properties in a struct.
	PropOrder []packet.PropID
}

// Subscription is one topic filter of a SUBSCRIBE with its options.
type Subscription struct {
	Filter string
	QoS    byte
	// MQTT 5 subscription options.
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte // 0 send retained, 1 only for new subscriptions, 2 never
}

// SubscribeProperties are the MQTT 5 properties of a SUBSCRIBE.
type SubscribeProperties struct {
	SubscriptionID int // 0: none
	User           []packet.UserProperty
}

// Ack is a broker's answer to a PUBLISH (PUBACK, or PUBREC/PUBCOMP for
// QoS 2), SUBSCRIBE (SUBACK, one code per filter) or UNSUBSCRIBE.
// For QoS 0 there is no answer and Ack is the zero value.
type Ack struct {
	Type packet.Type
	// Codes holds one reason code for PUBACK/PUBCOMP and one per filter for
	// SUBACK/UNSUBACK. MQTT 3.1.1 SUBACK codes are the granted QoS or 0x80.
	Codes []packet.ReasonCode
	// ReasonString and User are the ack's MQTT 5 properties (e.g. flespi's
	// subscribers_count user property on PUBACK).
	ReasonString string
	User         []packet.UserProperty
}

// Failed reports the first reason code >= 0x80, if any.
func (a *Ack) Failed() (packet.ReasonCode, bool) {
	for _, c := range a.Codes {
		if c >= 0x80 {
			return c, true
		}
	}
	return 0, false
}

// Connack is what the broker said when it accepted the connection.
type Connack struct {
	SessionPresent bool
	Code           packet.ReasonCode
	// Props are the CONNACK's MQTT 5 properties (assigned client id,
	// server keep alive, limits, user properties).
	Props packet.Properties
}
