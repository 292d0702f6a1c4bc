package broker_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/packet"
)

// TestServeConnLifetime: ServeConn returns when the connection has ended,
// not after CONNECT.
func TestServeConnLifetime(t *testing.T) {
	srv := broker.New(broker.Options{Listen: "127.0.0.1:0", ShutdownLinger: time.Millisecond})
	t.Cleanup(func() { srv.Close() })
	client, server := net.Pipe()
	returned := make(chan struct{})
	go func() {
		srv.ServeConn(context.Background(), server)
		close(returned)
	}()
	c := &raw{t: t, nc: client, v: packet.V5}
	c.r = packet.NewReader(bufioReader(client))
	c.r.Version = packet.V5
	c.connect(&packet.Connect{ClientID: "pipe"})
	c.send(&packet.Pingreq{})
	if _, ok := c.recv().(*packet.Pingresp); !ok {
		t.Fatal("expected PINGRESP")
	}
	select {
	case <-returned:
		t.Fatal("ServeConn returned while the connection is alive")
	default:
	}
	if n := srv.Stats().Connections; n != 1 {
		t.Fatalf("%d connections, want 1", n)
	}
	c.send(&packet.Disconnect{})
	c.expectDisconnect(0)
	brokertest.Recv(t, returned, wait)
	if n := srv.Stats().Connections; n != 0 {
		t.Fatalf("%d connections after ServeConn returned, want 0", n)
	}
}

// TestShutdownDrains: Shutdown publishes the wills of connected clients,
// delivers them to the subscribers still connected, sends DISCONNECT 0x8B
// to every MQTT 5 client, closes the 3.1.1 ones, and returns only when
// every connection has ended.
func TestShutdownDrains(t *testing.T) {
	const clients = 100
	opts := broker.Options{Listen: "127.0.0.1:0"}
	srv := broker.New(opts)
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background()) }()
	addr := srv.Addr().String()

	// What each client saw, reported when its connection ended.
	type seen struct {
		id      int
		wills   int
		discode packet.ReasonCode
		disc    bool
		err     error
	}
	results := make(chan seen, clients+1)
	watch := func(id int, c *raw) {
		go func() {
			s := seen{id: id}
			c.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
			for {
				p, err := c.r.ReadPacket()
				if err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						s.err = err
					}
					break
				}
				switch p := p.(type) {
				case *packet.Publish:
					s.wills++
					if p.QoS > 0 {
						b, _ := (&packet.Puback{Ack: packet.Ack{PacketID: p.PacketID}}).AppendTo(nil, c.v)
						c.nc.Write(b)
					}
				case *packet.Disconnect:
					s.disc, s.discode = true, p.ReasonCode
				}
			}
			results <- s
		}()
	}
	sub := dialRaw(t, addr, packet.V5)
	sub.connect(&packet.Connect{ClientID: "watcher", CleanStart: true})
	sub.subscribe(1, packet.Properties{}, packet.Subscription{Filter: "will/#", QoS: 1})
	watch(-1, sub)
	for i := range clients {
		v := packet.V5
		if i%5 == 0 {
			v = packet.V311
		}
		c := dialRaw(t, addr, v)
		cp := &packet.Connect{ClientID: fmt.Sprint("c", i), CleanStart: true, KeepAlive: 60}
		if i%2 == 0 {
			cp.WillFlag = true
			cp.Will = packet.Will{Topic: fmt.Sprint("will/", i), Payload: []byte("gone"), QoS: 1}
			if v == packet.V5 && i%4 == 0 {
				cp.Will.Props.WillDelay = 3600 // the session ends with the server: sent now
				cp.Props.SessionExpiry = 7200
			}
		}
		c.connect(cp)
		watch(i, c)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if n := srv.Stats().Connections; n != 0 {
		t.Fatalf("Shutdown returned with %d connections", n)
	}
	for range clients + 1 {
		s := brokertest.Recv(t, results, wait)
		if s.err != nil {
			t.Errorf("client %d: %v", s.id, s.err)
		}
		v5 := s.id < 0 || s.id%5 != 0
		if v5 && (!s.disc || s.discode != packet.ServerShuttingDown) {
			t.Errorf("client %d: DISCONNECT %v seen=%v, want 0x8B", s.id, s.discode, s.disc)
		}
		if s.id < 0 && s.wills != clients/2 {
			t.Errorf("the subscriber received %d wills, want %d", s.wills, clients/2)
		}
	}
	if err := brokertest.Recv(t, served, wait); err != broker.ErrServerClosed {
		t.Fatalf("Serve: %v", err)
	}
}

// TestPanicWhileEnding: a panic while a connection ends (here from an
// OnEvent callback, called when the session is detached) ends that
// connection only: it is released, ServeConn returns, the client id can
// connect again and the server goes on.
func TestPanicWhileEnding(t *testing.T) {
	var once sync.Once
	srv := broker.New(broker.Options{Listen: "127.0.0.1:0", ShutdownLinger: time.Millisecond, OnEvent: func(e broker.Event) {
		if e.Kind == broker.EventDisconnected && e.ClientID == "boom" {
			once.Do(func() { panic("callback bug") })
		}
	}})
	t.Cleanup(func() { srv.Close() })
	for i := range 2 {
		client, server := net.Pipe()
		returned := make(chan struct{})
		go func() {
			srv.ServeConn(context.Background(), server)
			close(returned)
		}()
		c := &raw{t: t, nc: client, v: packet.V5}
		c.r = packet.NewReader(bufioReader(client))
		c.r.Version = packet.V5
		if ack := c.connect(&packet.Connect{ClientID: "boom", CleanStart: i == 0, Props: packet.Properties{SessionExpiry: 60}}); ack.ReasonCode != 0 {
			t.Fatalf("connection %d: CONNACK %v", i, ack.ReasonCode)
		}
		c.send(&packet.Disconnect{})
		c.expectDisconnect(0)
		brokertest.Recv(t, returned, wait)
	}
	if n := srv.Stats().Connections; n != 0 {
		t.Fatalf("%d connections held", n)
	}
}
