package broker_test

import (
	"testing"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/mqttboard/mqttboard/broker/brokertest"
)

type v3msg struct {
	topic    string
	payload  string
	qos      byte
	retained bool
}

// dial3 connects a paho.mqtt.golang 3.1.1 client; received messages arrive
// on the returned channel.
func dial3(t *testing.T, addr, id string, clean bool, opt ...func(*mqtt.ClientOptions)) (mqtt.Client, chan v3msg) {
	t.Helper()
	msgs := make(chan v3msg, 1000)
	o := mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).SetCleanSession(clean).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			msgs <- v3msg{m.Topic(), string(m.Payload()), m.Qos(), m.Retained()}
		})
	for _, f := range opt {
		f(o)
	}
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c, msgs
}

func ok(t *testing.T, tok mqtt.Token) {
	t.Helper()
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("token: %v", tok.Error())
	}
}

func TestPaho3PubSubEachQoS(t *testing.T) {
	addr := brokertest.Start(t)
	sub, msgs := dial3(t, addr, "sub3", true)
	pub, _ := dial3(t, addr, "pub3", true)
	ok(t, sub.Subscribe("a/+", 2, nil))
	ok(t, sub.Subscribe("a/#", 1, nil)) // overlapping: one delivery, highest QoS
	for qos := byte(0); qos <= 2; qos++ {
		ok(t, pub.Publish("a/b", qos, false, "m"))
		m := brokertest.Recv(t, msgs, wait)
		if m.topic != "a/b" || m.payload != "m" || m.qos != qos {
			t.Fatalf("qos %d: got %+v", qos, m)
		}
	}
	select {
	case m := <-msgs:
		t.Fatalf("duplicate delivery %+v", m)
	default:
	}
}

// TestCrossVersion has a 3.1.1 publisher reach a 5.0 subscriber and back.
func TestCrossVersion(t *testing.T) {
	addr := brokertest.Start(t)
	c3, msgs3 := dial3(t, addr, "v3", true)
	c5, _ := dial5(t, addr, "v5")
	ok(t, c3.Subscribe("to/v3", 1, nil))
	c5.sub(t, "to/v5", 1)
	ok(t, c3.Publish("to/v5", 1, false, "from v3"))
	if m := brokertest.Recv(t, c5.msgs, wait); string(m.Payload) != "from v3" || m.QoS != 1 {
		t.Fatalf("v5 got %v", m)
	}
	c5.pub(t, "to/v3", 2, false, "from v5")
	if m := brokertest.Recv(t, msgs3, wait); m.payload != "from v5" || m.qos != 1 {
		t.Fatalf("v3 got %+v", m)
	}
}

// TestPaho3SessionResume queues QoS 1 messages for an offline persistent
// 3.1.1 session and delivers them on reconnect.
func TestPaho3SessionResume(t *testing.T) {
	addr := brokertest.Start(t)
	sub, _ := dial3(t, addr, "persist", false)
	ok(t, sub.Subscribe("q/#", 1, nil))
	sub.Disconnect(100)
	pub, _ := dial3(t, addr, "pub", true)
	for _, p := range []string{"1", "2", "3"} {
		ok(t, pub.Publish("q/x", 1, false, p))
	}
	_, msgs := dial3(t, addr, "persist", false)
	for _, want := range []string{"1", "2", "3"} {
		if m := brokertest.Recv(t, msgs, wait); m.payload != want {
			t.Fatalf("got %+v, want %s", m, want)
		}
	}
}
