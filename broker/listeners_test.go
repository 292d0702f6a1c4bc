package broker_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/broker/listeners"
	"github.com/mqttboard/mqttboard/packet"
)

// selfSigned makes a certificate for 127.0.0.1 at test time; no key is
// ever committed.
func selfSigned(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mqttboard test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

func rawOver(t *testing.T, nc net.Conn) *raw {
	t.Cleanup(func() { nc.Close() })
	c := &raw{t: t, nc: nc, v: packet.V5}
	c.r = packet.NewReader(bufioReader(nc))
	c.r.Version = packet.V5
	return c
}

// TestListeners connects over TLS, WebSocket and secure WebSocket and
// exchanges messages with a plain TCP client.
func TestListeners(t *testing.T) {
	srv, addr := brokertest.StartServer(t, broker.Options{})
	cfg := selfSigned(t)
	tl, err := listeners.TLS("127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	wl, err := listeners.WebSocket("127.0.0.1:0", "/mqtt", nil)
	if err != nil {
		t.Fatal(err)
	}
	wsl, err := listeners.WebSocket("127.0.0.1:0", "/mqtt", cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []net.Listener{tl, wl, wsl} {
		if err := srv.AddListener(l); err != nil {
			t.Fatal(err)
		}
	}
	clientTLS := &tls.Config{InsecureSkipVerify: true}
	tlsConn, err := tls.Dial("tcp", tl.Addr().String(), clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	dialWS := func(url string) net.Conn {
		d := websocket.Dialer{Subprotocols: []string{"mqtt"}, TLSClientConfig: clientTLS}
		ws, _, err := d.Dial(url, nil)
		if err != nil {
			t.Fatalf("dial %s: %v", url, err)
		}
		return listeners.NewWSConn(ws)
	}
	conns := map[string]net.Conn{
		"tls": tlsConn,
		"ws":  dialWS("ws://" + wl.Addr().String() + "/mqtt"),
		"wss": dialWS("wss://" + wsl.Addr().String() + "/mqtt"),
	}
	p, _ := dial5(t, addr, "tcp-publisher")
	for name, nc := range conns {
		c := rawOver(t, nc)
		c.connect(&packet.Connect{ClientID: name, CleanStart: true})
		c.subscribe(1, packet.Properties{}, packet.Subscription{Filter: "over/" + name, QoS: 1})
		p.pub(t, "over/"+name, 1, false, name)
		if m := c.recvPublish(); string(m.Payload) != name {
			t.Fatalf("%s: got %v", name, &m)
		}
	}
}

func bufioReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }

// TestStalledWebSocketSubscriber: a WebSocket subscriber that stops
// reading is cut off when its queue overflows, and the publisher whose
// message overflowed it is not held: kicking must not wait for the
// subscriber's write in progress (on a WebSocket, setting a write deadline
// does).
func TestStalledWebSocketSubscriber(t *testing.T) {
	opts, events := brokertest.Events(10000)
	// Large enough that the queue overflows only once the write loop is
	// blocked in a write (the kernel's buffers are full).
	opts.MaxQueueBytes = 4 << 20
	opts.WriteTimeout = time.Minute // the cut-off must not wait for this
	srv, addr := brokertest.StartServer(t, opts)
	wl, err := listeners.WebSocket("127.0.0.1:0", "/mqtt", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.AddListener(wl); err != nil {
		t.Fatal(err)
	}
	d := websocket.Dialer{Subprotocols: []string{"mqtt"}}
	ws, _, err := d.Dial("ws://"+wl.Addr().String()+"/mqtt", nil)
	if err != nil {
		t.Fatal(err)
	}
	s := rawOver(t, listeners.NewWSConn(ws))
	s.connect(&packet.Connect{ClientID: "stalled-ws", CleanStart: true})
	s.subscribe(1, packet.Properties{}, packet.Subscription{Filter: "big", QoS: 1})
	// From here on the subscriber reads nothing.
	p := rawClient(t, addr, "pub", packet.Properties{})
	payload := make([]byte, 32<<10)
	for i := range 2000 {
		// Each PUBACK comes after routing: a publisher held by the
		// kick would not get it within the wait.
		p.publish(&packet.Publish{Topic: "big", QoS: 1, PacketID: uint16(i%60000 + 1), Payload: payload})
		select {
		case e := <-events:
			if e.Kind == broker.EventDisconnected && e.ClientID == "stalled-ws" {
				if e.Reason != packet.QuotaExceeded {
					t.Fatalf("subscriber disconnected with %v, want 0x97", e.Reason)
				}
				return
			}
		default:
		}
	}
	brokertest.WaitEvent(t, events, wait, func(e broker.Event) bool {
		return e.Kind == broker.EventDisconnected && e.ClientID == "stalled-ws"
	})
}
