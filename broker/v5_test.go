package broker_test

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/packet"
)

func (c *raw) subscribe(id uint16, props packet.Properties, subs ...packet.Subscription) *packet.Suback {
	c.t.Helper()
	c.send(&packet.Subscribe{PacketID: id, Props: props, Subscriptions: subs})
	ack, ok := c.recv().(*packet.Suback)
	if !ok {
		c.t.Fatal("expected SUBACK")
	}
	a := *ack
	a.ReasonCodes = slices.Clone(ack.ReasonCodes)
	return &a
}

func (c *raw) publish(p *packet.Publish) {
	c.t.Helper()
	c.send(p)
	if p.QoS == 1 {
		if _, ok := c.recv().(*packet.Puback); !ok {
			c.t.Fatal("expected PUBACK")
		}
	}
}

func (c *raw) recvPublish() packet.Publish {
	c.t.Helper()
	p, ok := c.recv().(*packet.Publish)
	if !ok {
		c.t.Fatalf("expected PUBLISH")
	}
	out := *p
	out.Props.User = slices.Clone(p.Props.User)
	out.Props.SubscriptionIDs = slices.Clone(p.Props.SubscriptionIDs)
	return out
}

// nothingPending checks with a PINGREQ round trip that no PUBLISH is
// queued before the PINGRESP.
func (c *raw) nothingPending() {
	c.t.Helper()
	c.send(&packet.Pingreq{})
	if p := c.recv(); p.Type() != packet.PINGRESP {
		c.t.Fatalf("unexpected %v", p)
	}
}

func rawClient(t *testing.T, addr, id string, props packet.Properties) *raw {
	c := dialRaw(t, addr, packet.V5)
	if ack := c.connect(&packet.Connect{ClientID: id, CleanStart: true, Props: props}); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %v", ack.ReasonCode)
	}
	return c
}

func TestSubscriptionIdentifiersOverlapping(t *testing.T) {
	addr := brokertest.Start(t)
	s := rawClient(t, addr, "s", packet.Properties{})
	s.subscribe(1, packet.Properties{SubscriptionIDs: []uint32{11}}, packet.Subscription{Filter: "a/+", QoS: 0})
	s.subscribe(2, packet.Properties{SubscriptionIDs: []uint32{22}}, packet.Subscription{Filter: "a/#", QoS: 1})
	s.subscribe(3, packet.Properties{}, packet.Subscription{Filter: "#", QoS: 0})
	p := rawClient(t, addr, "p", packet.Properties{})
	p.publish(&packet.Publish{Topic: "a/b", QoS: 1, PacketID: 1, Payload: []byte("x")})
	m := s.recvPublish()
	ids := slices.Sorted(slices.Values(m.Props.SubscriptionIDs))
	if m.QoS != 1 || !slices.Equal(ids, []uint32{11, 22}) {
		t.Fatalf("got qos %d ids %v; want one delivery, QoS 1, ids 11 and 22", m.QoS, ids)
	}
	s.send(&packet.Puback{Ack: packet.Ack{PacketID: m.PacketID}})
	s.nothingPending()
}

func TestNoLocalAndRetainAsPublished(t *testing.T) {
	addr := brokertest.Start(t)
	c := rawClient(t, addr, "self", packet.Properties{})
	c.subscribe(1, packet.Properties{}, packet.Subscription{Filter: "nl", NoLocal: true}, packet.Subscription{Filter: "rap", RetainAsPublished: true})
	c.publish(&packet.Publish{Topic: "nl", Payload: []byte("mine")})
	c.publish(&packet.Publish{Topic: "rap", Retain: true, Payload: []byte("kept")})
	m := c.recvPublish()
	if m.Topic != "rap" || !m.Retain {
		t.Fatalf("got %v; no-local must skip own message, RAP must keep retain", &m)
	}
	c.nothingPending()
}

func TestRetainHandling(t *testing.T) {
	addr := brokertest.Start(t)
	p := rawClient(t, addr, "p", packet.Properties{})
	p.publish(&packet.Publish{Topic: "rh", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("r")})
	c := rawClient(t, addr, "c", packet.Properties{})
	c.subscribe(1, packet.Properties{}, packet.Subscription{Filter: "rh", RetainHandling: 2})
	c.nothingPending()
	c.subscribe(2, packet.Properties{}, packet.Subscription{Filter: "rh/#", RetainHandling: 1})
	if m := c.recvPublish(); m.Topic != "rh" || !m.Retain {
		t.Fatalf("got %v", &m)
	}
	c.subscribe(3, packet.Properties{}, packet.Subscription{Filter: "rh/#", RetainHandling: 1}) // exists: no resend
	c.nothingPending()
	c.subscribe(4, packet.Properties{}, packet.Subscription{Filter: "rh/#", RetainHandling: 0, QoS: 0})
	if m := c.recvPublish(); m.QoS != 0 {
		t.Fatalf("retained delivered above the subscription's QoS: %v", &m)
	}
}

func TestMessageExpiry(t *testing.T) {
	addr := brokertest.Start(t)
	p := rawClient(t, addr, "p", packet.Properties{})
	p.publish(&packet.Publish{Topic: "e/short", Retain: true, Payload: []byte("s"), Props: packet.Properties{MessageExpiry: 1}})
	p.publish(&packet.Publish{Topic: "e/long", Retain: true, Payload: []byte("l"), Props: packet.Properties{MessageExpiry: 100}})
	deadline := time.Now().Add(1100 * time.Millisecond)
	c := rawClient(t, addr, "c", packet.Properties{})
	time.Sleep(time.Until(deadline)) // the test is about time passing
	c.subscribe(1, packet.Properties{}, packet.Subscription{Filter: "e/#"})
	m := c.recvPublish()
	if m.Topic != "e/long" || m.Props.MessageExpiry == 0 || m.Props.MessageExpiry > 99 {
		t.Fatalf("got %v; want e/long with the remaining expiry", &m)
	}
	c.nothingPending()
}

func TestTopicAliasBothWays(t *testing.T) {
	addr := brokertest.Start(t)
	c := rawClient(t, addr, "c", packet.Properties{TopicAliasMaximum: 4})
	c.subscribe(1, packet.Properties{}, packet.Subscription{Filter: "alias/#"})
	// Inbound: set alias 3, then publish by alias only.
	c.publish(&packet.Publish{Topic: "alias/one", Payload: []byte("1"), Props: packet.Properties{TopicAlias: 3}})
	c.publish(&packet.Publish{Payload: []byte("2"), Props: packet.Properties{TopicAlias: 3}})
	first, second := c.recvPublish(), c.recvPublish()
	if first.Topic != "alias/one" || first.Props.TopicAlias == 0 {
		t.Fatalf("first %v: want topic and a new alias", &first)
	}
	if second.Topic != "" || second.Props.TopicAlias != first.Props.TopicAlias || string(second.Payload) != "2" {
		t.Fatalf("second %v: want alias only", &second)
	}
}

func TestReceiveMaximumOutbound(t *testing.T) {
	addr := brokertest.Start(t)
	c := rawClient(t, addr, "slow", packet.Properties{ReceiveMaximum: 2})
	c.subscribe(1, packet.Properties{}, packet.Subscription{Filter: "rm", QoS: 1})
	p := rawClient(t, addr, "p", packet.Properties{})
	for i := range 5 {
		p.publish(&packet.Publish{Topic: "rm", QoS: 1, PacketID: uint16(i + 1), Payload: []byte{byte('0' + i)}})
	}
	a, b := c.recvPublish(), c.recvPublish()
	c.nothingPending() // a third would exceed Receive Maximum 2
	c.send(&packet.Puback{Ack: packet.Ack{PacketID: a.PacketID}})
	if m := c.recvPublish(); string(m.Payload) != "2" {
		t.Fatalf("after one ack got %q", m.Payload)
	}
	_ = b
}

func TestMaximumPacketSizeOutbound(t *testing.T) {
	addr := brokertest.Start(t)
	c := rawClient(t, addr, "small", packet.Properties{MaximumPacketSize: 64})
	c.subscribe(1, packet.Properties{}, packet.Subscription{Filter: "mp", QoS: 1})
	p := rawClient(t, addr, "p", packet.Properties{})
	p.publish(&packet.Publish{Topic: "mp", QoS: 1, PacketID: 1, Payload: bytes.Repeat([]byte("x"), 100)})
	p.publish(&packet.Publish{Topic: "mp", QoS: 1, PacketID: 2, Payload: []byte("fits")})
	if m := c.recvPublish(); string(m.Payload) != "fits" {
		t.Fatalf("got %d bytes; the oversized message must be dropped for this client", len(m.Payload))
	}
}

func TestPropertiesPassThrough(t *testing.T) {
	// NoStamp: a strictly standard broker forwards user properties exactly
	// as received; by default (flespi) timestamp and cid follow them.
	for _, noStamp := range []bool{true, false} {
		_, addr := brokertest.StartServer(t, broker.Options{NoStamp: noStamp})
		c := rawClient(t, addr, "c", packet.Properties{})
		c.subscribe(1, packet.Properties{}, packet.Subscription{Filter: "req"})
		user := []packet.UserProperty{{Key: "b", Value: "2"}, {Key: "a", Value: "1"}, {Key: "b", Value: "3"}}
		c.publish(&packet.Publish{Topic: "req", Payload: []byte("{}"), Props: packet.Properties{
			ResponseTopic: "resp/1", CorrelationData: []byte{1, 2}, ContentType: "application/json", PayloadFormat: 1, User: user}})
		m := c.recvPublish()
		want := user
		if !noStamp {
			if len(m.Props.User) != len(user)+2 || m.Props.User[3].Key != "timestamp" || m.Props.User[4] != (packet.UserProperty{Key: "cid", Value: "1"}) {
				t.Fatalf("stamped user properties: %v", m.Props.User)
			}
			want = append(slices.Clone(user), m.Props.User[3:]...)
		}
		if m.Props.ResponseTopic != "resp/1" || !bytes.Equal(m.Props.CorrelationData, []byte{1, 2}) ||
			m.Props.ContentType != "application/json" || m.Props.PayloadFormat != 1 || !slices.Equal(m.Props.User, want) {
			t.Fatalf("NoStamp=%t: properties changed: %v", noStamp, m.Props.String())
		}
	}
}

func TestSharedSubscription(t *testing.T) {
	addr := brokertest.Start(t)
	a := rawClient(t, addr, "a", packet.Properties{})
	b := rawClient(t, addr, "b", packet.Properties{})
	for _, c := range []*raw{a, b} {
		if ack := c.subscribe(1, packet.Properties{}, packet.Subscription{Filter: "$share/g/jobs/#", QoS: 1}); ack.ReasonCodes[0] != 1 {
			t.Fatalf("SUBACK %v", ack.ReasonCodes)
		}
	}
	p := rawClient(t, addr, "p", packet.Properties{})
	for i := range 10 {
		p.publish(&packet.Publish{Topic: "jobs/x", QoS: 1, PacketID: uint16(i + 1), Payload: []byte("j")})
	}
	for _, c := range []*raw{a, b} {
		for range 5 {
			m := c.recvPublish()
			c.send(&packet.Puback{Ack: packet.Ack{PacketID: m.PacketID}})
		}
		c.nothingPending()
	}
}

func TestSubscribeLimits(t *testing.T) {
	addr := brokertest.Start(t)
	c := rawClient(t, addr, "c", packet.Properties{})
	deep := "a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y"
	if ack := c.subscribe(1, packet.Properties{}, packet.Subscription{Filter: deep}); ack.ReasonCodes[0] != packet.TopicFilterInvalid {
		t.Fatalf("25 levels: %v", ack.ReasonCodes)
	}
	var many []packet.Subscription
	for range 65 {
		many = append(many, packet.Subscription{Filter: "x"})
	}
	if ack := c.subscribe(2, packet.Properties{}, many...); ack.ReasonCodes[0] != packet.QuotaExceeded {
		t.Fatalf("65 filters: %v", ack.ReasonCodes[0])
	}
	c.send(&packet.Publish{Topic: deep, QoS: 1, PacketID: 3})
	if ack, ok := c.recv().(*packet.Puback); !ok || ack.ReasonCode != packet.TopicNameInvalid {
		t.Fatalf("publish to 25 levels: %v", ack)
	}
}

func TestSysTopics(t *testing.T) {
	const topic = "$SYS/broker/clients/connected"
	addr := brokertest.Start(t)
	// The broker's first $SYS round runs in its own goroutine when Serve
	// starts, so it can come before, during or after a SUBSCRIBE: the
	// subscriber then gets the retained copy, the live publish (retain
	// flag clear, no RAP), or both. Wait for it on a separate connection:
	// any copy of the topic, retained or live, means the round has stored
	// it as retained (route stores before it delivers).
	w := rawClient(t, addr, "sys-wait", packet.Properties{})
	w.subscribe(1, packet.Properties{}, packet.Subscription{Filter: topic})
	if m := w.recvPublish(); m.Topic != topic || len(m.Payload) == 0 {
		t.Fatalf("waiting for the first $SYS round: got %v", &m)
	}

	c := rawClient(t, addr, "sys", packet.Properties{})
	// $SYS retained messages exist now, so a '#' that matched them would
	// deliver them here [MQTT-4.7.2-1].
	c.subscribe(1, packet.Properties{}, packet.Subscription{Filter: "#"})
	c.nothingPending()
	c.subscribe(2, packet.Properties{}, packet.Subscription{Filter: topic})
	// The retained copy must come. A later round (every SysInterval) may
	// put a live copy before it; skip at most a few of those.
	for range 3 {
		m := c.recvPublish()
		if m.Topic != topic || len(m.Payload) == 0 {
			t.Fatalf("got %v", &m)
		}
		if m.Retain {
			return
		}
	}
	t.Fatal("no retained copy of " + topic)
}
