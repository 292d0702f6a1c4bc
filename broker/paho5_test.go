package broker_test

import (
	"context"
	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/packet"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/mqttboard/mqttboard/broker/brokertest"
)

const wait = 5 * time.Second

// v5 is a paho.golang client whose received publishes arrive on msgs.
type v5 struct {
	*paho.Client
	nc   net.Conn
	msgs chan *paho.Publish
	disc chan *paho.Disconnect
}

func dial5(t *testing.T, addr, id string, opt ...func(*paho.Connect)) (*v5, *paho.Connack) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &v5{nc: nc, msgs: make(chan *paho.Publish, 1000), disc: make(chan *paho.Disconnect, 1)}
	c.Client = paho.NewClient(paho.ClientConfig{
		Conn: nc,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			c.msgs <- pr.Packet
			return true, nil
		}},
		OnServerDisconnect: func(d *paho.Disconnect) { c.disc <- d },
	})
	cp := &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30}
	for _, o := range opt {
		o(cp)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ca, err := c.Connect(ctx, cp)
	if err != nil {
		t.Fatalf("connect %s: %v (%+v)", id, err, ca)
	}
	t.Cleanup(func() { c.Disconnect(&paho.Disconnect{}) })
	return c, ca
}

func (c *v5) sub(t *testing.T, filter string, qos byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	sa, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: qos}}})
	if err != nil {
		t.Fatalf("subscribe %q: %v", filter, err)
	}
	if sa.Reasons[0] != qos {
		t.Fatalf("subscribe %q: reason %#x", filter, sa.Reasons[0])
	}
}

func (c *v5) pub(t *testing.T, topic string, qos byte, retain bool, payload string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: qos, Retain: retain, Payload: []byte(payload)}); err != nil {
		t.Fatalf("publish %q: %v", topic, err)
	}
}

func TestPaho5PubSubEachQoS(t *testing.T) {
	addr := brokertest.Start(t)
	sub, ca := dial5(t, addr, "sub")
	if ca.ReasonCode != 0 || ca.Properties == nil || ca.Properties.MaximumPacketSize == nil {
		t.Fatalf("connack %+v", ca)
	}
	pub, _ := dial5(t, addr, "pub")
	for qos := byte(0); qos <= 2; qos++ {
		sub.sub(t, "t/+/x", qos)
	}
	sub.sub(t, "t/#", 2)
	for qos := byte(0); qos <= 2; qos++ {
		pub.pub(t, "t/a/x", qos, false, "hello")
		m := brokertest.Recv(t, sub.msgs, wait)
		if m.Topic != "t/a/x" || string(m.Payload) != "hello" || m.QoS != qos {
			t.Fatalf("qos %d: got %v", qos, m)
		}
	}
	select {
	case m := <-sub.msgs:
		t.Fatalf("overlapping subscriptions delivered twice: %v", m)
	default:
	}
}

func TestPaho5Retained(t *testing.T) {
	addr := brokertest.Start(t)
	pub, _ := dial5(t, addr, "pub")
	pub.pub(t, "r/1", 1, true, "one")
	pub.pub(t, "r/2", 1, true, "two")
	pub.pub(t, "r/2", 1, true, "two'")
	pub.pub(t, "r/3", 1, true, "three")
	pub.pub(t, "r/3", 1, true, "") // deletes
	sub, _ := dial5(t, addr, "sub")
	sub.sub(t, "r/#", 1)
	got := map[string]string{}
	for range 2 {
		m := brokertest.Recv(t, sub.msgs, wait)
		if !m.Retain {
			t.Fatalf("retained message without retain flag: %v", m)
		}
		got[m.Topic] = string(m.Payload)
	}
	if got["r/1"] != "one" || got["r/2"] != "two'" {
		t.Fatalf("retained: %v", got)
	}
	pub.pub(t, "r/1", 0, true, "live")
	if m := brokertest.Recv(t, sub.msgs, wait); m.Retain || string(m.Payload) != "live" {
		t.Fatalf("live message of a retained publish must not carry retain without RAP: %v", m)
	}
}

// TestServeConnPipe runs a connection over net.Pipe, the way the board
// embeds the broker without a socket.
func TestServeConnPipe(t *testing.T) {
	srv, addr := brokertest.StartServer(t, broker.Options{})
	client, server := net.Pipe()
	go srv.ServeConn(context.Background(), server)
	c := &raw{t: t, nc: client, v: packet.V5}
	c.r = packet.NewReader(bufioReader(client))
	c.r.Version = packet.V5
	t.Cleanup(func() { client.Close() })
	c.connect(&packet.Connect{ClientID: "piped", CleanStart: true})
	c.subscribe(1, packet.Properties{}, packet.Subscription{Filter: "pipe"})
	p, _ := dial5(t, addr, "tcp")
	p.pub(t, "pipe", 0, false, "through the pipe")
	if m := c.recvPublish(); string(m.Payload) != "through the pipe" {
		t.Fatalf("got %v", &m)
	}
}
