package client_test

import (
	"context"
	"slices"
	"testing"

	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/client"
)

// TestSubscriptionIdentifiersAllKept: our broker sends one PUBLISH for
// overlapping subscriptions carrying every identifier; paho.golang keeps
// only the last, the tap restores the list.
func TestSubscriptionIdentifiersAllKept(t *testing.T) {
	addr := brokertest.Start(t)
	c := connect(t, client.Options{URL: "mqtt://" + addr})
	ctx := context.Background()
	for id, f := range map[int]string{1: "a/#", 2: "a/+", 3: "other"} {
		if _, err := c.Subscribe(ctx, client.SubscribeProperties{SubscriptionID: id}, client.Subscription{Filter: f, QoS: 1}); err != nil {
			t.Fatal(err)
		}
	}
	pub := connect(t, client.Options{URL: "mqtt://" + addr})
	for i, qos := range []byte{0, 1, 2, 1} {
		m := &client.Message{Topic: "a/b", Payload: []byte{byte('0' + i)}, QoS: qos}
		if _, err := pub.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
		got := nextMessage(t, c)
		ids := slices.Clone(got.Props.SubscriptionIDs)
		slices.Sort(ids)
		if string(got.Payload) != string(m.Payload) || !slices.Equal(ids, []uint32{1, 2}) {
			t.Fatalf("message %d (QoS %d): payload %q ids %v, want ids [1 2]", i, qos, got.Payload, got.Props.SubscriptionIDs)
		}
	}
	if _, err := pub.Publish(ctx, &client.Message{Topic: "other", Payload: []byte("o"), QoS: 1}); err != nil {
		t.Fatal(err)
	}
	if got := nextMessage(t, c); !slices.Equal(got.Props.SubscriptionIDs, []uint32{3}) {
		t.Fatalf("single identifier: %v", got.Props.SubscriptionIDs)
	}
}
