package restapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/broker/restapi"
)

const wait = 5 * time.Second

// peer is a paho.golang MQTT 5 client: what it receives is what the
// broker really sent.
type peer struct {
	*paho.Client
	msgs chan *paho.Publish
	disc chan *paho.Disconnect
}

func dial(t *testing.T, addr, id string, clean bool, expiry uint32) *peer {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{msgs: make(chan *paho.Publish, 100), disc: make(chan *paho.Disconnect, 1)}
	p.Client = paho.NewClient(paho.ClientConfig{
		Conn: nc,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			p.msgs <- pr.Packet
			return true, nil
		}},
		OnServerDisconnect: func(d *paho.Disconnect) { p.disc <- d },
	})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	cp := &paho.Connect{ClientID: id, CleanStart: clean, KeepAlive: 30}
	if expiry > 0 {
		cp.Properties = &paho.ConnectProperties{SessionExpiryInterval: &expiry}
	}
	if _, err := p.Connect(ctx, cp); err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	t.Cleanup(func() { p.Disconnect(&paho.Disconnect{}); nc.Close() })
	return p
}

// dialMax connects with a Maximum Packet Size.
func dialMax(t *testing.T, addr, id string, max uint32) *peer {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{msgs: make(chan *paho.Publish, 100), disc: make(chan *paho.Disconnect, 1)}
	p.Client = paho.NewClient(paho.ClientConfig{
		Conn: nc,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			p.msgs <- pr.Packet
			return true, nil
		}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := p.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30, Properties: &paho.ConnectProperties{MaximumPacketSize: &max}}); err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	t.Cleanup(func() { p.Disconnect(&paho.Disconnect{}); nc.Close() })
	return p
}

// TestRemoveSessionSendsWill: removing an offline session whose will waits
// for its delay publishes the will at once, as any session end does.
func TestRemoveSessionSendsWill(t *testing.T) {
	opts, events := brokertest.Events(100)
	c := newClient(t, opts)
	watcher := dial(t, c.addr, "watcher", true, 0)
	watcher.sub(t, "wills/#", 1)
	nc, err := net.Dial("tcp", c.addr)
	if err != nil {
		t.Fatal(err)
	}
	w := paho.NewClient(paho.ClientConfig{Conn: nc})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	expiry, delay := uint32(600), uint32(300)
	if _, err := w.Connect(ctx, &paho.Connect{ClientID: "dying", CleanStart: true, KeepAlive: 30,
		Properties:     &paho.ConnectProperties{SessionExpiryInterval: &expiry},
		WillMessage:    &paho.WillMessage{Topic: "wills/dying", Payload: []byte("gone"), QoS: 1},
		WillProperties: &paho.WillProperties{WillDelayInterval: &delay},
	}); err != nil {
		t.Fatal(err)
	}
	nc.Close() // no DISCONNECT: the will is due, after its delay
	for e := range events {
		if e.Kind == broker.EventDisconnected && e.ClientID == "dying" {
			break
		}
	}
	if s := one(t, c.ok("GET", "/mqtt/sessions/{selector}", map[string]string{"selector": "dying"}, "", "")); s["connected"] != false || s["will_pending"] != true {
		t.Fatalf("dying: %v", s)
	}
	c.ok("DELETE", "/mqtt/sessions/{selector}", map[string]string{"selector": "dying"}, "", "")
	if m := watcher.recv(t); m.Topic != "wills/dying" || string(m.Payload) != "gone" {
		t.Fatalf("watcher got %s %q", m.Topic, m.Payload)
	}
}

func (p *peer) sub(t *testing.T, filter string, qos byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := p.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: qos}}}); err != nil {
		t.Fatalf("subscribe %q: %v", filter, err)
	}
}

func (p *peer) recv(t *testing.T) *paho.Publish {
	t.Helper()
	select {
	case m := <-p.msgs:
		return m
	case <-time.After(wait):
		t.Fatal("no PUBLISH within 5 s")
		return nil
	}
}

func one(t *testing.T, r []map[string]any) map[string]any {
	t.Helper()
	if len(r) != 1 {
		t.Fatalf("want one result, got %v", r)
	}
	return r[0]
}

// TestSessionsAndSubscriptions lists sessions online and offline, creates
// one, manages its subscriptions while it is offline, and removes a live
// one: the MQTT clients observe the effects.
func TestSessionsAndSubscriptions(t *testing.T) {
	opts, events := brokertest.Events(100)
	c := newClient(t, opts)
	live := dial(t, c.addr, "live", false, 300)
	live.sub(t, "t/live", 1)

	c.ok("POST", "/mqtt/sessions", nil, "", `{"client_id":"off","session_expiry":300,"subscriptions":[{"filter":"t/#","qos":1,"subscription_id":5}]}`)
	all := c.ok("GET", "/mqtt/sessions/{selector}", map[string]string{"selector": "all"}, "", "")
	if len(all) != 2 || all[0]["client_id"] != "live" || all[1]["client_id"] != "off" {
		t.Fatalf("all: %v", all)
	}
	l, o := all[0], all[1]
	if l["connected"] != true || l["protocol"] != "5.0" || l["session_expiry"] != 300.0 || l["clean"] != false || !strings.HasPrefix(l["address"].(string), "127.0.0.1:") || l["subscriptions_count"] != 1.0 {
		t.Fatalf("live: %v", l)
	}
	if o["connected"] != false || o["subscriptions_count"] != 1.0 {
		t.Fatalf("off: %v", o)
	}
	if got := c.ok("GET", "/mqtt/sessions/{selector}", map[string]string{"selector": "connected=false"}, "fields=client_id", ""); len(got) != 1 || got[0]["client_id"] != "off" || len(got[0]) != 1 {
		t.Fatalf("connected=false: %v", got)
	}
	if got := c.ok("GET", "/mqtt/sessions/{selector}", map[string]string{"selector": "live,client_id=o*"}, "", ""); len(got) != 2 {
		t.Fatalf("live,client_id=o*: %v", got)
	}

	// Subscriptions of the offline session: add, change, remove.
	c.ok("POST", "/mqtt/sessions/{selector}/subscriptions", map[string]string{"selector": "off"}, "", `[{"filter":"u/1","qos":0}]`)
	if s := one(t, c.ok("PUT", "/mqtt/sessions/{selector}/subscriptions/{filter}", map[string]string{"selector": "off", "filter": "u/1"}, "", `{"qos":1}`)); s["qos"] != 1.0 {
		t.Fatalf("put: %v", s)
	}
	subs := c.ok("GET", "/mqtt/sessions/{selector}/subscriptions", map[string]string{"selector": "off"}, "", "")
	if len(subs) != 2 || subs[0]["filter"] != "t/#" || subs[0]["subscription_id"] != 5.0 || subs[1]["filter"] != "u/1" || subs[1]["qos"] != 1.0 {
		t.Fatalf("subscriptions of off: %v", subs)
	}
	c.ok("POST", "/mqtt/messages", nil, "", `[{"topic":"t/x","data":"for off","qos":1},{"topic":"u/1","data":"u1","qos":1}]`)
	if s := one(t, c.ok("GET", "/mqtt/sessions/{selector}", map[string]string{"selector": "off"}, "", "")); s["queued"] != 2.0 {
		t.Fatalf("off should hold 2 queued messages: %v", s)
	}
	if r := c.ok("DELETE", "/mqtt/sessions/{selector}/subscriptions/{filter}", map[string]string{"selector": "off", "filter": "u/1"}, "", ""); len(r) != 1 {
		t.Fatalf("delete subscription: %v", r)
	}
	c.ok("POST", "/mqtt/messages", nil, "", `{"topic":"u/1","data":"not for off","qos":1}`)

	// The client of "off" connects and resumes the session made through
	// the API: it gets what was queued, and nothing for u/1 after the
	// unsubscribe.
	offc := dial(t, c.addr, "off", false, 300)
	m := offc.recv(t)
	if m.Topic != "t/x" || string(m.Payload) != "for off" || m.Properties.SubscriptionIdentifier == nil || *m.Properties.SubscriptionIdentifier != 5 {
		t.Fatalf("off got %s %q %+v", m.Topic, m.Payload, m.Properties)
	}
	if m := offc.recv(t); m.Topic != "u/1" || string(m.Payload) != "u1" {
		t.Fatalf("off got %s %q", m.Topic, m.Payload)
	}
	c.ok("POST", "/mqtt/messages", nil, "", `{"topic":"t/end","data":"end","qos":1}`)
	if m := offc.recv(t); m.Topic != "t/end" {
		t.Fatalf("after unsubscribe from u/1, off got %s %q", m.Topic, m.Payload)
	}

	// DELETE a live session: its client is disconnected with 0x98 and the
	// session is gone.
	if r := c.ok("DELETE", "/mqtt/sessions/{selector}", map[string]string{"selector": "live"}, "", ""); len(r) != 1 || r[0]["connected"] != true {
		t.Fatalf("delete live: %v", r)
	}
	select {
	case d := <-live.disc:
		if d.ReasonCode != 0x98 {
			t.Fatalf("live got DISCONNECT %#x", d.ReasonCode)
		}
	case <-time.After(wait):
		t.Fatal("live was not disconnected")
	}
	if r := c.do("GET", "/mqtt/sessions/{selector}", map[string]string{"selector": "live"}, "", "", true); r.status != 404 {
		t.Fatalf("live after delete: %d %s", r.status, r.body)
	}
	_ = events
}

// TestLogs: records over REST and over MQTT, and '#' does not receive
// them.
func TestLogs(t *testing.T) {
	c := newClient(t, broker.Options{})
	watcher := dial(t, c.addr, "watcher", true, 0)
	watcher.sub(t, "flespi/log/mqtt/sessions/+/+", 0)
	all := dial(t, c.addr, "all", true, 0)
	all.sub(t, "#", 0)
	// A $filter subscription on log topics: only disconnect records.
	filtered := dial(t, c.addr, "filtered", true, 0)
	filtered.sub(t, "$filter/payload=event_code==301/flespi/log/mqtt/sessions/+/+", 0)

	dev := dial(t, c.addr, "dev/1", true, 0)
	dev.sub(t, "d/#", 1)
	var seen []string
	for len(seen) < 3 {
		m := watcher.recv(t)
		var rec map[string]any
		if err := json.Unmarshal(m.Payload, &rec); err != nil {
			t.Fatalf("%s: %v", m.Topic, err)
		}
		if rec["client_id"] != "dev/1" {
			continue
		}
		seen = append(seen, m.Topic)
		if !strings.HasSuffix(m.Topic, "/"+rec["event_type"].(string)) || rec["event_origin"] != "mqtt/sessions/dev/1" {
			t.Fatalf("%s: %v", m.Topic, rec)
		}
	}
	want := []string{"flespi/log/mqtt/sessions/dev%2F1/created", "flespi/log/mqtt/sessions/dev%2F1/connected", "flespi/log/mqtt/sessions/dev%2F1/subscribed"}
	if strings.Join(seen, " ") != strings.Join(want, " ") {
		t.Fatalf("log topics %v; want %v", seen, want)
	}
	// The log records were routed before this marker, and '#' got none.
	c.ok("POST", "/mqtt/messages", nil, "", `{"topic":"marker","data":"m"}`)
	if m := all.recv(t); m.Topic != "marker" {
		t.Fatalf("'#' received %s", m.Topic)
	}

	dev.Disconnect(&paho.Disconnect{})
	for {
		m := watcher.recv(t)
		if strings.HasSuffix(m.Topic, "dev%2F1/deleted") {
			break
		}
	}
	if m := filtered.recv(t); m.Topic != "flespi/log/mqtt/sessions/dev%2F1/disconnected" {
		t.Fatalf("$filter on log topics got %s %s", m.Topic, m.Payload)
	}
	recs := c.ok("GET", "/mqtt/logs", nil, "data="+url.QueryEscape(`{"filter":"client_id==\"dev/1\""}`), "")
	var types []string
	for _, r := range recs {
		types = append(types, r["event_type"].(string))
	}
	if strings.Join(types, ",") != "created,connected,subscribed,disconnected,deleted" {
		t.Fatalf("dev/1 records: %v", types)
	}
	conn, disc := recs[1], recs[3]
	if conn["protocol"] != "5.0" || conn["clean"] != true || conn["keep_alive"] != 30.0 || conn["event_code"] != 300.0 {
		t.Fatalf("connected: %v", conn)
	}
	if disc["reason_code"] != 0.0 || disc["published"] != 0.0 || disc["event_code"] != 301.0 {
		t.Fatalf("disconnected: %v", disc)
	}
	if recs[2]["topic"] != "d/#" {
		t.Fatalf("subscribed: %v", recs[2])
	}
	// Newest first, counted, paged.
	last := c.ok("GET", "/mqtt/logs", nil, "data="+url.QueryEscape(`{"count":1,"reverse":true}`), "")
	if one(t, last)["event_type"] != "deleted" {
		t.Fatalf("newest: %v", last)
	}
	after := c.ok("GET", "/mqtt/logs", nil, "data="+url.QueryEscape(`{"after_id":`+jsonNum(recs[3]["id"])+`}`), "")
	if len(after) != 1 || after[0]["event_type"] != "deleted" {
		t.Fatalf("after_id: %v", after)
	}
}

func jsonNum(v any) string { b, _ := json.Marshal(v); return string(b) }

// TestMetrics scrapes /metrics and reads figures the broker reports.
func TestMetrics(t *testing.T) {
	c := newClient(t, broker.Options{SysInterval: -1}) // no $SYS retained messages
	p := dial(t, c.addr, "m1", true, 0)
	p.sub(t, "$share/g/s/+", 0)
	c.ok("POST", "/mqtt/messages", nil, "", `[{"topic":"r/1","data":"abc","retained":true},{"topic":"r/2","data":"abcd","retained":true}]`)
	// A client whose Maximum Packet Size a message exceeds: dropped as too
	// large; the next, small one arrives, so the drop has happened.
	small := dialMax(t, c.addr, "small", 100) // room for the stamped user properties
	small.sub(t, "big/#", 0)
	c.ok("POST", "/mqtt/messages", nil, "", `[{"topic":"big/1","data":"`+strings.Repeat("x", 200)+`"},{"topic":"big/2","data":"y"}]`)
	if m := small.recv(t); m.Topic != "big/2" {
		t.Fatalf("small got %s", m.Topic)
	}

	// 64 PUBLISHes from one connection: routing is timed once.
	for i := range 64 {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		_, err := p.Publish(ctx, &paho.Publish{Topic: "lat/x", QoS: 1, Payload: []byte{byte(i)}})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	rec := httptest.NewRecorder()
	c.api.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	val := func(name string, labels ...string) float64 {
		f := fams[name]
		if f == nil {
			t.Fatalf("%s missing", name)
		}
	next:
		for _, m := range f.Metric {
			for i := 0; i+1 < len(labels); i += 2 {
				ok := false
				for _, lp := range m.Label {
					ok = ok || (lp.GetName() == labels[i] && lp.GetValue() == labels[i+1])
				}
				if !ok {
					continue next
				}
			}
			switch {
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Counter != nil:
				return m.Counter.GetValue()
			}
		}
		t.Fatalf("%s%v missing", name, labels)
		return 0
	}
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"mqttboard_connections", []string{"protocol", "5.0"}, 2},
		{"mqttboard_connections", []string{"protocol", "3.1.1"}, 0},
		{"mqttboard_sessions", []string{"state", "online"}, 2},
		{"mqttboard_retained_messages", nil, 2},
		{"mqttboard_subscriptions", nil, 2},
		{"mqttboard_shared_groups", nil, 1},
		{"mqttboard_messages_received_total", nil, 68},
		{"mqttboard_messages_dropped_total", []string{"cause", "too_large"}, 1},
		{"mqttboard_messages_dropped_total", []string{"cause", "queue_full"}, 0},
	} {
		if got := val(tc.name, tc.labels...); got != tc.want {
			t.Errorf("%s%v = %v; want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	if val("mqttboard_retained_bytes") < 7 || val("mqttboard_connections_total") < 1 {
		t.Errorf("retained bytes %v, connections total %v", val("mqttboard_retained_bytes"), val("mqttboard_connections_total"))
	}
	if h := fams["mqttboard_route_latency_seconds"]; h == nil || h.Metric[0].Histogram.GetSampleCount() != 1 || len(h.Metric[0].Histogram.Bucket) != 17 {
		t.Errorf("route latency histogram: %v", h)
	}
	if fams["go_goroutines"] == nil {
		t.Error("Go runtime metrics missing")
	}
}

func TestHealthz(t *testing.T) {
	c := newClient(t, broker.Options{})
	if r := one(t, c.ok("GET", "/healthz", nil, "", "")); r["status"] != "ok" {
		t.Fatalf("healthz: %v", r)
	}
	if r := one(t, c.ok("GET", "/healthz", nil, "", "")); r["listeners"] != nil {
		t.Fatalf("healthz of an API told no listeners: %v", r)
	}

	// Told its broker's listeners, it reports them (the board's
	// --broker-http connects to the first mqtt:// one), and the Go
	// client reads them back.
	urls := []string{"mqtt://" + c.addr, "ws://127.0.0.1:8080/mqtt"}
	c.api = restapi.New(c.srv, restapi.Options{Listeners: urls})
	if r := one(t, c.ok("GET", "/healthz", nil, "", "")); fmt.Sprint(r["listeners"]) != fmt.Sprint(urls) {
		t.Fatalf("healthz listeners %v, want %v", r["listeners"], urls)
	}
	hs := httptest.NewServer(c.api)
	defer hs.Close()
	h, err := (&restapi.Client{Base: hs.URL}).Health(context.Background())
	if err != nil || h.Status != "ok" || !slices.Equal(h.Listeners, urls) {
		t.Fatalf("Client.Health: %+v, %v", h, err)
	}

	c.srv.Close()
	if r := c.do("GET", "/healthz", nil, "", "", true); r.status != 503 {
		t.Fatalf("healthz after Close: %d", r.status)
	}
	if _, err := (&restapi.Client{Base: hs.URL}).Health(context.Background()); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("Client.Health after Close: %v, want a 503 error", err)
	}
}

// TestLogsDeniedAndProtocolError: an ACL denial and a protocol error are
// logged, with what was denied and why the client was disconnected.
func TestLogsDeniedAndProtocolError(t *testing.T) {
	cfg, err := broker.ParseConfig("acl.yaml", []byte("acl:\n  default: allow\n  rules:\n    - {action: publish, allow: false, topics: [\"secret/#\"]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	var opts broker.Options
	cfg.Apply(&opts)
	c := newClient(t, opts)
	watcher := dial(t, c.addr, "watcher", true, 0)
	watcher.sub(t, "flespi/log/mqtt/sessions/+/denied", 0)
	watcher.sub(t, "flespi/log/mqtt/sessions/+/error", 0)

	p := dial(t, c.addr, "sneaky", true, 0)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if pr, err := p.Publish(ctx, &paho.Publish{Topic: "secret/x", QoS: 1, Payload: []byte("x")}); err == nil && pr.ReasonCode != 0x87 {
		t.Fatalf("PUBACK %#x", pr.ReasonCode)
	}
	m := watcher.recv(t)
	var rec map[string]any
	json.Unmarshal(m.Payload, &rec)
	if m.Topic != "flespi/log/mqtt/sessions/sneaky/denied" || rec["action"] != "publish" || rec["topic"] != "secret/x" || rec["event_code"] != 307.0 {
		t.Fatalf("%s %v", m.Topic, rec)
	}

	// A raw client sends a PUBLISH with QoS 3: malformed.
	nc, err := net.Dial("tcp", c.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// CONNECT 5.0, clean start, keep alive 30, no properties, client id "bad".
	nc.Write([]byte{0x10, 16, 0, 4, 'M', 'Q', 'T', 'T', 5, 2, 0, 30, 0, 0, 3, 'b', 'a', 'd'})
	ack := make([]byte, 64)
	nc.SetReadDeadline(time.Now().Add(wait))
	if n, err := nc.Read(ack); err != nil || n < 2 || ack[0] != 0x20 {
		t.Fatalf("CONNACK %x %v", ack[:n], err)
	}
	nc.Write([]byte{0x36, 4, 0, 1, 'a', 0}) // PUBLISH QoS 3
	m = watcher.recv(t)
	rec = nil
	json.Unmarshal(m.Payload, &rec)
	if m.Topic != "flespi/log/mqtt/sessions/bad/error" || rec["reason_code"] != float64(0x81) || rec["event_code"] != 308.0 || rec["reason"] == "" {
		t.Fatalf("%s %v", m.Topic, rec)
	}
}
