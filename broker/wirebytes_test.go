package broker_test

import (
	"bytes"
	"encoding/hex"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/brokertest"
)

// wire is a connection that checks bytes exactly: what a byte-for-byte
// conformance suite (mosquitto's packet sequences) sees.
type wire struct {
	t  *testing.T
	nc net.Conn
}

func dialWire(t *testing.T, addr string) *wire {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &wire{t, nc}
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

func (w *wire) send(h string) {
	w.t.Helper()
	if _, err := w.nc.Write(unhex(h)); err != nil {
		w.t.Fatal(err)
	}
}

// expect reads exactly the bytes of h.
func (w *wire) expect(h, what string) {
	w.t.Helper()
	want := unhex(h)
	got := make([]byte, len(want))
	w.nc.SetReadDeadline(time.Now().Add(wait))
	n, err := io.ReadFull(w.nc, got)
	if err != nil || !bytes.Equal(got, want) {
		w.t.Fatalf("%s: got % X (%v), want % X", what, got[:n], err, want)
	}
}

// closed checks the broker closed the connection with nothing more sent.
func (w *wire) closed(what string) {
	w.t.Helper()
	w.nc.SetReadDeadline(time.Now().Add(wait))
	b := make([]byte, 16)
	if n, err := w.nc.Read(b); n > 0 || err == nil {
		w.t.Fatalf("%s: got % X (%v), want the connection closed", what, b[:n], err)
	}
}

// TestConformanceConfigBytes checks, byte for byte, what README's
// configuration for conformance suites puts on the wire: a CONNACK announcing
// only what differs from the protocol's defaults, Topic Alias Maximum
// before Receive Maximum; DISCONNECT as a lone reason code; a malformed
// property block is 0x81 even when it also holds a property not allowed
// there; packets only servers send are 0x82 from their first byte.
func TestConformanceConfigBytes(t *testing.T) {
	cfg, err := broker.ParseConfig("conformance.yaml", []byte(conformanceConfig))
	if err != nil {
		t.Fatal(err)
	}
	var o broker.Options
	cfg.Apply(&o)
	_, addr := brokertest.StartServer(t, o)
	connect := "10 0F 0004 4D515454 05 02 003C 00 0002 6331" // 5.0, clean start, keep alive 60, client id "c1"
	connack := "20 09 00 00 06 22000A 210014"                // topic alias maximum 10, receive maximum 20

	for _, tc := range []struct{ name, send, want string }{
		{"unknown property after a property PUBACK may not carry", "40 08 0001 00 04 23000170", "E0 01 81"},
		{"disallowed property with its value missing", "40 05 0001 00 01 01", "E0 01 81"},
		{"disallowed property, well formed", "40 06 0001 00 02 0100", "E0 01 82"},
		{"a malformed CONNACK from a client", "20 03 00 00 01", "E0 01 82"},
		{"a SUBACK from a client", "90 03 1234 00", "E0 01 82"},
		{"PUBLISH QoS 0 with DUP", "38 0F 0005 746F706963 00 7061796C6F6164", "E0 01 81"},
		{"response topic with a wildcard", "32 15 0005 746F706963 1234 04 08000123 7061796C6F6164", "E0 01 82"},
		{"PUBACK with packet identifier 0", "40 02 0000", "E0 01 82"},
		{"SUBSCRIBE with an empty filter", "82 06 1234 00 0000 00", "E0 01 81"},
		{"SUBSCRIBE with a property not allowed there", "82 09 1234 02 0100 0001 70 00", "E0 01 81"},
		{"SUBSCRIBE with two subscription identifiers", "82 0B 0001 04 0B010B01 0001 70 00", "E0 01 82"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := dialWire(t, addr)
			w.send(connect)
			w.expect(connack, "CONNACK")
			w.send(tc.send)
			w.expect(tc.want, "DISCONNECT")
			w.closed("after DISCONNECT")
		})
	}
	t.Run("subscribe, publish, receive: no properties added", func(t *testing.T) {
		w := dialWire(t, addr)
		w.send(connect)
		w.expect(connack, "CONNACK")
		w.send("82 07 1234 00 0001 70 01") // SUBSCRIBE "p" QoS 1
		w.expect("90 04 1234 00 01", "SUBACK")
		w.send("30 0B 0001 70 00 6d657373616765") // PUBLISH "p" "message"
		w.expect("30 0B 0001 70 00 6d657373616765", "PUBLISH")
	})
	t.Run("a refused CONNECT carries no reason string", func(t *testing.T) {
		w := dialWire(t, addr)
		w.send("10 23 0004 4D515454 05 02 000A 15 15000B756E737570706F7274656416000474657374 0001 70") // authentication method "unsupported"
		w.expect("20 03 00 8C 00", "CONNACK 0x8C")
	})
}
