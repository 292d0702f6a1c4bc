package broker

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/mqttboard/mqttboard/broker/message"
	"github.com/mqttboard/mqttboard/packet"
)

// refuseConnect answers a CONNECT that could not be decoded. An unknown
// protocol level gets the 3.1.1 CONNACK 0x01 [MQTT-3.1.2-2]; anything else
// is closed without CONNACK, as the version to encode it in is unknown.
// [conn.end] closes and releases.
func (c *conn) refuseConnect(err error) {
	if packet.CodeOf(err) == packet.UnsupportedProtocolVersion {
		b, _ := (&packet.Connack{ReasonCode: packet.UnsupportedProtocolVersion}).AppendTo(nil, packet.V311)
		c.nc.SetWriteDeadline(time.Now().Add(c.s.opts.ShutdownLinger))
		c.nc.Write(b)
	}
}

// refuse writes a CONNACK with a failure code and closes [MQTT-3.2.2-7];
// [conn.end] releases the rest.
func (c *conn) refuse(code packet.ReasonCode, reason string) {
	ack := packet.Connack{ReasonCode: code}
	if c.v == packet.V5 && c.problemInfo() {
		ack.Props.ReasonString = c.s.reasonString(reason)
	}
	b, _ := ack.AppendTo(nil, c.v)
	c.nc.SetWriteDeadline(time.Now().Add(c.s.opts.ShutdownLinger))
	c.nc.Write(b)
	c.nc.Close()
	c.s.emit(Event{Kind: EventDisconnected, ClientID: c.clientID, Reason: code, Detail: reason})
	c.s.onRefused(c, code, reason) // log (logs.go)
}

// connect handles CONNECT: it validates it, takes over or creates the
// session, queues CONNACK and attaches the session. It reports whether the
// connection continues.
func (c *conn) connect(ctx context.Context, p *packet.Connect) bool {
	o := &c.s.opts
	c.v = p.ProtocolVersion
	// The CONNECT's strings alias its whole body, password included: the
	// ones kept for the connection's life are copied, so an idle
	// connection holds neither the packet (48 bytes and up each) nor the
	// password.
	c.clientID = strings.Clone(p.ClientID)
	if p.Username != "" || p.WillFlag || o.ACL != nil || o.Auth != nil {
		c.auth = &connAuth{username: strings.Clone(p.Username)}
	}
	if !p.Props.Has(packet.PropRequestProblemInfo) || p.Props.RequestProblemInfo == 1 {
		c.flags |= flagProblemInfo
	}
	c.recvMax = 65535
	if p.Props.Has(packet.PropReceiveMaximum) {
		c.recvMax = p.Props.ReceiveMaximum
	}
	c.maxOut = p.Props.MaximumPacketSize
	c.aliasMaxOut = p.Props.TopicAliasMaximum

	var ack packet.Connack
	if c.v == packet.V5 && p.Props.AuthMethod != "" {
		// No enhanced authentication method is configured [MQTT-4.12.0-1].
		c.refuse(packet.BadAuthenticationMethod, "authentication method "+p.Props.AuthMethod+" is not supported")
		return false
	}
	if c.clientID == "" {
		if c.v == packet.V31 {
			// MQTT 3.1 has no empty client id: it must be 1 to 23
			// characters, or the server answers "identifier rejected"
			// (3.1 section 3.1). mosquitto does the same; the length
			// limit is not enforced, as in mosquitto.
			c.refuse(packet.ClientIdentifierNotValid, "MQTT 3.1 needs a client id")
			return false
		}
		if c.v != packet.V5 && !p.CleanStart {
			// A persistent session needs a client id [MQTT-3.1.3-8].
			c.refuse(packet.ClientIdentifierNotValid, "an empty client id needs clean session")
			return false
		}
		var b [12]byte
		rand.Read(b[:])
		c.clientID = "mqttboard-" + hex.EncodeToString(b[:])
		if c.v == packet.V5 {
			ack.Props.AssignedClientID = c.clientID // [MQTT-3.2.2-16]
		}
	}
	if !c.authenticate(p) { // tokens.go
		return false
	}
	if c.s.opts.ACL != nil && !c.s.opts.ACL.connectAllowed(c.auth.username, c.clientID) {
		c.refuse(packet.NotAuthorized, "not authorized")
		return false
	}

	// Keep alive: a client asking for more than the maximum (or for none)
	// is told the value to use [MQTT-3.2.2-21].
	// 3.1 and 3.1.1 cannot be told, but the broker still enforces its
	// maximum on them: an idle client of any version is disconnected
	// after 1.5 × MaxKeepAlive, so a silent or half-open peer never holds
	// a connection for ever once a maximum is configured.
	ka := p.KeepAlive
	if o.MaxKeepAlive < 65535 && (ka == 0 || ka > o.MaxKeepAlive) {
		ka = o.MaxKeepAlive
		if c.v == packet.V5 {
			ack.Props.ServerKeepAlive = ka
		}
	}
	c.keepAlive = ka

	// Session expiry: 3.1.1 clean session false means "until the broker
	// forgets it".
	c.expiry = p.Props.SessionExpiry
	if c.v != packet.V5 && !p.CleanStart {
		c.expiry = 0xFFFFFFFF
	}
	if c.expiry > o.MaxSessionExpiry {
		c.expiry = o.MaxSessionExpiry
		if c.v == packet.V5 {
			ack.Props.SessionExpiry = c.expiry
			ack.Props.Present = ack.Props.Present.Add(packet.PropSessionExpiry)
		}
	}

	if p.WillFlag {
		// c.auth.will is guarded by c.mu for Shutdown, which reads it only
		// once the connection is ready: no lock is needed before.
		// Its parts alias the CONNECT's body, password included, which a
		// pending will would keep alive for the connection's life: they
		// are copied (cloneProps for the properties).
		w := p.Will
		c.auth.will = &message.Message{Topic: strings.Clone(w.Topic), Payload: bytes.Clone(w.Payload), QoS: w.QoS, Retain: w.Retain, Origin: c.clientID, CID: c.account(), TokenID: c.tokenID()}
		if c.v == packet.V5 {
			c.auth.will.Props = cloneProps(forwardProps(&w.Props, nil))
			c.willDelay = w.Props.WillDelay
			if w.Props.Has(packet.PropMessageExpiry) {
				c.auth.will.Props.MessageExpiry = w.Props.MessageExpiry // counted from publication, see publishWill
			}
		}
	}

	if c.auth.will != nil && c.aclRights() != nil && !c.auth.acl.publish(c.auth.will.Topic) {
		c.auth.will = nil // a will is a publish like any other: the ACL applies
	}

	release, err := c.s.claim(c.clientID, p.CleanStart) // cluster.go
	if err != nil {
		c.refuse(packet.ServerBusy, err.Error())
		return false
	}
	defer release()
	if err := c.s.adoptStored(c.clientID, p.CleanStart); err != nil { // cluster_store.go
		c.refuse(packet.ServerUnavailable, err.Error())
		return false
	}
	present, ok, commit := c.s.attach(c, p.CleanStart)
	if !ok {
		c.refuse(packet.ServerUnavailable, "server shutting down")
		return false
	}
	if !c.durable(commit) {
		// The session could not be stored: accepting it would promise
		// what a restart would not keep.
		c.refuse(packet.ServerUnavailable, "the broker could not store the session (disk full or I/O error)")
		return false
	}
	ack.SessionPresent = present
	c.authAttached(present) // tokens.go
	if c.v == packet.V5 {
		// Only what differs from the protocol's defaults is announced, as
		// mosquitto does: absent, Receive Maximum is 65535, Maximum Packet
		// Size the protocol's limit, and retain, wildcard, subscription
		// identifiers and shared subscriptions are available
		// [MQTT-3.2.2.3].
		if o.ReceiveMaximum != 65535 {
			ack.Props.ReceiveMaximum = o.ReceiveMaximum
		}
		if o.MaxPacketSize < packet.MaxRemainingLength+5 {
			ack.Props.MaximumPacketSize = o.MaxPacketSize
		}
		ack.Props.TopicAliasMaximum = o.TopicAliasMaximum
		if !o.NoStamp {
			ack.Props.User = c.connackProps() // flespi: the session's ACL and subscriptions
		}
		if p.Props.RequestResponseInfo == 1 {
			ack.Props.ResponseInfo = o.ResponseInfo + c.clientID // [MQTT-3.1.2-28]
		}
	}
	c.send(&ack)
	c.s.inspectAttach(c, present, p.CleanStart) // times for the inspection API (inspect.go)
	c.sess.Attach(c)
	c.s.ctr.connected.Add(1)
	c.s.ctr.total.Add(1)
	if c.s.opts.OnEvent != nil {
		c.s.emit(Event{Kind: EventConnected, ClientID: c.clientID, Detail: c.remoteAddr()})
	} else if c.s.bridge != nil {
		c.s.emit(Event{Kind: EventConnected, ClientID: c.clientID}) // the cluster reads the client id only
	} // else nobody takes the event: no address string to leave as garbage
	c.s.onConnect(c, present, p.CleanStart) // inspection and log (logs.go)
	return true
}

// forwardProps copies the PUBLISH properties that travel with a message:
// everything but Topic Alias and Subscription Identifiers, which belong to
// one connection [MQTT-3.3.2-20] [MQTT-3.3.4-6]. User properties keep their
// order; the slice is copied because the Reader reuses it.
// user is where to copy the user properties to (nil: a new slice).
func forwardProps(p *packet.Properties, user []packet.UserProperty) packet.Properties {
	out := packet.Properties{
		PayloadFormat:   p.PayloadFormat,
		ContentType:     p.ContentType,
		ResponseTopic:   p.ResponseTopic,
		CorrelationData: p.CorrelationData,
		User:            append(user, p.User...),
	}
	if p.Has(packet.PropPayloadFormat) {
		out.Present = out.Present.Add(packet.PropPayloadFormat)
	}
	if p.Has(packet.PropCorrelationData) {
		out.Present = out.Present.Add(packet.PropCorrelationData)
	}
	return out
}

// cloneProps returns p with its strings and byte slices copied, so that
// it keeps nothing of the packet it was read from.
func cloneProps(p packet.Properties) packet.Properties {
	p.ContentType = strings.Clone(p.ContentType)
	p.ResponseTopic = strings.Clone(p.ResponseTopic)
	p.CorrelationData = bytes.Clone(p.CorrelationData)
	for i, u := range p.User { // a slice of its own (forwardProps appends)
		p.User[i] = packet.UserProperty{Key: strings.Clone(u.Key), Value: strings.Clone(u.Value)}
	}
	return p
}

// errTakeoverTimeout is logged when an old connection does not end in time.
var errTakeoverTimeout = errors.New("previous connection did not close within 5s")
