package client_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/client"
	"github.com/mqttboard/mqttboard/client/clienttest"
	"github.com/mqttboard/mqttboard/packet"
)

const wait = 10 * time.Second

func connect(t *testing.T, o client.Options) *client.Client {
	t.Helper()
	c, err := client.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// nextMessage skips non-message events until a message arrives.
func nextMessage(t *testing.T, c *client.Client) *client.MessageEvent {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case e := <-c.Events():
			if m, ok := e.(*client.MessageEvent); ok {
				return m
			}
		case <-c.Done():
			t.Fatalf("client stopped: %v", c.Err())
		case <-timeout:
			t.Fatal("no message within", wait)
		}
	}
}

func TestPubSubEachVersionAndTransport(t *testing.T) {
	m := clienttest.Start(t, clienttest.Config{WebSocket: true, TLS: true})
	type transport struct {
		name string
		url  string
		tls  client.TLSOptions
	}
	transports := []transport{
		{"tcp", "mqtt://" + m.Addr, client.TLSOptions{}},
		{"ws", "ws://" + m.WSAddr + "/mqtt", client.TLSOptions{}},
		{"tls", "mqtts://" + m.TLSAddr, client.TLSOptions{CAFile: m.CAFile}},
		{"tls-client-cert", "mqtts://" + m.TLSAddr, client.TLSOptions{CAFile: m.CAFile, CertFile: m.ClientCert, KeyFile: m.ClientKey, ServerName: "localhost"}},
		{"tls-insecure", "mqtts://" + m.TLSAddr, client.TLSOptions{Insecure: true}},
	}
	for _, v := range []packet.Version{packet.V5, packet.V311, packet.V31} {
		for _, tr := range transports {
			t.Run(v.String()+"/"+tr.name, func(t *testing.T) {
				o := client.Options{URL: tr.url, Version: v, TLS: tr.tls, ClientID: "t-" + tr.name}
				sub := connect(t, o)
				o.ClientID = ""
				if v == packet.V31 {
					o.ClientID = "p-" + tr.name // 3.1 needs a client id
				}
				pub := connect(t, o)
				topic := "test/" + v.String() + "/" + tr.name
				ctx := context.Background()
				ack, err := sub.Subscribe(ctx, client.SubscribeProperties{}, client.Subscription{Filter: topic + "/#", QoS: 1})
				if err != nil || len(ack.Codes) != 1 || ack.Codes[0] != 1 {
					t.Fatalf("subscribe: %+v, %v", ack, err)
				}
				for qos := byte(0); qos <= 2; qos++ {
					msg := &client.Message{Topic: topic + "/x", Payload: []byte{'q', '0' + qos}, QoS: qos}
					if _, err := pub.Publish(ctx, msg); err != nil {
						t.Fatalf("publish qos %d: %v", qos, err)
					}
					got := nextMessage(t, sub)
					if got.Topic != msg.Topic || string(got.Payload) != string(msg.Payload) || got.QoS != min(qos, 1) {
						t.Fatalf("got %+v, want %+v at QoS %d", got.Message, msg, min(qos, 1))
					}
				}
			})
		}
	}
}

func TestV5PropertiesRoundTrip(t *testing.T) {
	m := clienttest.Start(t, clienttest.Config{})
	url := "mqtt://" + m.Addr
	sub := connect(t, client.Options{URL: url})
	pub := connect(t, client.Options{URL: url})
	ctx := context.Background()
	if _, err := sub.Subscribe(ctx, client.SubscribeProperties{SubscriptionID: 7}, client.Subscription{Filter: "props/#", QoS: 2}); err != nil {
		t.Fatal(err)
	}
	msg := &client.Message{Topic: "props/a", Payload: []byte("{}"), QoS: 2}
	msg.Props = packet.Properties{
		ContentType: "application/json", ResponseTopic: "props/reply", CorrelationData: []byte{1, 2},
		MessageExpiry: 60, PayloadFormat: 1,
		User: []packet.UserProperty{{Key: "k", Value: "v"}, {Key: "k", Value: "w"}},
	}
	ack, err := pub.Publish(ctx, msg)
	if err != nil || ack.Type != packet.PUBCOMP {
		t.Fatalf("publish: %+v %v", ack, err)
	}
	got := nextMessage(t, sub)
	p := got.Props
	if p.ContentType != "application/json" || p.ResponseTopic != "props/reply" || string(p.CorrelationData) != "\x01\x02" ||
		p.PayloadFormat != 1 || p.MessageExpiry == 0 || p.MessageExpiry > 60 ||
		!slices.Equal(p.User, msg.Props.User) || !slices.Equal(p.SubscriptionIDs, []uint32{7}) {
		t.Fatalf("properties not kept: %+v", p)
	}
}

func TestRetainedAndNoLocal(t *testing.T) {
	m := clienttest.Start(t, clienttest.Config{})
	c := connect(t, client.Options{URL: "mqtt://" + m.Addr})
	ctx := context.Background()
	if _, err := c.Publish(ctx, &client.Message{Topic: "r/1", Payload: []byte("kept"), QoS: 1, Retain: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Subscribe(ctx, client.SubscribeProperties{}, client.Subscription{Filter: "r/#", QoS: 1, NoLocal: true}); err != nil {
		t.Fatal(err)
	}
	got := nextMessage(t, c)
	if !got.Retain || string(got.Payload) != "kept" {
		t.Fatalf("want the retained message, got %+v", got.Message)
	}
	// No Local: our own publish must not come back; a probe from another
	// client proves the subscription still works and nothing came before it.
	if _, err := c.Publish(ctx, &client.Message{Topic: "r/2", Payload: []byte("own"), QoS: 1}); err != nil {
		t.Fatal(err)
	}
	other := connect(t, client.Options{URL: "mqtt://" + m.Addr})
	if _, err := other.Publish(ctx, &client.Message{Topic: "r/3", Payload: []byte("other"), QoS: 1}); err != nil {
		t.Fatal(err)
	}
	if got := nextMessage(t, c); string(got.Payload) != "other" {
		t.Fatalf("No Local ignored: got %q first", got.Payload)
	}
}

func TestConnectErrors(t *testing.T) {
	m := clienttest.Start(t, clienttest.Config{Users: map[string]string{"alice": "secret"}})
	for _, v := range []packet.Version{packet.V5, packet.V311} {
		t.Run(v.String(), func(t *testing.T) {
			c, _ := client.New(client.Options{URL: "mqtt://" + m.Addr, Version: v, Username: "alice", Password: []byte("wrong")})
			_, err := c.Connect(context.Background())
			var re *client.RefusedError
			if !errors.As(err, &re) || (re.Code != 0x86 && re.Code != 0x87) {
				t.Fatalf("want a RefusedError for bad credentials, got %T %v", err, err)
			}
			if !strings.Contains(err.Error(), "-u/-P") {
				t.Errorf("error does not say what to do: %v", err)
			}
			connect(t, client.Options{URL: "mqtt://" + m.Addr, Version: v, Username: "alice", Password: []byte("secret")})
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := l.Addr().String()
		l.Close()
		c, _ := client.New(client.Options{URL: "mqtt://" + addr})
		_, err := c.Connect(context.Background())
		var de *client.DialError
		if !errors.As(err, &de) || !strings.Contains(err.Error(), "is a broker running there") {
			t.Fatalf("want a DialError, got %T %v", err, err)
		}
	})
}

func TestWillIsPublished(t *testing.T) {
	m := clienttest.Start(t, clienttest.Config{})
	watcher := connect(t, client.Options{URL: "mqtt://" + m.Addr})
	ctx := context.Background()
	if _, err := watcher.Subscribe(ctx, client.SubscribeProperties{}, client.Subscription{Filter: "will/#"}); err != nil {
		t.Fatal(err)
	}
	o := client.Options{URL: "mqtt://" + m.Addr, Will: &client.Message{Topic: "will/gone", Payload: []byte("bye")}}
	o.Will.Props.User = []packet.UserProperty{{Key: "why", Value: "test"}}
	// paho.golang drops these will properties on its own (see willfix.go).
	o.Will.Props.ContentType, o.Will.Props.ResponseTopic, o.Will.Props.CorrelationData = "text/plain", "re/ply", []byte{7}
	o.Will.Props.PayloadFormat, o.Will.Props.MessageExpiry = 1, 600
	c := connect(t, o)
	c.Abort()
	got := nextMessage(t, watcher)
	p := &got.Props
	if got.Topic != "will/gone" || string(got.Payload) != "bye" || !slices.Equal(p.User, o.Will.Props.User) ||
		p.ContentType != "text/plain" || p.ResponseTopic != "re/ply" || string(p.CorrelationData) != "\x07" ||
		p.PayloadFormat != 1 || p.MessageExpiry == 0 || p.MessageExpiry > 600 {
		t.Fatalf("will: %+v %s", got.Message, p)
	}
}

func TestReconnectRestoresSubscriptions(t *testing.T) {
	m := clienttest.Start(t, clienttest.Config{})
	o := client.Options{URL: "mqtt://" + m.Addr, Reconnect: true, ReconnectMin: 10 * time.Millisecond}
	c := connect(t, o)
	ctx := context.Background()
	if _, err := c.Subscribe(ctx, client.SubscribeProperties{}, client.Subscription{Filter: "rc/#", QoS: 1}); err != nil {
		t.Fatal(err)
	}
	c.Abort()
	lost, back := false, false
	timeout := time.After(wait)
	for !back {
		select {
		case e := <-c.Events():
			switch e.(type) {
			case *client.ConnectionLostEvent:
				lost = true
			case *client.ConnectedEvent:
				back = lost
			}
		case <-timeout:
			t.Fatal("no reconnect within", wait)
		}
	}
	pub := connect(t, client.Options{URL: "mqtt://" + m.Addr})
	if _, err := pub.Publish(ctx, &client.Message{Topic: "rc/1", Payload: []byte("again"), QoS: 1}); err != nil {
		t.Fatal(err)
	}
	if got := nextMessage(t, c); string(got.Payload) != "again" {
		t.Fatalf("got %q", got.Payload)
	}
}

func TestTraceSeesEveryPacket(t *testing.T) {
	m := clienttest.Start(t, clienttest.Config{})
	var mu sync.Mutex
	var seen []string
	o := client.Options{URL: "mqtt://" + m.Addr, Trace: func(tp client.TracePacket) {
		mu.Lock()
		defer mu.Unlock()
		if tp.Err != nil {
			seen = append(seen, "error: "+tp.Err.Error())
			return
		}
		dir := "<"
		if tp.Out {
			dir = ">"
		}
		seen = append(seen, dir+tp.Packet.Type().String())
	}}
	for _, v := range []packet.Version{packet.V5, packet.V311} {
		seen = nil
		o.Version = v
		c := connect(t, o)
		ctx := context.Background()
		if _, err := c.Subscribe(ctx, client.SubscribeProperties{}, client.Subscription{Filter: "tr", QoS: 1}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Publish(ctx, &client.Message{Topic: "tr", Payload: []byte("x"), QoS: 1}); err != nil {
			t.Fatal(err)
		}
		nextMessage(t, c)
		c.Close()
		mu.Lock()
		got := strings.Join(seen, " ")
		mu.Unlock()
		for _, want := range []string{">CONNECT", "<CONNACK", ">SUBSCRIBE", "<SUBACK", ">PUBLISH", "<PUBACK", "<PUBLISH", ">PUBACK", ">DISCONNECT"} {
			if !strings.Contains(got, want) {
				t.Errorf("%v: trace lacks %s: %s", v, want, got)
			}
		}
		if strings.Contains(got, "error") {
			t.Errorf("%v: trace has decode errors: %s", v, got)
		}
	}
}
