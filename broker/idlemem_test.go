package broker_test

import (
	"bytes"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/packet"
)

// TestIdleConnectionKeepsNoConnect: an idle connection does not keep its
// CONNECT packet alive (its client id and user name used to alias the
// packet's body, so each idle connection held the whole CONNECT, the
// password with it), nor does a pending will (its topic and payload
// aliased the packet too). 200 connections with a 2 KB password must cost
// no more than 200 without one, give or take 512 bytes each, with a will
// and without.
func TestIdleConnectionKeepsNoConnect(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 400 connections")
	}
	_, addr := brokertest.StartServer(t, broker.Options{SysInterval: -1, MemoryTrim: -1})
	heap := func() int64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	const n = 200
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	open := func(prefix string, password []byte, will bool) int64 {
		before := heap()
		for i := range n {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			cp := &packet.Connect{ProtocolVersion: packet.V311, CleanStart: true, ClientID: prefix + string(rune('a'+i%26)) + itoaTest(i),
				UsernameFlag: true, Username: "user", PasswordFlag: password != nil, Password: password}
			if will {
				cp.WillFlag = true
				cp.Will = packet.Will{Topic: "dev/" + itoaTest(i) + "/gone", Payload: []byte("offline"), QoS: 1}
			}
			b, _ := cp.AppendTo(nil, 0)
			c.Write(b)
			c.SetReadDeadline(time.Now().Add(wait))
			if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
				t.Fatalf("CONNACK %d: %v", i, err)
			}
		}
		return (heap() - before) / n
	}
	for _, will := range []bool{false, true} {
		kind := "n"
		if will {
			kind = "w" // client ids of their own: no takeover of the first round's
		}
		plain := open(kind+"plain-", nil, will)
		withPassword := open(kind+"secret-", bytes.Repeat([]byte("p"), 2048), will)
		t.Logf("heap per idle connection (will %v): %d B without a password, %d B with 2 KB", will, plain, withPassword)
		if withPassword-plain > 512 {
			t.Fatalf("a 2 KB password costs %d more bytes per idle connection (will %v): the CONNECT is kept", withPassword-plain, will)
		}
	}
}

func itoaTest(i int) string {
	var b [20]byte
	n := len(b)
	for {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			return string(b[n:])
		}
	}
}
