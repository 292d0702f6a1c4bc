package broker_test

import (
	"fmt"
	"testing"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/packet"
)

// TestPersistSubscribeCIDAcrossRestart: a persistent subscription made
// with flespi's cid option keeps it across a restart: a message of another
// account does not reach it (before, the restored subscription had lost
// the option and took every account's messages).
func TestPersistSubscribeCIDAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	addr, stop := storedBroker(t, openStore(t, dir), broker.Options{})
	sub := rawClient(t, addr, "cidsub", persistent())
	only := packet.Properties{User: []packet.UserProperty{{Key: "cid", Value: "999"}}}
	sub.subscribe(1, only, packet.Subscription{Filter: "c/#", QoS: 1})
	sub.subscribe(2, packet.Properties{}, packet.Subscription{Filter: "d/#", QoS: 1})
	sub.nc.Close()
	stop()

	addr, _ = storedBroker(t, openStore(t, dir), broker.Options{})
	sub, ack := rawResume(t, addr, "cidsub")
	if !ack.SessionPresent {
		t.Fatal("session lost")
	}
	pub := rawClient(t, addr, "pub", packet.Properties{})
	pub.publish(&packet.Publish{Topic: "c/1", QoS: 1, PacketID: 1, Payload: []byte("other account")})
	pub.publish(&packet.Publish{Topic: "d/1", QoS: 1, PacketID: 2, Payload: []byte("plain")})
	if p := sub.recvPublish(); p.Topic != "d/1" {
		t.Fatalf("got %s first: the cid=999 subscription took a message of the broker's own account", p.Topic)
	}
}

// TestPersistWillExpiryAcrossRestart: a stored will keeps its Message
// Expiry Interval, counted from when it is published after the restart
// (before, the restored will had none).
func TestPersistWillExpiryAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	opts, events := brokertest.Events(64)
	addr, stop := storedBroker(t, openStore(t, dir), opts)
	w := dialRaw(t, addr, packet.V5)
	will := packet.Will{Topic: "will/x", Payload: []byte("gone"), QoS: 1}
	will.Props.WillDelay = 3600
	will.Props.MessageExpiry = 600
	will.Props.Present = will.Props.Present.Add(packet.PropWillDelay).Add(packet.PropMessageExpiry)
	w.connect(&packet.Connect{ClientID: "wx", CleanStart: true, Props: persistent(), WillFlag: true, Will: will})
	w.nc.Close()
	brokertest.WaitEvent(t, events, wait, func(e broker.Event) bool {
		return e.Kind == broker.EventDisconnected && e.ClientID == "wx"
	})
	stop()

	addr, _ = storedBroker(t, openStore(t, dir), broker.Options{})
	watcher := rawClient(t, addr, "watcher", packet.Properties{})
	watcher.subscribe(1, packet.Properties{}, packet.Subscription{Filter: "will/#", QoS: 1})
	w = dialRaw(t, addr, packet.V5)
	w.connect(&packet.Connect{ClientID: "wx", CleanStart: true}) // ends the old session: its will goes out
	p := watcher.recvPublish()
	if p.Topic != "will/x" || p.Props.MessageExpiry == 0 || p.Props.MessageExpiry > 600 {
		t.Fatalf("got %s with message expiry %d, want will/x with at most 600 s", p.Topic, p.Props.MessageExpiry)
	}
}

// TestPersistStickyAcrossRestart: a sticky group's assignment of devices to
// members is the same after a restart. The broker keeps no pins to store:
// a device goes to the member that wins it by rendezvous hashing over the
// group's members (topics/shared.go), and the members come back with their
// stored subscriptions, so every device is delivered to the same member as
// before, here while all members are offline (their sessions queue it) and
// after they resume.
func TestPersistStickyAcrossRestart(t *testing.T) {
	const devices = 60
	dir := t.TempDir()
	addr, stop := storedBroker(t, openStore(t, dir), broker.Options{})
	var members []*raw
	for i := range 3 {
		c := rawClient(t, addr, fmt.Sprint("m", i), persistent())
		c.subscribe(1, packet.Properties{}, packet.Subscription{Filter: "$share/g:1:1/dev/+/d", QoS: 1}, packet.Subscription{Filter: "end", QoS: 1})
		members = append(members, c)
	}
	publishRound := func(addr string) {
		pub := rawClient(t, addr, "pub", packet.Properties{})
		for d := range devices {
			pub.publish(&packet.Publish{Topic: fmt.Sprintf("dev/%d/d", d), QoS: 1, PacketID: uint16(d + 1), Payload: []byte("x")})
		}
		pub.publish(&packet.Publish{Topic: "end", QoS: 1, PacketID: devices + 1, Payload: []byte("end")})
	}
	// collect reads each member's deliveries up to "end" (after the
	// publisher's earlier messages on every member) and acknowledges them.
	collect := func() map[string]int {
		got := map[string]int{}
		for i, c := range members {
			for n := 0; ; n++ {
				m := c.recvPublish()
				c.send(&packet.Puback{Ack: packet.Ack{PacketID: m.PacketID}})
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
	publishRound(addr)
	before := collect()
	for _, c := range members {
		c.nothingPending() // every PUBACK above reached the broker first
		c.nc.Close()
	}
	stop()

	addr, _ = storedBroker(t, openStore(t, dir), broker.Options{})
	publishRound(addr) // all members offline: their sessions keep what they win
	for i := range members {
		c, ack := rawResume(t, addr, fmt.Sprint("m", i))
		if !ack.SessionPresent {
			t.Fatalf("m%d lost its session", i)
		}
		members[i] = c
	}
	for tp, who := range collect() {
		if who != before[tp] {
			t.Fatalf("%s went to m%d before the restart and to m%d after", tp, before[tp], who)
		}
	}
}
