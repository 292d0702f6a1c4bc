package broker_test

import (
	"testing"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/packet"
)

// TestRetainedDuringSubscribeOnce: a message retained after a SUBSCRIBE
// put its subscription in the index but before the broker looked up the
// subscription's retained messages reaches the subscriber once, live, and
// not a second time as a retained message. Before the fix the subscriber
// received it twice (seen in TestACLOtherWays under load); a subscriber
// that comes later receives it once, retained.
func TestRetainedDuringSubscribeOnce(t *testing.T) {
	paused, release := make(chan struct{}), make(chan struct{})
	srv, addr := brokertest.StartServer(t, broker.Options{})
	broker.SetHookBeforeRetained(srv, func(id string) {
		if id == "s" {
			paused <- struct{}{}
			<-release
		}
	})
	s := rawClient(t, addr, "s", packet.Properties{})
	p := rawClient(t, addr, "p", packet.Properties{})
	// The SUBACK is written when the burst that holds the SUBSCRIBE ends,
	// after the hook: read it after the release.
	s.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "r/#", QoS: 1}}})
	brokertest.Recv(t, paused, wait)                                                                     // s is in the index; its lookup has not run
	p.publish(&packet.Publish{Topic: "r/1", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("kept")}) // PUBACK: routed
	close(release)
	if ack, ok := s.recv().(*packet.Suback); !ok || ack.ReasonCodes[0] != 1 {
		t.Fatalf("expected SUBACK granting QoS 1")
	}
	m := s.recvPublish()
	if string(m.Payload) != "kept" || m.Retain {
		t.Fatalf("first delivery: %q retain=%v; want kept, live", m.Payload, m.Retain)
	}
	s.send(&packet.Puback{Ack: packet.Ack{PacketID: m.PacketID}})
	s.nothingPending() // a second copy, retained, would come before PINGRESP

	late := rawClient(t, addr, "late", packet.Properties{})
	late.subscribe(1, packet.Properties{}, packet.Subscription{Filter: "r/#"})
	if m := late.recvPublish(); string(m.Payload) != "kept" || !m.Retain {
		t.Fatalf("later subscriber: %q retain=%v; want kept, retained", m.Payload, m.Retain)
	}
	late.nothingPending()
}
