package tui

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/storage"
)

// TestBundledBrokerData: with a store (`mqttboard --broker-data DIR`), the
// board's bundled broker keeps a retained message across two runs of the
// board, as a plain MQTT client sees it.
func TestBundledBrokerData(t *testing.T) {
	dir := t.TempDir()
	run := func(do func(addr string)) {
		st, err := storage.Open(dir, storage.Options{})
		if err != nil {
			t.Fatal(err)
		}
		m := New(Options{Offline: true, BrokerOptions: broker.Options{Store: st}})
		url, err := m.startLocal()
		if err != nil {
			t.Fatal(err)
		}
		do(strings.TrimPrefix(url, "mqtt://"))
		m.Close()
		st.Close()
	}
	exchange := func(addr string, send []byte, want []byte) []byte {
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		nc.Write(send)
		got := make([]byte, len(want))
		if _, err := io.ReadFull(nc, got); err != nil {
			t.Fatalf("read: %v (got % x)", err, got)
		}
		return got
	}
	// CONNECT 3.1.1 clean, keep alive 30, client id "p"; PUBLISH QoS 1
	// retained k/v "kept" (packet id 1).
	connect := func(id byte) []byte { return []byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 30, 0, 1, id} }
	run(func(addr string) {
		send := append(connect('p'), 0x33, 11, 0, 3, 'k', '/', 'v', 0, 1, 'k', 'e', 'p', 't')
		want := []byte{0x20, 2, 0, 0, 0x40, 2, 0, 1} // CONNACK, PUBACK
		if got := exchange(addr, send, want); !bytes.Equal(got, want) {
			t.Fatalf("publish: got % x, want % x", got, want)
		}
	})
	run(func(addr string) {
		// SUBSCRIBE k/v QoS 1: SUBACK, then the retained PUBLISH.
		send := append(connect('s'), 0x82, 8, 0, 1, 0, 3, 'k', '/', 'v', 1)
		want := []byte{0x20, 2, 0, 0, 0x90, 3, 0, 1, 1, 0x33, 11, 0, 3, 'k', '/', 'v', 0, 1, 'k', 'e', 'p', 't'}
		got := exchange(addr, send, want)
		if !bytes.Equal(got[:9], want[:9]) || got[9] != 0x33 || !bytes.HasSuffix(got, []byte("kept")) {
			t.Fatalf("after a restart: got % x, want the retained k/v", got)
		}
	})
}
