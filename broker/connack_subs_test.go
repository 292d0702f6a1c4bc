package broker_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/packet"
)

// TestConnackWith4000Subscriptions is items 4 and 14 of issue 11: an MQTT 5
// session with 4,000 subscriptions reconnects. The CONNACK's subscriptions
// user property (flespi's array of {"topic","qos",...}) used to exceed
// 65,535 bytes, so encoding failed and no CONNACK was sent; now the list is
// cut to what fits, "subscriptions_truncated" says so, and a client's small
// Maximum Packet Size is respected too.
func TestConnackWith4000Subscriptions(t *testing.T) {
	addr := brokertest.Start(t)
	const total = 4000
	session := packet.Properties{SessionExpiry: 3600}
	session.Present = session.Present.Add(packet.PropSessionExpiry)
	c := dialRaw(t, addr, packet.V5)
	c.connect(&packet.Connect{ClientID: "many", CleanStart: true, Props: session})
	for id, n := uint16(1), 0; n < total; id++ {
		batch := make([]packet.Subscription, 0, 64)
		for ; n < total && len(batch) < 64; n++ {
			batch = append(batch, packet.Subscription{Filter: fmt.Sprintf("fleet/vehicle-%04d/telemetry/#", n), QoS: 1, NoLocal: n%2 == 0})
		}
		props := packet.Properties{SubscriptionIDs: []uint32{uint32(id)}}
		if ack := c.subscribe(id, props, batch...); ack.ReasonCodes[0] != 1 {
			t.Fatalf("SUBACK %v", ack.ReasonCodes)
		}
	}
	c.send(&packet.Disconnect{})

	for _, maxPacket := range []uint32{0, 4096} {
		r := dialRaw(t, addr, packet.V5)
		props := session
		if maxPacket > 0 {
			props.MaximumPacketSize = maxPacket
			props.Present = props.Present.Add(packet.PropMaximumPacketSize)
			r.r.MaxPacketSize = maxPacket // the peer refuses anything bigger
		}
		ack := r.connect(&packet.Connect{ClientID: "many", Props: props})
		if ack.ReasonCode != 0 || !ack.SessionPresent {
			t.Fatalf("max packet %d: CONNACK %v present=%v", maxPacket, ack.ReasonCode, ack.SessionPresent)
		}
		user := map[string]string{}
		for _, u := range ack.Props.User {
			user[u.Key] = u.Value
		}
		var subs []struct {
			Topic          *string `json:"topic"`
			QoS            *int    `json:"qos"`
			NoLocal        *bool   `json:"no_local"`
			RAP            *bool   `json:"rap"`
			RetainHandling *int    `json:"retain_handling"`
			SubscriptionID *uint32 `json:"subscription_id"`
		}
		if err := json.Unmarshal([]byte(user["subscriptions"]), &subs); err != nil || len(subs) == 0 {
			t.Fatalf("max packet %d: subscriptions %.200q: %v", maxPacket, user["subscriptions"], err)
		}
		for _, s := range subs {
			if s.Topic == nil || s.QoS == nil || s.NoLocal == nil || s.RAP == nil || s.RetainHandling == nil || s.SubscriptionID == nil || *s.SubscriptionID == 0 {
				t.Fatalf("max packet %d: incomplete entry in %.200q", maxPacket, user["subscriptions"])
			}
		}
		var trunc struct{ Shown, Total int }
		if err := json.Unmarshal([]byte(user["subscriptions_truncated"]), &trunc); err != nil || trunc.Total != total || trunc.Shown != len(subs) {
			t.Fatalf("max packet %d: subscriptions_truncated %q (%v) with %d shown", maxPacket, user["subscriptions_truncated"], err, len(subs))
		}
		t.Logf("max packet %d: %d of %d subscriptions listed", maxPacket, trunc.Shown, trunc.Total)
		r.nothingPending()
	}
}
