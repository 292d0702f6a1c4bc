package cluster

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/message"
	"github.com/mqttboard/mqttboard/packet"
)

// collect reads each member's messages until it has seen ends markers
// ("end/..." topics, published after the messages under test by each
// publisher): it returns, per member, the topic and payload of every
// other message, and fails on a duplicate "topic payload" across members.
func collect(t *testing.T, members []*client, ends int) (per []map[string]bool, owner map[string]int) {
	t.Helper()
	owner = map[string]int{}
	for i, c := range members {
		got := map[string]bool{}
		for seen := 0; seen < ends; {
			m := c.recv(t)
			if strings.HasPrefix(m.Topic, "end/") {
				seen++
				continue
			}
			key := m.Topic + " " + string(m.Payload)
			if j, dup := owner[key]; dup {
				t.Fatalf("%s delivered twice: to member %d and member %d", key, j, i)
			}
			owner[key] = i
			got[key] = true
		}
		per = append(per, got)
	}
	return per, owner
}

// TestClusterSharedOncePerGroupAcrossNodes: a $share group with members
// on three nodes gets every message once, whichever node it was published
// on, and every member on every node takes a share; a group whose only
// member is on another node than the publisher still gets every message.
func TestClusterSharedOncePerGroupAcrossNodes(t *testing.T) {
	nodes := startCluster(t, 3, broker.Options{NoStamp: true})
	var g []*client
	for i, at := range []int{0, 1, 2, 2} {
		c := dial(t, nodes[at].addr, fmt.Sprint("g", i), true)
		c.sub(t, "$share/g/t/+", "end/+")
		g = append(g, c)
	}
	h := dial(t, nodes[1].addr, "h", true)
	h.sub(t, "$share/h/t/+", "end/+")
	p0 := dial(t, nodes[0].addr, "p0", true)
	p2 := dial(t, nodes[2].addr, "p2", true)
	const N = 40
	for i := range N {
		p0.pub(t, "t/"+itoa(i%5), 1, false, "p0-"+itoa(i))
		p2.pub(t, "t/"+itoa(i%5), 1, false, "p2-"+itoa(i))
	}
	p0.pub(t, "end/p0", 1, false, "")
	p2.pub(t, "end/p2", 1, false, "")
	per, owner := collect(t, g, 2)
	if len(owner) != 2*N {
		t.Fatalf("group g got %d of %d messages", len(owner), 2*N)
	}
	for i, got := range per {
		if len(got) == 0 {
			t.Errorf("member g%d got none of group g's %d messages", i, 2*N)
		}
	}
	_, hOwner := collect(t, []*client{h}, 2)
	if len(hOwner) != 2*N {
		t.Fatalf("group h (one member, on node 1) got %d of %d messages published on nodes 0 and 2", len(hOwner), 2*N)
	}
}

// TestClusterStickyPinnedClusterWide: in a sticky group with members on
// three nodes, each device (the fingerprint) goes to the same member
// whichever node it is published on, round after round; a member joining
// on one node takes some devices from everyone's point of view and no
// device moves between the old members; when it leaves, each device goes
// back to its first member.
func TestClusterStickyPinnedClusterWide(t *testing.T) {
	nodes := startCluster(t, 3, broker.Options{NoStamp: true})
	const filter = "$share/s:1:1/dev/+/d"
	var members []*client
	for i := range 3 {
		c := dial(t, nodes[i].addr, fmt.Sprint("m", i), true)
		c.sub(t, filter, "end/+")
		members = append(members, c)
	}
	var pubs []*client
	for i := range 3 {
		pubs = append(pubs, dial(t, nodes[i].addr, fmt.Sprint("p", i), true))
	}
	const devices = 60
	// round publishes every device from every node and returns, per
	// device, the member that got it: the same from all three nodes.
	round := func() map[int]int {
		t.Helper()
		for i, p := range pubs {
			for d := range devices {
				p.pub(t, fmt.Sprintf("dev/%d/d", d), 1, false, itoa(i))
			}
		}
		for i, p := range pubs {
			p.pub(t, "end/"+itoa(i), 1, false, "")
		}
		_, owner := collect(t, members, len(pubs))
		pin := map[int]int{}
		for key, who := range owner {
			var d, from int
			fmt.Sscanf(key, "dev/%d/d %d", &d, &from)
			if was, ok := pin[d]; ok && was != who {
				t.Fatalf("device %d went to member %d and member %d (published on different nodes)", d, was, who)
			}
			pin[d] = who
		}
		if len(owner) != devices*len(pubs) {
			t.Fatalf("%d of %d messages delivered", len(owner), devices*len(pubs))
		}
		return pin
	}
	first := round()
	spread := map[int]int{}
	for _, who := range first {
		spread[who]++
	}
	if len(spread) != 3 {
		t.Fatalf("devices per member %v: every member should win some", spread)
	}
	for d, who := range round() {
		if who != first[d] {
			t.Fatalf("device %d moved from member %d to %d while nothing changed", d, first[d], who)
		}
	}
	joiner := dial(t, nodes[1].addr, "m3", true)
	joiner.sub(t, filter, "end/+")
	members = append(members, joiner)
	moved := 0
	for d, who := range round() {
		switch {
		case who == first[d]:
		case who == 3:
			moved++
		default:
			t.Fatalf("device %d moved from member %d to %d: only the new member may take devices", d, first[d], who)
		}
	}
	if moved == 0 || moved == devices {
		t.Fatalf("the new member took %d of %d devices", moved, devices)
	}
	joiner.unsub(t, filter)
	for d, who := range round() {
		if who != first[d] {
			t.Fatalf("device %d is with member %d after the new member left, was with %d before it came", d, who, first[d])
		}
	}
}

func (c *client) unsub(t *testing.T, filters ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := c.Unsubscribe(ctx, &paho.Unsubscribe{Topics: filters}); err != nil {
		t.Fatalf("unsubscribe %q: %v", filters, err)
	}
}

// TestClusterSharedMemberNodeLost: when the node of some members of a
// group is lost, the survivors forget those members and the members left
// get every message.
func TestClusterSharedMemberNodeLost(t *testing.T) {
	nodes := startCluster(t, 3, broker.Options{NoStamp: true})
	a := dial(t, nodes[1].addr, "a", true)
	a.sub(t, "$share/g/t", "end/+")
	b := dial(t, nodes[2].addr, "b", true)
	b.sub(t, "$share/g/t", "end/+")
	nodes[1].srv.Close()
	nodes[1].cl.Close()
	deadline := time.Now().Add(wait)
	// Node 1's shutdown ends a's session first, which node 1 may still
	// announce: wait for the route to be gone too.
	for nodes[0].cl.remoteMembers() != 1 || len(nodes[0].cl.Members()) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("node 0 still holds %d remote members, members %v", nodes[0].cl.remoteMembers(), nodes[0].cl.Members())
		}
		time.Sleep(5 * time.Millisecond) // no event for "route down"; bounded by deadline
	}
	p := dial(t, nodes[0].addr, "p", true)
	const N = 20
	for i := range N {
		p.pub(t, "t", 1, false, itoa(i))
	}
	p.pub(t, "end/p", 1, false, "")
	if _, owner := collect(t, []*client{b}, 1); len(owner) != N {
		t.Fatalf("the member left got %d of %d", len(owner), N)
	}
}

// TestClusterStickyOfflineMember: a sticky member whose persistent
// session goes offline on its node hands its devices to the online
// members (as on one node), on every node; when it comes back, it takes
// them back and nothing else moves.
func TestClusterStickyOfflineMember(t *testing.T) {
	nodes := startCluster(t, 3, broker.Options{NoStamp: true})
	const filter = "$share/s:1:1/dev/+/d"
	var members []*client
	for i := range 3 {
		c := dial(t, nodes[i].addr, fmt.Sprint("m", i), i != 2)
		c.sub(t, filter, "end/+")
		members = append(members, c)
	}
	p := dial(t, nodes[0].addr, "p", true)
	const devices = 60
	round := func(members []*client) map[int]int {
		t.Helper()
		for d := range devices {
			p.pub(t, fmt.Sprintf("dev/%d/d", d), 1, false, "x")
		}
		p.pub(t, "end/p", 1, false, "")
		_, owner := collect(t, members, 1)
		pin := map[int]int{}
		for key, who := range owner {
			var d int
			fmt.Sscanf(key, "dev/%d/d", &d)
			pin[d] = who
		}
		if len(pin) != devices {
			cnt := map[int]int{}
			for _, w := range pin {
				cnt[w]++
			}
			t.Fatalf("%d of %d devices delivered: %v", len(pin), devices, cnt)
		}
		return pin
	}
	waitOnline := func(want bool) {
		t.Helper()
		deadline := time.Now().Add(wait)
		for {
			on, known := nodes[0].cl.remoteOnline("m2")
			if known && on == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("node 0 sees m2 online=%v (known %v), want %v", on, known, want)
			}
			time.Sleep(5 * time.Millisecond) // the state change sends no event to node 0; bounded by deadline
		}
	}
	first := round(members)
	members[2].Disconnect(&paho.Disconnect{})
	waitOnline(false)
	for d, who := range round(members[:2]) {
		if first[d] != 2 && who != first[d] {
			t.Fatalf("device %d moved from member %d to %d though its member stayed online", d, first[d], who)
		}
	}
	back := dial(t, nodes[2].addr, "m2", false)
	waitOnline(true)
	// What was published while m2 was offline went to the others: m2's
	// queue holds only the round's end marker (a plain subscription).
	if m := back.recv(t); m.Topic != "end/p" {
		t.Fatalf("m2's queue held %q %q", m.Topic, m.Payload)
	}
	members[2] = back
	for d, who := range round(members) {
		if who != first[d] {
			t.Fatalf("device %d is with member %d after m2 came back, was with %d", d, who, first[d])
		}
	}
}

// FuzzDecodeForward: a forwarded message from another node, whole or
// corrupt, decodes or is refused, never panics, and what decodes encodes
// back to the same member, filter, account and message.
func FuzzDecodeForward(f *testing.F) {
	f.Add(appendForward(nil, fwdHead{client: "m1", filter: "$share/g/t/+"}, &message.Message{Topic: "t/1", Payload: []byte("x"), QoS: 1}))
	f.Add(appendForward(nil, fwdHead{final: true, client: "m2", filter: "$share/s:1:1/dev/+/d", account: 7}, &message.Message{Topic: "dev/3/d", Origin: "p",
		Props: packet.Properties{User: []packet.UserProperty{{Key: "a", Value: "b"}}}}))
	f.Add(appendForward(nil, fwdHead{client: "m3", filter: "$share/g/q", countID: 12, countNode: "n1"}, &message.Message{Topic: "q", QoS: 1}))
	f.Add([]byte{0, 1, 'm', 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, m, err := decodeForward(b)
		if err != nil {
			return
		}
		h2, m2, err := decodeForward(appendForward(nil, h, m))
		if err != nil {
			t.Fatal(err)
		}
		if h2 != h || m2.Topic != m.Topic || string(m2.Payload) != string(m.Payload) {
			t.Fatal("re-encoding changed the forwarded message")
		}
	})
}
