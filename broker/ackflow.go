package broker

import (
	"github.com/mqttboard/mqttboard/broker/storage"
	"github.com/mqttboard/mqttboard/packet"
)

// handleAck handles the client's PUBACK, PUBREC, PUBREL and PUBCOMP.
//
// An acknowledgement of the wrong type for the flow its identifier belongs
// to is a protocol error, as in mosquitto and EMQX: PUBREC or PUBCOMP for a
// QoS 1 delivery, PUBACK for a QoS 2 one, PUBCOMP before PUBREC. It ends
// the connection, with DISCONNECT 0x82 in 5.0. PUBREL belongs to the
// client's own QoS 2 flows, whose identifiers are a separate space from the
// broker's deliveries: one for an identifier the broker holds no PUBLISH
// for is a resend after the flow completed (legal during recovery), never
// an error.
//
// An acknowledgement for an identifier nobody uses is a late one (e.g.
// after a resend) and is not an error: PUBACK and PUBCOMP are ignored, a
// PUBREC gets a PUBREL and a PUBREL a PUBCOMP, both with reason code 0 so
// the client can finish its flow. (The spec also allows 0x92 Packet
// Identifier not found there; mosquitto answers 0, and we follow it so its
// packet sequences pass byte for byte.)
func (c *conn) handleAck(p packet.Packet) error {
	switch p := p.(type) {
	case *packet.Puback:
		if qos, _, ok := c.sess.Outbound(p.PacketID); ok && qos != 1 {
			return wrongAck(packet.PUBACK, p.PacketID, "a QoS 2 delivery")
		}
		c.sess.Puback(p.PacketID)
	case *packet.Pubrec:
		qos, _, ok := c.sess.Outbound(p.PacketID)
		switch {
		case ok && qos != 2:
			return wrongAck(packet.PUBREC, p.PacketID, "a QoS 1 delivery")
		case p.ReasonCode.IsError():
			c.sess.Pubrec(p.PacketID, true) // the exchange ends here [MQTT-4.3.3-?]
		default:
			// A repeated PUBREC (the client did not see our PUBREL) gets
			// the PUBREL again.
			var commits []*storage.Commit
			if _, cm := c.sess.PubrecDurable(p.PacketID, false); cm != nil {
				commits = append(commits, cm) // persistent: once AwaitingPubcomp is stored
			}
			c.sendAfter(&packet.Pubrel{Ack: packet.Ack{PacketID: p.PacketID}}, commits...)
		}
	case *packet.Pubcomp:
		qos, released, ok := c.sess.Outbound(p.PacketID)
		switch {
		case ok && qos != 2:
			return wrongAck(packet.PUBCOMP, p.PacketID, "a QoS 1 delivery")
		case ok && !released:
			return wrongAck(packet.PUBCOMP, p.PacketID, "a QoS 2 delivery before its PUBREC")
		}
		c.sess.Pubcomp(p.PacketID)
	case *packet.Pubrel:
		held := c.sess.Release(p.PacketID)
		var commits []*storage.Commit
		if held && c.s.store != nil && c.sess.Persistent() {
			// PUBCOMP waits until the id is forgotten in the store too: a
			// restart must not take the client's next PUBLISH with this id
			// for a resend and drop it.
			var b storage.Batch
			b.ClearInbound(c.clientID, p.PacketID)
			commits = append(commits, c.s.store.Apply(&b))
		}
		c.sendAfter(&packet.Pubcomp{Ack: packet.Ack{PacketID: p.PacketID}}, commits...)
	}
	return nil
}

func wrongAck(t packet.Type, id uint16, flow string) error {
	return &packet.Error{Code: packet.ProtocolError, Packet: t, Field: "packet identifier " + itoa(int(id)), Offset: -1,
		Msg: t.String() + " answers " + flow, Rule: "MQTT-4.3"}
}
