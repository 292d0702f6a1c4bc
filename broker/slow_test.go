package broker_test

import (
	"testing"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/packet"
)

// TestSlowConsumer fills a subscriber's queue (it never acknowledges, with
// Receive Maximum 1): QoS 0 is then dropped and counted, the next QoS 1
// disconnects it with 0x97, the publisher is never blocked, and every
// acknowledged QoS 1 message is delivered when the session resumes.
func TestSlowConsumer(t *testing.T) {
	opts, events := brokertest.Events(1000)
	opts.MaxQueueBytes = 2000
	srv, addr := brokertest.StartServer(t, opts)
	props := packet.Properties{ReceiveMaximum: 1, SessionExpiry: 60}
	s := rawClient(t, addr, "slow", props)
	s.subscribe(1, packet.Properties{}, packet.Subscription{Filter: "slow", QoS: 1})
	p := rawClient(t, addr, "fast", packet.Properties{})
	payload := make([]byte, 100)
	id := uint16(0)
	pub := func(qos packet.QoS) {
		if qos > 0 {
			id++
		}
		payload[0] = byte(id)
		p.publish(&packet.Publish{Topic: "slow", QoS: qos, PacketID: id, Payload: payload})
	}
	pub(1)
	first := s.recvPublish() // inflight, never acknowledged
	for range 11 {
		pub(1)
	}
	pub(0)
	e := brokertest.WaitEvent(t, events, wait, func(e broker.Event) bool { return e.Kind == broker.EventDropped })
	if e.ClientID != "slow" || srv.Stats().MessagesDropped != 1 {
		t.Fatalf("drop event %+v, stats %+v", e, srv.Stats())
	}
	pub(1) // over the limit: kept, and the consumer is disconnected
	s.expectDisconnect(packet.QuotaExceeded)

	s = dialRaw(t, addr, packet.V5)
	s.connect(&packet.Connect{ClientID: "slow", Props: props})
	again := s.recvPublish()
	if !again.Dup || again.Payload[0] != first.Payload[0] {
		t.Fatalf("first message not resent: %v", &again)
	}
	s.send(&packet.Puback{Ack: packet.Ack{PacketID: again.PacketID}})
	for want := byte(2); want <= byte(id); want++ {
		m := s.recvPublish()
		if m.Payload[0] != want {
			t.Fatalf("got message %d, want %d", m.Payload[0], want)
		}
		s.send(&packet.Puback{Ack: packet.Ack{PacketID: m.PacketID}})
	}
	s.nothingPending()
}
