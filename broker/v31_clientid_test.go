package broker_test

import (
	"io"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/packet"
)

// TestV31EmptyClientID: MQTT 3.1 has no empty client id (it must be 1 to
// 23 characters), so the broker answers "identifier rejected" (0x02), as
// mosquitto does; 3.1.1 with clean session gets an id assigned.
func TestV31EmptyClientID(t *testing.T) {
	addr := brokertest.Start(t)

	c := dialRaw(t, addr, packet.V31)
	c.write([]byte{
		0x10, 14, // CONNECT, remaining length
		0, 6, 'M', 'Q', 'I', 's', 'd', 'p', // protocol name
		3,     // protocol level 3.1
		0x02,  // clean session
		0, 60, // keep alive
		0, 0, // client id: empty
	})
	c.nc.SetReadDeadline(time.Now().Add(wait))
	b := make([]byte, 4)
	if _, err := io.ReadFull(c.nc, b); err != nil {
		t.Fatalf("read CONNACK: %v", err)
	}
	if b[0] != 0x20 || b[1] != 2 || b[3] != 0x02 {
		t.Fatalf("3.1 CONNACK % x, want 20 02 00 02 (identifier rejected)", b)
	}

	c311 := dialRaw(t, addr, packet.V311)
	if ack := c311.connect(&packet.Connect{CleanStart: true}); ack.ReasonCode != packet.Success {
		t.Fatalf("3.1.1 empty client id with clean session: %v, want success", ack.ReasonCode)
	}
}
