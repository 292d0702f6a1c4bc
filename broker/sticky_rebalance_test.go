package broker_test

import (
	"fmt"
	"testing"

	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/packet"
)

// TestStickyGroupRebalances is item 15 of issue 11 against a running
// broker: in a sticky group "$share/g:1:1/dev/+/d" every device keeps its
// member while the members stay the same; a fourth member joining takes
// some devices (those it wins by rendezvous) and no device moves between
// the three old members.
func TestStickyGroupRebalances(t *testing.T) {
	addr := brokertest.Start(t)
	const devices = 120
	pub := dialRaw(t, addr, packet.V5)
	pub.connect(&packet.Connect{ClientID: "pub", CleanStart: true})
	var members []*raw
	joinGroup := func(id string) {
		c := dialRaw(t, addr, packet.V5)
		c.connect(&packet.Connect{ClientID: id, CleanStart: true})
		c.subscribe(1, packet.Properties{}, packet.Subscription{Filter: "$share/g:1:1/dev/+/d"}, packet.Subscription{Filter: "end"})
		members = append(members, c)
	}
	// round publishes one message per device, then "end", and returns
	// which member got each device: "end" comes after a publisher's
	// earlier messages on every member.
	id := uint16(0)
	round := func() map[string]int {
		for d := range devices {
			id++
			pub.publish(&packet.Publish{Topic: fmt.Sprintf("dev/%d/d", d), QoS: 1, PacketID: id, Payload: []byte("x")})
		}
		id++
		pub.publish(&packet.Publish{Topic: "end", QoS: 1, PacketID: id, Payload: []byte("end")})
		got := map[string]int{}
		for i, c := range members {
			for n := 0; ; n++ {
				m := c.recvPublish()
				if m.Topic == "end" {
					break
				}
				if _, dup := got[m.Topic]; dup || n > devices {
					t.Fatalf("%s delivered twice", m.Topic)
				}
				got[m.Topic] = i
			}
		}
		if len(got) != devices {
			t.Fatalf("%d of %d devices delivered", len(got), devices)
		}
		return got
	}
	for i := range 3 {
		joinGroup(fmt.Sprint("m", i))
	}
	first := round()
	for tp, who := range round() {
		if who != first[tp] {
			t.Fatalf("%s moved from m%d to m%d while nothing changed", tp, first[tp], who)
		}
	}
	joinGroup("m3")
	moved := 0
	for tp, who := range round() {
		switch {
		case who == first[tp]:
		case who == 3:
			moved++
		default:
			t.Fatalf("%s moved from m%d to m%d: only the new member may take devices", tp, first[tp], who)
		}
	}
	if moved == 0 || moved == devices {
		t.Fatalf("the new member took %d of %d devices", moved, devices)
	}
	t.Logf("the fourth member took %d of %d devices", moved, devices)
}
