package broker_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/packet"
)

func TestTakeover(t *testing.T) {
	opts, events := brokertest.Events(100)
	_, addr := brokertest.StartServer(t, opts)
	old := dialRaw(t, addr, packet.V5)
	old.connect(&packet.Connect{ClientID: "same", CleanStart: true, Props: packet.Properties{SessionExpiry: 60}})
	old.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "k", QoS: 1}}})
	old.recv()
	nu := dialRaw(t, addr, packet.V5)
	ack := nu.connect(&packet.Connect{ClientID: "same", Props: packet.Properties{SessionExpiry: 60}})
	if !ack.SessionPresent {
		t.Fatal("session not present after takeover")
	}
	old.expectDisconnect(packet.SessionTakenOver)
	brokertest.WaitEvent(t, events, wait, func(e broker.Event) bool {
		return e.Kind == broker.EventDisconnected && e.Reason == packet.SessionTakenOver
	})
	// The subscription moved with the session.
	p, _ := dial5(t, addr, "p")
	p.pub(t, "k", 1, false, "x")
	if m, ok := nu.recv().(*packet.Publish); !ok || string(m.Payload) != "x" {
		t.Fatalf("got %v", m)
	}
}

func TestTakeover311Closes(t *testing.T) {
	addr := brokertest.Start(t)
	old := dialRaw(t, addr, packet.V311)
	old.connect(&packet.Connect{ClientID: "same3", CleanStart: true})
	nu := dialRaw(t, addr, packet.V311)
	nu.connect(&packet.Connect{ClientID: "same3", CleanStart: true})
	old.expectDisconnect(0)
}

// TestRedeliveryOnResume leaves a QoS 1 PUBLISH unacknowledged and a QoS 2
// one at PUBREC, reconnects, and expects the PUBLISH again with DUP and
// the same id, then the PUBREL.
func TestRedeliveryOnResume(t *testing.T) {
	opts, events := brokertest.Events(100)
	_, addr := brokertest.StartServer(t, opts)
	connect := &packet.Connect{ClientID: "resume", Props: packet.Properties{SessionExpiry: 300}}
	s := dialRaw(t, addr, packet.V5)
	s.connect(&packet.Connect{ClientID: "resume", CleanStart: true, Props: packet.Properties{SessionExpiry: 300}})
	s.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "r/#", QoS: 2}}})
	s.recv()
	p, _ := dial5(t, addr, "pub")
	p.pub(t, "r/1", 1, false, "one")
	p.pub(t, "r/2", 2, false, "two")
	p1 := *s.recv().(*packet.Publish)
	p2 := *s.recv().(*packet.Publish)
	if p1.QoS != 1 || p2.QoS != 2 {
		t.Fatalf("got %v %v", &p1, &p2)
	}
	s.send(&packet.Pubrec{Ack: packet.Ack{PacketID: p2.PacketID}})
	if rel, ok := s.recv().(*packet.Pubrel); !ok || rel.PacketID != p2.PacketID {
		t.Fatalf("got %v", rel)
	}
	s.nc.Close() // without PUBACK for p1, PUBCOMP for p2
	brokertest.WaitEvent(t, events, wait, func(e broker.Event) bool {
		return e.Kind == broker.EventDisconnected && e.ClientID == "resume"
	})
	s = dialRaw(t, addr, packet.V5)
	if ack := s.connect(connect); !ack.SessionPresent {
		t.Fatal("session not resumed")
	}
	again, ok := s.recv().(*packet.Publish)
	if !ok || !again.Dup || again.PacketID != p1.PacketID || string(again.Payload) != "one" {
		t.Fatalf("resent %v", again)
	}
	s.send(&packet.Puback{Ack: packet.Ack{PacketID: p1.PacketID}})
	if rel, ok := s.recv().(*packet.Pubrel); !ok || rel.PacketID != p2.PacketID {
		t.Fatalf("resent %v", rel)
	}
	s.send(&packet.Pubcomp{Ack: packet.Ack{PacketID: p2.PacketID}})
	s.send(&packet.Pingreq{})
	if _, ok := s.recv().(*packet.Pingresp); !ok {
		t.Fatal("more than expected was resent")
	}
}

func willConnect(id string, delay uint32) *packet.Connect {
	return &packet.Connect{ClientID: id, CleanStart: true, WillFlag: true,
		Props: packet.Properties{SessionExpiry: 30},
		Will: packet.Will{Topic: "will/" + id, Payload: []byte("gone"), QoS: 1,
			Props: packet.Properties{WillDelay: delay, User: []packet.UserProperty{{Key: "k", Value: "v"}}}}}
}

func TestWills(t *testing.T) {
	addr := brokertest.Start(t)
	w, _ := dial5(t, addr, "watch")
	w.sub(t, "will/#", 1)

	// Abnormal close: will sent, with its properties.
	c := dialRaw(t, addr, packet.V5)
	c.connect(willConnect("abrupt", 0))
	c.nc.Close()
	m := brokertest.Recv(t, w.msgs, wait)
	if m.Topic != "will/abrupt" || m.Properties.User.Get("k") != "v" {
		t.Fatalf("will %v", m)
	}

	// DISCONNECT 0x04 sends it; DISCONNECT 0x00 does not.
	c = dialRaw(t, addr, packet.V5)
	c.connect(willConnect("normal", 0))
	c.send(&packet.Disconnect{})
	c.expectDisconnect(0)
	c = dialRaw(t, addr, packet.V5)
	c.connect(willConnect("with-will", 0))
	c.send(&packet.Disconnect{ReasonCode: packet.DisconnectWithWill})
	c.expectDisconnect(0)
	if m := brokertest.Recv(t, w.msgs, wait); m.Topic != "will/with-will" {
		t.Fatalf("got will %q; DISCONNECT 0x00 must discard the will", m.Topic)
	}

	// Will delay: sent after the delay, not at once.
	c = dialRaw(t, addr, packet.V5)
	c.connect(willConnect("delayed", 1))
	start := time.Now()
	c.nc.Close()
	if m := brokertest.Recv(t, w.msgs, 3*time.Second); m.Topic != "will/delayed" || time.Since(start) < 900*time.Millisecond {
		t.Fatalf("delayed will %q after %v", m.Topic, time.Since(start))
	}

	// Reconnecting within the delay cancels it.
	c = dialRaw(t, addr, packet.V5)
	c.connect(willConnect("back", 1))
	c.nc.Close()
	c = dialRaw(t, addr, packet.V5)
	cp := willConnect("back", 1)
	cp.CleanStart = false
	cp.WillFlag = false
	c.connect(cp)
	select {
	case m := <-w.msgs:
		t.Fatalf("will %q sent although the client came back", m.Topic)
	case <-time.After(1500 * time.Millisecond):
	}
}

func TestSessionExpiry(t *testing.T) {
	opts, events := brokertest.Events(100)
	srv, addr := brokertest.StartServer(t, opts)
	c := dialRaw(t, addr, packet.V5)
	c.connect(&packet.Connect{ClientID: "exp", CleanStart: true, Props: packet.Properties{SessionExpiry: 1}})
	c.send(&packet.Disconnect{})
	c.expectDisconnect(0)
	brokertest.WaitEvent(t, events, wait, func(e broker.Event) bool { return e.Kind == broker.EventDisconnected })
	if n := srv.Stats().Sessions; n != 1 {
		t.Fatalf("sessions after disconnect: %d", n)
	}
	brokertest.WaitEvent(t, events, 3*time.Second, func(e broker.Event) bool { return e.Kind == broker.EventExpired && e.ClientID == "exp" })
	if n := srv.Stats().Sessions; n != 0 {
		t.Fatalf("sessions after expiry: %d", n)
	}
	c = dialRaw(t, addr, packet.V5)
	if ack := c.connect(&packet.Connect{ClientID: "exp"}); ack.SessionPresent {
		t.Fatal("expired session resumed")
	}
}

// TestShutdown: MQTT 5 clients get DISCONNECT 0x8B, 3.1.1 clients are
// closed, and Shutdown returns within its deadline.
func TestShutdown(t *testing.T) {
	srv, addr := brokertest.StartServer(t, broker.Options{})
	c5 := rawClient(t, addr, "five", packet.Properties{})
	c3 := dialRaw(t, addr, packet.V311)
	c3.connect(&packet.Connect{ClientID: "three", CleanStart: true})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	c5.expectDisconnect(packet.ServerShuttingDown)
	c3.expectDisconnect(0)
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("still accepting after Shutdown")
	}
}
