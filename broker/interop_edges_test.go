package broker_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/packet"
)

// TestInteropEdges is item 13 of issue 11: choices where the spec names no
// code but mosquitto and EMQX agree.
func TestInteropEdges(t *testing.T) {
	addr := brokertest.Start(t)

	t.Run("payload format indicator 233 is forwarded", func(t *testing.T) {
		s := rawClient(t, addr, "pfi-sub", packet.Properties{})
		s.subscribe(1, packet.Properties{}, packet.Subscription{Filter: "pfi"})
		p := rawClient(t, addr, "pfi-pub", packet.Properties{})
		p.publish(&packet.Publish{Topic: "pfi", QoS: 1, PacketID: 1, Props: packet.Properties{PayloadFormat: 233}, Payload: []byte{0xff}})
		if m := s.recvPublish(); m.Props.PayloadFormat != 233 {
			t.Fatalf("payload format indicator %d, want 233", m.Props.PayloadFormat)
		}
	})
	t.Run("response topic with a wildcard is 0x82", func(t *testing.T) {
		p := rawClient(t, addr, "rt", packet.Properties{})
		p.send(&packet.Publish{Topic: "a", Props: packet.Properties{ResponseTopic: "TopicA/+"}, Payload: []byte("x")})
		p.expectDisconnect(packet.ProtocolError)
	})
	t.Run("subscription identifiers in a client PUBLISH: one ignored, two 0x82", func(t *testing.T) {
		p := rawClient(t, addr, "sid", packet.Properties{})
		p.publish(&packet.Publish{Topic: "a", QoS: 1, PacketID: 1, Props: packet.Properties{SubscriptionIDs: []uint32{1}}, Payload: []byte("x")})
		p.send(&packet.Publish{Topic: "a", Props: packet.Properties{SubscriptionIDs: []uint32{1, 1}}, Payload: []byte("x")})
		p.expectDisconnect(packet.ProtocolError)
	})
	t.Run("one identifier on several matching subscriptions is sent once", func(t *testing.T) {
		s := rawClient(t, addr, "ids", packet.Properties{})
		s.subscribe(1, packet.Properties{SubscriptionIDs: []uint32{2333}}, packet.Subscription{Filter: "TopicA/+", QoS: 1})
		s.subscribe(2, packet.Properties{SubscriptionIDs: []uint32{2333}}, packet.Subscription{Filter: "#"})
		s.subscribe(3, packet.Properties{SubscriptionIDs: []uint32{7}}, packet.Subscription{Filter: "TopicA/#"})
		p := rawClient(t, addr, "ids-pub", packet.Properties{})
		p.publish(&packet.Publish{Topic: "TopicA/B", QoS: 1, PacketID: 1, Payload: []byte("x")})
		m := s.recvPublish()
		ids := slices.Sorted(slices.Values(m.Props.SubscriptionIDs))
		if !slices.Equal(ids, []uint32{7, 2333}) {
			t.Fatalf("subscription identifiers %v, want [7 2333]", m.Props.SubscriptionIDs)
		}
	})
	t.Run("DUP on QoS 0 is malformed, 0x81, as mosquitto's sequences expect", func(t *testing.T) {
		p := rawClient(t, addr, "dup", packet.Properties{})
		p.write([]byte{0x38, 4, 0, 1, 't', 0}) // PUBLISH QoS 0 DUP 1, topic "t", no properties
		p.expectDisconnect(packet.MalformedPacket)
	})
	t.Run("reason strings stay under 128 bytes", func(t *testing.T) {
		s := rawClient(t, addr, "long", packet.Properties{})
		long := "$filter/payload=" + strings.Repeat("a", 300) + "%28/x"
		ack := s.subscribe(1, packet.Properties{}, packet.Subscription{Filter: long})
		if ack.ReasonCodes[0] != packet.TopicFilterInvalid || ack.Props.ReasonString == "" || len(ack.Props.ReasonString) > 96 {
			t.Fatalf("SUBACK %v with a %d-byte reason string %q", ack.ReasonCodes, len(ack.Props.ReasonString), ack.Props.ReasonString)
		}
	})
}

// TestSubscribeTooManyFiltersOneReason is item 16 of issue 11: 65 filters
// are each refused with 0x97 and the reason string says so once.
func TestSubscribeTooManyFiltersOneReason(t *testing.T) {
	addr := brokertest.Start(t)
	s := rawClient(t, addr, "many", packet.Properties{})
	subs := make([]packet.Subscription, 65)
	for i := range subs {
		subs[i] = packet.Subscription{Filter: "t/" + strings.Repeat("x", i%7)}
	}
	ack := s.subscribe(1, packet.Properties{}, subs...)
	for i, c := range ack.ReasonCodes {
		if c != packet.QuotaExceeded {
			t.Fatalf("filter %d: %v, want 0x97", i, c)
		}
	}
	if r := ack.Props.ReasonString; strings.Count(r, "more than") != 1 {
		t.Fatalf("reason string %q (%d bytes), want the cause once", r, len(r))
	}
}

// TestFilterModifiedSinceGreater is item 16 of issue 11: flespi documents
// $filter/modified_since>T alongside =; both are accepted and mean a
// timestamp above T.
func TestFilterModifiedSinceGreater(t *testing.T) {
	addr := brokertest.Start(t)
	p := rawClient(t, addr, "ms-pub", packet.Properties{})
	ts := func(v string) packet.Properties {
		return packet.Properties{User: []packet.UserProperty{{Key: "timestamp", Value: v}}}
	}
	p.publish(&packet.Publish{Topic: "ms/old", QoS: 1, PacketID: 1, Retain: true, Props: ts("100"), Payload: []byte("old")})
	p.publish(&packet.Publish{Topic: "ms/new", QoS: 1, PacketID: 2, Retain: true, Props: ts("300"), Payload: []byte("new")})
	for _, f := range []string{"$filter/modified_since>200/ms/#", "$filter/modified_since%3E200/ms/#", "$filter/modified_since=200/ms/#"} {
		s := rawClient(t, addr, "ms-sub", packet.Properties{})
		if ack := s.subscribe(1, packet.Properties{}, packet.Subscription{Filter: f}); ack.ReasonCodes[0] != 0 {
			t.Fatalf("%s: SUBACK %v (%s)", f, ack.ReasonCodes, ack.Props.ReasonString)
		}
		if m := s.recvPublish(); m.Topic != "ms/new" {
			t.Fatalf("%s: retained %q, want ms/new only", f, m.Topic)
		}
		s.nothingPending()
	}
}

// TestShareAfterFilter is item 17 of issue 11: "$filter/…/$share/…" is
// refused with 0x8F and a reason (it used to be taken as a literal topic),
// and a PUBLISH to a topic starting with "$share/" reaches nobody.
func TestShareAfterFilter(t *testing.T) {
	addr := brokertest.Start(t)
	s := rawClient(t, addr, "sa-sub", packet.Properties{})
	ack := s.subscribe(1, packet.Properties{},
		packet.Subscription{Filter: "$filter/cid=1/$share/g/a"},
		packet.Subscription{Filter: "$share/g/$share/g/a"},
		packet.Subscription{Filter: "$share/g/$filter/cid=1/a"},
		packet.Subscription{Filter: "$share/g/a"},
	)
	if !slices.Equal(ack.ReasonCodes, []packet.ReasonCode{0x8F, 0x8F, 0, 0}) || !strings.Contains(ack.Props.ReasonString, "$share must come first") {
		t.Fatalf("SUBACK %v %q", ack.ReasonCodes, ack.Props.ReasonString)
	}
	p := rawClient(t, addr, "sa-pub", packet.Properties{})
	p.send(&packet.Publish{Topic: "$share/g/a", QoS: 1, PacketID: 1, Payload: []byte("no")})
	if a, ok := p.recv().(*packet.Puback); !ok || a.ReasonCode != packet.TopicNameInvalid {
		t.Fatalf("PUBACK %v, want 0x90", a)
	}
	p.publish(&packet.Publish{Topic: "a", QoS: 1, PacketID: 2, Payload: []byte("yes")})
	// "$share/g/$filter/cid=1/a" and "$share/g/a" are one membership of
	// group g on "a" (the second replaced the first): one delivery.
	if m := s.recvPublish(); string(m.Payload) != "yes" {
		t.Fatalf("got %q on %q", m.Payload, m.Topic)
	}
	s.nothingPending()
}
