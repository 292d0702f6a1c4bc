package broker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/mqttboard/mqttboard/broker/brokertest"
)

// flespi behaviours through a real MQTT 5 client (paho.golang). Negative
// cases end with a marker message on the same publisher: MQTT keeps one
// publisher's order, so when the marker arrives next, nothing that should
// have been filtered out slipped through — no sleeps needed.

func userValue(p *paho.Publish, key string) (string, bool) {
	if p.Properties == nil {
		return "", false
	}
	for _, u := range p.Properties.User {
		if u.Key == key {
			return u.Value, true
		}
	}
	return "", false
}

func (c *v5) next(t *testing.T) *paho.Publish {
	t.Helper()
	return brokertest.Recv(t, c.msgs, wait)
}

// expect receives messages and checks their topics in order.
func (c *v5) expect(t *testing.T, topics ...string) {
	t.Helper()
	for _, want := range topics {
		if got := c.next(t); got.Topic != want {
			t.Fatalf("received %q (%s), want %q", got.Topic, got.Payload, want)
		}
	}
}

func (c *v5) subProps(t *testing.T, filter string, qos byte, user ...paho.UserProperty) *paho.Suback {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	s := &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: qos}}}
	if len(user) > 0 {
		s.Properties = &paho.SubscribeProperties{User: user}
	}
	sa, err := c.Subscribe(ctx, s)
	if err != nil && sa == nil {
		t.Fatalf("subscribe %q: %v", filter, err)
	}
	return sa
}

func (c *v5) pubUser(t *testing.T, topic string, qos byte, retain bool, payload string, user ...paho.UserProperty) *paho.PublishResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	p := &paho.Publish{Topic: topic, QoS: qos, Retain: retain, Payload: []byte(payload), Properties: &paho.PublishProperties{User: user}}
	r, err := c.Publish(ctx, p)
	if err != nil && r == nil {
		t.Fatalf("publish %q: %v", topic, err)
	}
	return r
}

func TestFlespiTopicSelectors(t *testing.T) {
	addr := brokertest.Start(t)
	pub, _ := dial5(t, addr, "pub")
	pub.pub(t, "t/a/e/x", 1, true, "retained a/e")
	pub.pub(t, "t/c/e/x", 1, true, "retained c/e")
	sub, _ := dial5(t, addr, "sub")
	sub.sub(t, "t/a,b/e,f/x", 1)
	sub.expect(t, "t/a/e/x") // retained, through the selector; t/c/e/x is not selected
	for _, tp := range []string{"t/b/f/x", "t/c/e/x", "t/a/g/x", "t/ab/e/x", "t/a/f/x"} {
		pub.pub(t, tp, 1, false, "live")
	}
	sub.expect(t, "t/b/f/x", "t/a/f/x")
}

func TestFlespiWildcardRetainedDeletion(t *testing.T) {
	addr := brokertest.Start(t)
	pub, _ := dial5(t, addr, "pub")
	for _, tp := range []string{"a/1/x", "a/2/x", "a/2/y", "b/1/x", "$SYS/keep"} {
		pub.pub(t, tp, 1, true, "r")
	}
	watcher, _ := dial5(t, addr, "watcher")
	watcher.sub(t, "live/#", 1)
	// An empty publish to a wildcard topic, retain flag set or not,
	// deletes what it matches and is delivered to no one.
	if r := pub.pubUser(t, "a/+/x", 1, false, ""); r.ReasonCode != 0 {
		t.Fatalf("wildcard delete: PUBACK %#x", r.ReasonCode)
	}
	pub.pubUser(t, "#", 0, true, "") // '#' leaves $-topics alone
	pub.pub(t, "b/1/x", 1, true, "back")
	pub.pub(t, "live/marker", 1, false, "m")
	watcher.expect(t, "live/marker")
	sub, _ := dial5(t, addr, "sub")
	sub.sub(t, "+/+/+", 1)
	sub.expect(t, "b/1/x")
	sys, _ := dial5(t, addr, "sys")
	sys.sub(t, "$SYS/keep", 1)
	sys.expect(t, "$SYS/keep")
	// A wildcard topic with a payload stays a protocol error.
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	pub.Publish(ctx, &paho.Publish{Topic: "a/+", QoS: 0, Payload: []byte("x")})
	if d := brokertest.Recv(t, pub.disc, wait); d.ReasonCode != 0x90 {
		t.Fatalf("DISCONNECT %#x, want 0x90 topic name invalid", d.ReasonCode)
	}
}

func TestFlespiTimestampAndRetainedOrder(t *testing.T) {
	addr := brokertest.Start(t)
	pub, _ := dial5(t, addr, "pub")
	sub, _ := dial5(t, addr, "sub")
	sub.sub(t, "ts/#", 0)
	pub.pub(t, "ts/plain", 0, false, "x")
	m := sub.next(t)
	ts, ok := userValue(m, "timestamp")
	if f, err := strconv.ParseFloat(ts, 64); !ok || err != nil || f < 1.7e9 {
		t.Fatalf("timestamp user property %q (%t)", ts, ok)
	}
	if cid, _ := userValue(m, "cid"); cid != "1" {
		t.Fatalf("cid user property %q", cid)
	}
	pub.pubUser(t, "ts/own", 0, false, "x", paho.UserProperty{Key: "timestamp", Value: "1234.5"})
	if ts, _ := userValue(sub.next(t), "timestamp"); ts != "1234.5" {
		t.Fatalf("publisher's timestamp replaced: %q", ts)
	}
	// The retained slot keeps the newest timestamp: an older message
	// arriving later does not replace it.
	pub.pubUser(t, "ts/r", 1, true, "new", paho.UserProperty{Key: "timestamp", Value: "2000"})
	pub.pubUser(t, "ts/r", 1, true, "old", paho.UserProperty{Key: "timestamp", Value: "1000"})
	sub.expect(t, "ts/r", "ts/r") // both are delivered live
	late, _ := dial5(t, addr, "late")
	late.sub(t, "ts/r", 0)
	if got := late.next(t); string(got.Payload) != "new" {
		t.Fatalf("retained %q, want the newer message", got.Payload)
	}
}

func TestFlespiModifiedSince(t *testing.T) {
	addr := brokertest.Start(t)
	pub, _ := dial5(t, addr, "pub")
	pub.pubUser(t, "ms/old", 1, true, "o", paho.UserProperty{Key: "timestamp", Value: "1000"})
	pub.pubUser(t, "ms/new", 1, true, "n", paho.UserProperty{Key: "timestamp", Value: "3000"})
	pub.pub(t, "ms/now", 1, true, "now")
	sub, _ := dial5(t, addr, "sub")
	sub.subProps(t, "ms/#", 1, paho.UserProperty{Key: "modified_since", Value: "2000"})
	got := map[string]bool{sub.next(t).Topic: true, sub.next(t).Topic: true}
	if !got["ms/new"] || !got["ms/now"] {
		t.Fatalf("retained after modified_since=2000: %v", got)
	}
	pub.pub(t, "ms/live", 1, false, "l") // live messages are not filtered by it
	sub.expect(t, "ms/live")
	bad, _ := dial5(t, addr, "bad")
	if sa := bad.subProps(t, "ms/#", 1, paho.UserProperty{Key: "modified_since", Value: "yesterday"}); sa.Reasons[0] < 0x80 {
		t.Fatalf("modified_since=yesterday accepted: %#x", sa.Reasons[0])
	}
}

func TestFlespiCountSubscribers(t *testing.T) {
	addr := brokertest.Start(t)
	for i := range 3 {
		s, _ := dial5(t, addr, fmt.Sprint("s", i))
		s.sub(t, "cs/#", 0)
	}
	s4, _ := dial5(t, addr, "s4")
	s4.sub(t, "other/#", 0)
	pub, _ := dial5(t, addr, "pub")
	r := pub.pubUser(t, "cs/1", 1, false, "x", paho.UserProperty{Key: "count_subscribers", Value: "1"})
	if r.Properties == nil || len(r.Properties.User) != 1 || r.Properties.User[0].Key != "subscribers_count" || r.Properties.User[0].Value != "3" {
		t.Fatalf("PUBACK properties %+v, want subscribers_count=3", r.Properties)
	}
	if r := pub.pubUser(t, "cs/1", 1, false, "x"); r.Properties != nil && len(r.Properties.User) > 0 {
		t.Fatalf("subscribers_count sent unasked: %+v", r.Properties.User)
	}
}

func TestFlespiFilterSubscriptions(t *testing.T) {
	addr := brokertest.Start(t)
	pub, _ := dial5(t, addr, "pub")
	pub.pub(t, "v/1", 1, true, `{"speed":90}`)
	pub.pub(t, "v/2", 1, true, `{"speed":10}`)
	sub, _ := dial5(t, addr, "sub")
	sub.sub(t, "$filter/payload=speed%3E60/v/+", 1)
	sub.expect(t, "v/1") // retained, filtered by the expression
	sub.sub(t, "$filter/message=topic==%22w%2F*%22%26%26k==%22yes%22/w/#", 1)
	pub.pub(t, "v/3", 1, false, `{"speed":50}`)
	pub.pub(t, "v/4", 1, false, `not json`)
	pub.pubUser(t, "w/a", 1, false, "x", paho.UserProperty{Key: "k", Value: "no"})
	pub.pub(t, "v/5", 1, false, `{"speed":61.5}`)
	pub.pubUser(t, "w/b", 1, false, "x", paho.UserProperty{Key: "k", Value: "yes"})
	sub.expect(t, "v/5", "w/b")

	// cid: in the sandbox every message is account 1's.
	sub.sub(t, "$filter/cid=2/c/#", 0)
	sub.sub(t, "$filter/cid=1&modified_since=1000/c/#", 0)
	pub.pub(t, "c/x", 0, false, "x")
	pub.pub(t, "c/y", 0, false, "y")
	sub.expect(t, "c/x", "c/y") // one delivery each: only cid=1 accepts
}

func TestFlespiBadFilterRefused(t *testing.T) {
	addr := brokertest.Start(t)
	c, _ := dial5(t, addr, "c")
	sa := c.subProps(t, "$filter/payload=speed%3E/v/+", 1)
	if sa.Reasons[0] != 0x8F {
		t.Fatalf("SUBACK %#x, want 0x8F", sa.Reasons[0])
	}
	if sa.Properties == nil || sa.Properties.ReasonString == "" {
		t.Fatal("no reason string saying what is wrong")
	}
	t.Logf("reason string: %s", sa.Properties.ReasonString)
}

func TestFlespiCIDOnSubscribe(t *testing.T) {
	addr := brokertest.Start(t)
	other, _ := dial5(t, addr, "other")
	other.subProps(t, "k/#", 0, paho.UserProperty{Key: "cid", Value: "7"})
	other.sub(t, "marker", 0)
	mine, _ := dial5(t, addr, "mine")
	mine.subProps(t, "k/#", 0, paho.UserProperty{Key: "cid", Value: "1"})
	pub, _ := dial5(t, addr, "pub")
	pub.pub(t, "k/1", 0, false, "x")
	pub.pub(t, "marker", 0, false, "m")
	mine.expect(t, "k/1")
	other.expect(t, "marker") // account 7 sees nothing of account 1
}

func TestFlespiStickySharedGroups(t *testing.T) {
	addr := brokertest.Start(t)
	const filter = "$share/g:1:1/dev/+/data"
	members := map[string]*v5{}
	for _, id := range []string{"m1", "m2", "m3"} {
		c, _ := dial5(t, addr, id)
		c.sub(t, filter, 1)
		members[id] = c
	}
	pub, _ := dial5(t, addr, "pub")
	rng := rand.New(rand.NewPCG(7, 7))
	owner := map[string]string{} // device -> member
	for round := range 4 {
		for _, d := range rng.Perm(30) {
			pub.pub(t, fmt.Sprintf("dev/%d/data", d), 1, false, strconv.Itoa(round))
		}
		for range 30 {
			var who string
			var m *paho.Publish
			select {
			case m = <-members["m1"].msgs:
				who = "m1"
			case m = <-members["m2"].msgs:
				who = "m2"
			case m = <-members["m3"].msgs:
				who = "m3"
			case <-time.After(wait):
				t.Fatalf("round %d: a message did not arrive within %v", round, wait)
			}
			if prev, ok := owner[m.Topic]; ok && prev != who {
				t.Fatalf("round %d: %s went to %s, before to %s", round, m.Topic, who, prev)
			}
			owner[m.Topic] = who
		}
	}
	load := map[string]int{}
	for _, w := range owner {
		load[w]++
	}
	if len(load) != 3 {
		t.Fatalf("fingerprints not spread over the members: %v", load)
	}
}

func TestFlespiSharedGroupStorage(t *testing.T) {
	addr := brokertest.Start(t)
	m, _ := dial5(t, addr, "member", persist)
	m.sub(t, "$share/workers/jobs/#", 1)
	m.Disconnect(&paho.Disconnect{})
	pub, _ := dial5(t, addr, "pub")
	for i := range 3 {
		pub.pub(t, "jobs/"+strconv.Itoa(i), 1, false, "job")
	}
	back, ca := dial5(t, addr, "member", persist)
	if !ca.SessionPresent {
		t.Fatal("session not resumed")
	}
	back.expect(t, "jobs/0", "jobs/1", "jobs/2") // stored while no member was online
}

func TestFlespiConnackUserProperties(t *testing.T) {
	addr := brokertest.Start(t)
	c, _ := dial5(t, addr, "c", persist)
	c.sub(t, "a/#", 1)
	c.Disconnect(&paho.Disconnect{})
	_, ca := dial5(t, addr, "c", persist)
	props := map[string]string{}
	for _, u := range ca.Properties.User {
		props[u.Key] = u.Value
	}
	// flespi's shape: {"topic","qos","no_local","rap","retain_handling","subscription_id"}.
	var subs []map[string]any
	if err := json.Unmarshal([]byte(props["subscriptions"]), &subs); err != nil || len(subs) != 1 {
		t.Fatalf("subscriptions user property %q (%v)", props["subscriptions"], err)
	}
	want := map[string]any{"topic": "a/#", "qos": 1.0, "no_local": false, "rap": false, "retain_handling": 0.0, "subscription_id": 0.0}
	if !maps.Equal(subs[0], want) {
		t.Fatalf("subscription %v, want %v", subs[0], want)
	}
	var acl []map[string]any
	if err := json.Unmarshal([]byte(props["acl"]), &acl); err != nil || len(acl) == 0 {
		t.Fatalf("acl user property %q (%v)", props["acl"], err)
	}
}

func TestFlespiReservedPrefix(t *testing.T) {
	addr := brokertest.Start(t)
	c, _ := dial5(t, addr, "c")
	if r := c.pubUser(t, "flespi/x", 1, false, "x"); r.ReasonCode != 0x90 {
		t.Fatalf("PUBACK %#x, want 0x90", r.ReasonCode)
	}
}

func ptr[T any](v T) *T { return &v }

// persist asks for a session that outlives the connection by 5 minutes.
func persist(c *paho.Connect) {
	c.CleanStart = false
	c.Properties = &paho.ConnectProperties{SessionExpiryInterval: ptr(uint32(300))}
}

func TestFlespiFeaturesCompose(t *testing.T) {
	// A shared group whose members use a $filter with a selector inside:
	// each accepted message goes to exactly one member.
	addr := brokertest.Start(t)
	const filter = "$share/g/$filter/payload=v%3E1/s/a,b"
	m1, _ := dial5(t, addr, "m1")
	m1.sub(t, filter, 1)
	m2, _ := dial5(t, addr, "m2")
	m2.sub(t, filter, 1)
	pub, _ := dial5(t, addr, "pub")
	for i, tp := range []string{"s/a", "s/b", "s/c", "s/a", "s/b", "s/a"} {
		v := 2
		if i == 3 {
			v = 0 // refused by the expression
		}
		pub.pub(t, tp, 1, false, fmt.Sprintf(`{"v":%d}`, v))
	}
	timeout := time.After(wait)
	got := 0
	for got < 4 { // s/a, s/b, s/b, s/a pass; s/c is not selected, the {"v":0} not accepted
		select {
		case m := <-m1.msgs:
			if m.Topic == "s/c" {
				t.Fatalf("s/c delivered")
			}
		case m := <-m2.msgs:
			if m.Topic == "s/c" {
				t.Fatalf("s/c delivered")
			}
		case <-timeout:
			t.Fatalf("%d of 4 deliveries within %v", got, wait)
		}
		got++
	}
	// Nothing else is queued for either member.
	m1.sub(t, "marker", 0)
	m2.sub(t, "marker", 0)
	pub.pub(t, "marker", 0, false, "m")
	m1.expect(t, "marker")
	m2.expect(t, "marker")
}
