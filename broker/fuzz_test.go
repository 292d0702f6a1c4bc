package broker_test

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/packet"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// No goroutine may outlive its connection or server.
	goleak.VerifyTestMain(m)
}

func connectBytes(v packet.Version) []byte {
	b, _ := (&packet.Connect{ProtocolVersion: v, ClientID: "fuzz", CleanStart: true, KeepAlive: 10}).AppendTo(nil, v)
	return b
}

// FuzzConnection feeds arbitrary bytes, after a valid CONNECT or alone, to
// a connection of a running broker: it must neither panic nor hang. Since
// ServeConn returns only when the connection has ended (read and write
// loops done, session detached), "no hang" covers everything after CONNECT
// too.
func FuzzConnection(f *testing.F) {
	f.Add(false, []byte{})
	f.Add(true, []byte{0x30, 6, 0, 3, 'a', '/', 'b', 0})
	f.Add(true, []byte{0x82, 6, 0, 1, 0, 1, '#', 2})
	f.Add(true, []byte{0x30, 0xff, 0xff, 0xff, 0xff})
	f.Add(true, []byte{0x62, 2, 0, 1, 0xc0, 0})
	f.Add(true, []byte{0x34, 8, 0, 1, 'q', 0, 9, 0, 'x', 'y'})
	f.Add(false, connectBytes(packet.V311))
	s := broker.New(broker.Options{Listen: "127.0.0.1:0", ShutdownLinger: time.Millisecond})
	f.Cleanup(func() { s.Close() })
	f.Fuzz(func(t *testing.T, connect bool, data []byte) {
		client, server := net.Pipe()
		done := make(chan struct{})
		go func() {
			s.ServeConn(context.Background(), server)
			close(done)
		}()
		go io.Copy(io.Discard, client)
		if connect {
			client.Write(connectBytes(packet.V5))
		}
		client.Write(data)
		client.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("connection did not end after input %x", data)
		}
	})
}
