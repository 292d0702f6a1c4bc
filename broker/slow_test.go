package broker_test

import (
	"testing"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/packet"
)

// TestSlowConsumer fills a subscriber's queue (it never acknowledges, with
// Receive Maximum 1): QoS 0 is then dropped and counted, the next QoS 1 is
// kept and disconnects it with 0x97, what comes while it is being cut off
// is dropped and counted (its queue never holds more than its limit and
// one message), the publisher is never blocked, and every QoS 1 message
// the queue took is delivered when the session resumes.
func TestSlowConsumer(t *testing.T) {
	opts, events := brokertest.Events(1000)
	opts.MaxQueueBytes = 4000
	srv, addr := brokertest.StartServer(t, opts)
	props := packet.Properties{ReceiveMaximum: 1, SessionExpiry: 60}
	s := rawClient(t, addr, "slow", props)
	s.subscribe(1, packet.Properties{}, packet.Subscription{Filter: "slow", QoS: 1})
	p := rawClient(t, addr, "fast", packet.Properties{})
	payload := make([]byte, 100)
	id := uint16(0)
	n := byte(0)
	pub := func(qos packet.QoS) byte {
		if qos > 0 {
			id++
		}
		n++
		payload[0] = n
		p.publish(&packet.Publish{Topic: "slow", QoS: qos, PacketID: id, Payload: payload})
		return n
	}
	var kept []byte // the QoS 1 messages the session holds
	kept = append(kept, pub(1))
	first := s.recvPublish() // inflight, never acknowledged
	// QoS 1 until the queue is full: a QoS 0 message is dropped then.
	for range 100 {
		kept = append(kept, pub(1))
		pub(0)
		p.nothingPending() // the broker has routed both
		if srv.Stats().MessagesDropped > 0 {
			break
		}
	}
	e := brokertest.WaitEvent(t, events, wait, func(e broker.Event) bool { return e.Kind == broker.EventDropped })
	if e.ClientID != "slow" || srv.Stats().MessagesDropped != 1 {
		t.Fatalf("drop event %+v, stats %+v", e, srv.Stats())
	}
	kept = append(kept, pub(1)) // over the limit: kept, and the consumer is disconnected
	s.expectDisconnect(packet.QuotaExceeded)
	pub(1) // while it is cut off or offline: dropped, the queue is at its limit
	if d := srv.Stats().MessagesDropped; d != 2 {
		t.Fatalf("%d messages dropped, want 2", d)
	}

	s = dialRaw(t, addr, packet.V5)
	s.connect(&packet.Connect{ClientID: "slow", Props: props})
	again := s.recvPublish()
	if !again.Dup || again.Payload[0] != first.Payload[0] {
		t.Fatalf("first message not resent: %v", &again)
	}
	s.send(&packet.Puback{Ack: packet.Ack{PacketID: again.PacketID}})
	for _, want := range kept[1:] {
		m := s.recvPublish()
		for m.QoS == 0 { // the QoS 0 messages queued before the limit
			m = s.recvPublish()
		}
		if m.Payload[0] != want {
			t.Fatalf("got message %d, want %d", m.Payload[0], want)
		}
		s.send(&packet.Puback{Ack: packet.Ack{PacketID: m.PacketID}})
	}
	s.nothingPending()
}
