package broker_test

import (
	"testing"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/mqttboard/mqttboard/broker/brokertest"
)

// TestPahoWills: a paho.golang (5.0) and a paho.mqtt.golang (3.1.1)
// client whose connections drop get their wills published.
func TestPahoWills(t *testing.T) {
	addr := brokertest.Start(t)
	w, _ := dial5(t, addr, "watcher")
	w.sub(t, "lwt/#", 1)
	c5, _ := dial5(t, addr, "dies5", func(c *paho.Connect) {
		c.WillMessage = &paho.WillMessage{Topic: "lwt/5", Payload: []byte("bye5"), QoS: 1}
	})
	c3, _ := dial3(t, addr, "dies3", true, func(o *mqtt.ClientOptions) { o.SetWill("lwt/3", "bye3", 1, false) })
	c5.nc.Close() // no DISCONNECT: the will must go out
	if m := brokertest.Recv(t, w.msgs, wait); m.Topic != "lwt/5" || string(m.Payload) != "bye5" {
		t.Fatalf("got %v", m)
	}
	c3.Disconnect(250) // 3.1.1 DISCONNECT discards the will (paho writes it within the quiesce time)
	dial3(t, addr, "dies3b", true, func(o *mqtt.ClientOptions) { o.SetWill("lwt/3b", "bye3b", 1, false) })
	_ = c3
	w.pub(t, "lwt/marker", 1, false, "m")
	if m := brokertest.Recv(t, w.msgs, wait); m.Topic != "lwt/marker" {
		t.Fatalf("got %q before the marker: a DISCONNECTed client's will was sent", m.Topic)
	}
}

// TestPahoSharedSubscription balances a shared group of a 5.0 and a 3.1.1
// member.
func TestPahoSharedSubscription(t *testing.T) {
	addr := brokertest.Start(t)
	a, _ := dial5(t, addr, "member5")
	a.sub(t, "$share/workers/jobs/+", 1)
	b, bmsgs := dial3(t, addr, "member3", true)
	ok(t, b.Subscribe("$share/workers/jobs/+", 1, nil))
	p, _ := dial5(t, addr, "producer")
	for range 10 {
		p.pub(t, "jobs/x", 1, false, "job")
	}
	for range 5 {
		brokertest.Recv(t, a.msgs, wait)
		brokertest.Recv(t, bmsgs, wait)
	}
}
