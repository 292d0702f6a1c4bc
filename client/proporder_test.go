package client

import (
	"slices"
	"testing"

	"github.com/mqttboard/mqttboard/packet"
)

// TestPropertyOrder reads the property identifiers of a PUBLISH in wire
// order; the frame lists them out of identifier order on purpose.
func TestPropertyOrder(t *testing.T) {
	props := []byte{
		0x26, 0, 1, 'z', 0, 1, '1', // user property z=1
		0x09, 0, 2, 'c', 'd', // correlation data
		0x0B, 0x81, 0x01, // subscription identifier 129 (two-byte varint)
		0x02, 0, 0, 0, 60, // message expiry 60
		0x01, 1, // payload format 1
		0x23, 0, 7, // topic alias 7
		0x26, 0, 1, 'y', 0, 1, '2', // user property y=2
	}
	body := append([]byte{0, 3, 'a', '/', 'b', 0, 9, byte(len(props))}, props...) // topic, packet id, properties
	body = append(body, "payload"...)
	frame := append([]byte{0x32, byte(len(body))}, body...) // PUBLISH QoS 1
	got := propertyOrder(frame)
	want := []packet.PropID{packet.PropUser, packet.PropCorrelationData, packet.PropSubscriptionID, packet.PropMessageExpiry,
		packet.PropPayloadFormat, packet.PropTopicAlias, packet.PropUser}
	if !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
}

// FuzzPropertyOrder: any bytes after a PUBLISH header never panic.
func FuzzPropertyOrder(f *testing.F) {
	f.Add([]byte{0x32, 10, 0, 1, 'a', 0, 1, 3, 0x01, 1, 0x23, 0})
	f.Add([]byte{0x30, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 2 {
			return
		}
		propertyOrder(b)
	})
}
