package broker

import (
	"bufio"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mqttboard/mqttboard/broker/filter"
	"github.com/mqttboard/mqttboard/broker/message"
	"github.com/mqttboard/mqttboard/broker/session"
	"github.com/mqttboard/mqttboard/broker/storage"
	"github.com/mqttboard/mqttboard/broker/topics"
	"github.com/mqttboard/mqttboard/packet"
)

// handlePublish routes an incoming PUBLISH and acknowledges it. The
// acknowledgement is sent after the message is in every subscriber's queue,
// so an acknowledged message is never lost while the broker runs.
func (c *conn) handlePublish(p *packet.Publish) error {
	o := &c.s.opts
	if c.s.store != nil {
		c.route.resetCommits()
	}
	c.s.ctr.received.Add(1)
	rx := c.rxState()
	published := rx.published.Add(1)
	topic := p.Topic
	// A client's PUBLISH must not carry a Subscription Identifier
	// [MQTT-3.3.4-6]. Like mosquitto, the broker ignores one (it is never
	// forwarded) and refuses several with 0x82.
	if len(p.Props.SubscriptionIDs) > 1 {
		return &packet.Error{Code: packet.ProtocolError, Packet: packet.PUBLISH, Field: "subscription identifier", Offset: -1,
			Msg: "a client's PUBLISH must not carry them", Rule: "MQTT-3.3.4-6"}
	}
	if c.v == packet.V5 && p.Props.Has(packet.PropTopicAlias) {
		a := p.Props.TopicAlias
		if a > o.TopicAliasMaximum {
			return &packet.Error{Code: packet.TopicAliasInvalid, Packet: packet.PUBLISH, Field: "topic alias", Offset: -1,
				Msg: "alias " + itoa(int(a)) + " exceeds the Topic Alias Maximum " + itoa(int(o.TopicAliasMaximum)), Rule: "MQTT-3.3.2-9"}
		}
		if topic == "" {
			topic = rx.aliases[a]
			if topic == "" {
				return &packet.Error{Code: packet.ProtocolError, Packet: packet.PUBLISH, Field: "topic alias", Offset: -1,
					Msg: "alias " + itoa(int(a)) + " was never set", Rule: "MQTT-3.3.4-"}
			}
		} else {
			if rx.aliases == nil {
				rx.aliases = make(map[uint16]string)
			}
			rx.aliases[a] = topic
		}
	}
	if len(p.Payload) > o.MaxPayload {
		return &packet.Error{Code: packet.PacketTooLarge, Packet: packet.PUBLISH, Field: "payload", Offset: -1,
			Msg: "payload of " + itoa(len(p.Payload)) + " bytes exceeds the limit " + itoa(o.MaxPayload)}
	}
	code := packet.Success
	reason := ""
	// The codec lets a wildcard topic through only with an empty payload:
	// flespi's bulk deletion of the retained messages it matches.
	wildcard := packet.HasWildcard(topic)
	switch {
	case c.s.reserved(topic):
		code, reason = packet.TopicNameInvalid, "topics under "+o.ReservedPrefix+" are reserved"
	case strings.HasPrefix(topic, packet.SharePrefix):
		// "$share/" names shared subscriptions, never a topic: a PUBLISH to
		// it reaches nobody [MQTT-4.8.2].
		code, reason = packet.TopicNameInvalid, "$share/ starts shared subscription filters, not topics"
	case wildcard && c.aclRights() != nil && !c.auth.acl.wildcardDelete(topic):
		code, reason = packet.NotAuthorized, ""
	case wildcard:
	case topics.CountLevels(topic) > o.MaxTopicLevels:
		code, reason = packet.TopicNameInvalid, "topic has more than "+itoa(o.MaxTopicLevels)+" levels"
	case p.Props.PayloadFormat == 1 && !utf8.Valid(p.Payload):
		code, reason = packet.PayloadFormatInvalid, "payload format indicator says UTF-8 but the payload is not" // [MQTT-3.3.2-4]
	case c.aclRights() != nil && !c.auth.acl.publish(topic):
		code, reason = packet.NotAuthorized, "" // no reason string: do not reveal the ACL
	case p.Retain && len(p.Payload) > o.MaxRetainedSize:
		code, reason = packet.QuotaExceeded, "retained payload exceeds "+itoa(o.MaxRetainedSize)+" bytes"
	}
	if code.IsError() {
		rx.rejected.Add(1)
		if code == packet.NotAuthorized {
			c.s.onDenied(c, "publish", topic) // log (logs.go)
		}
	}
	if p.QoS == 2 {
		dup, held := c.sess.ReceiveQoS2(p.PacketID)
		if held > int(o.ReceiveMaximum) {
			return &packet.Error{Code: packet.ReceiveMaximumExceeded, Packet: packet.PUBLISH, Offset: -1,
				Msg: "more than Receive Maximum " + itoa(int(o.ReceiveMaximum)) + " QoS 2 messages unreleased", Rule: "MQTT-3.3.4-7"}
		}
		if dup {
			// Already routed: a resend after reconnect gets its PUBREC again
			// and is not delivered twice [MQTT-4.3.3-10].
			c.send(&packet.Pubrec{Ack: packet.Ack{PacketID: p.PacketID}})
			return nil
		}
		if code.IsError() {
			c.sess.Release(p.PacketID) // a failed PUBREC ends the exchange
		} else if c.s.store != nil && c.sess.Persistent() {
			// Stored with the message, so a resend after a restart is
			// still recognised [MQTT-4.3.3-10].
			c.route.batchFor(c.s).MarkInbound(c.clientID, p.PacketID)
		}
	}
	var subscribers int
	var routed *message.Message
	var refused *storage.Commit
	if code == packet.Success && c.s.shared != nil {
		refused = c.s.refused(p.QoS, topic) // cluster_store.go
	}
	switch {
	case refused != nil:
		// A cluster node in a minority or failing over takes no QoS 1/2
		// message: not routed, answered 0x97 (cluster_store.go).
	case code == packet.Success && wildcard:
		n := c.deleteRetained(topic) // tokens.go: in the publisher's account; persist.go stores it
		// cluster.go: the other nodes delete what matches too.
		c.s.deletedRetained(topic, c.account())
		if c.problemInfo() && c.v == packet.V5 {
			reason = "deleted " + itoa(n) + " retained messages matching " + topic
		}
	case code == packet.Success:
		m := &message.Message{Topic: topic, Payload: p.Payload, QoS: p.QoS, Retain: p.Retain, Origin: c.clientID, CID: c.account(), TokenID: c.tokenID()}
		if c.v == packet.V5 {
			m.Props = forwardProps(&p.Props, m.UserRoom(len(p.Props.User)+2)) // +2: room for timestamp and cid
		} else {
			m.Props.User = m.UserRoom(2)
		}
		now := time.Now()
		c.s.stamp(m, now)
		if c.v == packet.V5 && p.Props.MessageExpiry > 0 {
			// flespi counts the expiry from the message's timestamp.
			m.Expires = timeOf(m.Timestamp).Add(time.Duration(p.Props.MessageExpiry) * time.Second)
		}
		subscribers = c.s.route(m, c.route)
		routed = m
		// cluster.go: the other nodes' subscribers, for 0x10 and the count.
		subscribers += c.s.remoteSubscribers(m, p, c.v)
		if published%routeSample == 1 { // the first and one in routeSample after: latency.go
			c.s.routeLatency.observe(time.Since(now))
		}
		if subscribers == 0 && p.QoS > 0 && c.v == packet.V5 {
			code = packet.NoMatchingSubscribers
		}
	case c.v != packet.V5:
		code = packet.Success // 3.1.1 has no negative PUBACK: the message is dropped
	}
	ack := packet.Ack{PacketID: p.PacketID, ReasonCode: code}
	if reason != "" && c.problemInfo() {
		ack.Props.ReasonString = c.s.reasonString(reason)
	}
	// flespi: a QoS 1 publish with count_subscribers=1 learns how many
	// subscriptions received it.
	if p.QoS == 1 && c.v == packet.V5 && !code.IsError() {
		if v, ok := p.Props.UserValue("count_subscribers"); ok && v == "1" {
			ack.Props.User = []packet.UserProperty{{Key: "subscribers_count", Value: itoa(subscribers)}}
		}
	}
	// With a store, the acknowledgement waits (off this loop) for the
	// commits that stored the message wherever it must be kept (durable.go).
	var commits []*storage.Commit
	if c.s.store != nil {
		c.route.applyRoute(c.s) // an inbound id or deletion not applied by route
		commits = c.route.takeCommits()
		commits = c.s.withRemote(routed, commits) // cluster_store.go: other nodes' persistent sessions
		if refused != nil {
			commits = append(commits, refused)
		}
	}
	switch p.QoS {
	case 1:
		c.route.puback.Ack = ack
		c.sendAfter(&c.route.puback, commits...)
	case 2:
		c.route.pubrec.Ack = ack
		c.sendAfter(&c.route.pubrec, commits...)
	}
	return nil
}

// match is one subscription that matched a message.
type match struct {
	seq uint64
	sub *topics.Subscription
}

// router is the scratch space of routing, owned by one read loop so that a
// message's fan-out reuses it instead of allocating.
type router struct {
	matches []match
	msg     *message.Message
	fm      *filter.Message // msg's $filter view, built on first use
	// With a store (persist.go): what routing stores beyond the session
	// queues, and the commits the publisher's acknowledgement waits for.
	batch   *storage.Batch
	commits []*storage.Commit
	remote  bool // routing another cluster node's message (cluster.go)
	// A read loop's router on the event loop (deferWakes) wakes the
	// subscribers it enqueued for once, at the end of what it read:
	// wakes are those since the last flushWakes (route.go). sink is the
	// poller's batch when the burst runs on the poller's goroutine
	// (transport.go).
	deferWakes bool
	wakes      wakeSet
	sink       *wakeSet
	// The reusable acknowledgement values of the read loop's PUBLISHes:
	// send and sendAfter encode them at once, so one of each serves every
	// PUBLISH without an allocation (here, not in the connection's
	// rxState: an idle connection holds no router).
	puback packet.Puback
	pubrec packet.Pubrec
	// A read loop's read buffer and packet reader, borrowed with the
	// router (conn.borrow) and given back with it, nil in a router
	// borrowed for anything else: one pointer in an idle connection
	// instead of three.
	br *bufio.Reader
	pr *packet.Reader
}

// view returns the $filter view of the message being routed, built once
// however many $filter subscriptions look at it.
func (r *router) view() *filter.Message {
	if r.fm == nil {
		r.fm = filterView(r.msg)
	}
	return r.fm
}

func (r *router) add(sub *topics.Subscription) {
	var seq uint64
	if sub.Group == "" {
		seq = sub.Subscriber.(*session.Session).Seq
	} else if r.remote {
		return // the publishing node picked the group's member (cluster_shared.go)
	}
	r.matches = append(r.matches, match{seq: seq, sub: sub})
}
