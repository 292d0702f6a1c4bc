package broker

import (
	"strconv"
	"strings"
	"time"

	"github.com/mqttboard/mqttboard/broker/message"
	"github.com/mqttboard/mqttboard/broker/session"
	"github.com/mqttboard/mqttboard/broker/topics"
	"github.com/mqttboard/mqttboard/packet"
)

func itoa(n int) string { return strconv.Itoa(n) }

// handleSubscribe adds the subscriptions, answers SUBACK and then queues
// the retained messages each subscription asks for, so SUBACK goes first.
// A message retained while it does so reaches a new subscription once:
// live if it was retained after the subscriptions were in the index (the
// lookup then leaves it out), else as a retained message.
func (c *conn) handleSubscribe(p *packet.Subscribe) {
	o := &c.s.opts
	ack := &packet.Suback{PacketID: p.PacketID, ReasonCodes: make([]packet.ReasonCode, len(p.Subscriptions))}
	var subID uint32
	if len(p.Props.SubscriptionIDs) > 0 {
		subID = p.Props.SubscriptionIDs[0]
	}
	var reasons reasonList
	var so subscribeOptions
	var soErr string
	if c.v == packet.V5 {
		so, soErr = parseSubscribeOptions(p.Props.User)
	}
	type retainedFor struct {
		sub *topics.Subscription
	}
	var wantRetained []retainedFor
	for i, rs := range p.Subscriptions {
		code := packet.ReasonCode(rs.QoS)
		group, rest, _ := packet.CutShare(rs.Filter)
		topic, cond, ferr := parseFlespiFilter(rest, so)
		switch {
		case len(p.Subscriptions) > o.MaxFiltersPerSubscribe:
			code = packet.QuotaExceeded
			reasons.add("more than " + itoa(o.MaxFiltersPerSubscribe) + " filters in one SUBSCRIBE")
		case soErr != "":
			code = packet.ImplementationSpecificError
			reasons.add(soErr)
		case ferr != nil:
			code = packet.TopicFilterInvalid // flespi: a bad $filter, with what is wrong and where
			reasons.add(rs.Filter + ": " + ferr.Error())
		case strings.HasPrefix(topic, packet.SharePrefix):
			// "$filter/…/$share/g/t" or "$share/g/$share/…": the prefix
			// would be taken as a literal topic no PUBLISH may carry.
			code = packet.TopicFilterInvalid
			reasons.add("$share must come first: $share/{group}/$filter/{params}/{filter}")
		case topics.CountLevels(topic) > o.MaxTopicLevels:
			code = packet.TopicFilterInvalid
			reasons.add(rs.Filter + ": more than " + itoa(o.MaxTopicLevels) + " levels")
		case c.aclRights() != nil && !c.auth.acl.subscribe(topic):
			code = c.denyCode()
		}
		ack.ReasonCodes[i] = code
		if code.IsError() {
			if code == packet.NotAuthorized || code == c.denyCode() {
				c.s.onDenied(c, "subscribe", rs.Filter) // log (logs.go)
			}
			continue
		}
		sub := &topics.Subscription{
			Subscriber:        c.sess,
			Filter:            rs.Filter,
			Topic:             topic,
			Group:             group,
			QoS:               rs.QoS,
			NoLocal:           rs.NoLocal,
			RetainAsPublished: rs.RetainAsPublished,
			RetainHandling:    rs.RetainHandling,
			ID:                subID,
		}
		if c.aclRights() != nil && c.auth.acl.readChecked(topic) {
			if cond == nil {
				cond = &condition{}
			}
			cond.read = c.auth.acl // each delivery's topic against the read rights
		}
		cond = c.scope(sub, cond) // tokens.go: the subscriber's accounts only
		if cond != nil {
			sub.Cond = cond
		}
		old := c.s.index.Add(sub)
		c.sess.AddSub(sub)
		c.s.emit(Event{Kind: EventSubscribed, ClientID: c.clientID, Topic: rs.Filter})
		// Retained messages: never for shared subscriptions [MQTT-3.8.4-?
		// 4.8.2], on every subscribe for retain handling 0, only for a new
		// subscription with 1, never with 2 [MQTT-3.3.1-9] [MQTT-3.3.1-10]
		// [MQTT-3.3.1-11].
		if group == "" && (rs.RetainHandling == 0 || (rs.RetainHandling == 1 && old == nil)) {
			wantRetained = append(wantRetained, retainedFor{sub})
		}
	}
	// Read after the subscriptions are in the index: what is retained
	// after this is routed to them live (route retains, then matches).
	asOf := c.s.retained.Version()
	if len(reasons) > 0 && c.problemInfo() {
		ack.Props.ReasonString = c.s.reasonString(strings.Join(reasons, "; "))
	}
	if !c.durable(c.persistSubs()) { // persist.go: nil without a store
		return
	}
	c.s.syncInterest() // cluster.go
	c.send(ack)
	if h := c.s.hookBeforeRetained.Load(); h != nil {
		(*h)(c.clientID) // tests: a publication between SUBACK and the lookup
	}
	now := time.Now()
	for _, w := range wantRetained {
		sub := w.sub
		c.s.retained.MatchAsOf(sub.Topic, now, asOf, func(m *message.Message) {
			cond, _ := sub.Cond.(*condition)
			if !retainedWanted(m, so, cond) {
				return // flespi: modified_since, cid, $filter
			}
			d := session.Delivery{Msg: m, QoS: min(m.QoS, sub.QoS), Retain: true, SubID: sub.ID}
			c.s.enqueue(c.sess, d, nil)
		})
	}
}

// handleUnsubscribe removes subscriptions; 5.0 reports per filter whether
// one existed. Past the limit of filters per packet, 5.0 refuses each with
// 0x80 (UNSUBACK has no quota code) and removes nothing; 3.1.1 has no
// per-filter codes, so a plain UNSUBACK there must mean done: it removes
// them all, whatever their number.
func (c *conn) handleUnsubscribe(p *packet.Unsubscribe) {
	ack := &packet.Unsuback{PacketID: p.PacketID, ReasonCodes: make([]packet.ReasonCode, len(p.Filters))}
	tooMany := len(p.Filters) > c.s.opts.MaxFiltersPerSubscribe && c.v == packet.V5
	for i, f := range p.Filters {
		if tooMany {
			ack.ReasonCodes[i] = packet.UnspecifiedError
			continue
		}
		removed := c.s.index.Remove(c.sess, f)
		c.sess.RemoveSub(f)
		if !removed {
			ack.ReasonCodes[i] = packet.NoSubscriptionExisted
			continue
		}
		c.s.emit(Event{Kind: EventUnsubscribed, ClientID: c.clientID, Topic: f})
	}
	if !c.durable(c.persistSubs()) {
		return
	}
	c.send(ack)
}
