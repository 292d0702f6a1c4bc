package restapi_test

import (
	"context"
	"math"
	"testing"

	"github.com/eclipse/paho.golang/paho"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/storage"
)

// TestAPISessionsSurviveRestart: with a persistent store (--data), a
// session made through POST /mqtt/sessions, the subscriptions the API adds
// to it and removes, what is queued for it, and a subscription the API
// adds to a client's live persistent session are all there after a
// restart, and the client resuming the API's session gets its message.
func TestAPISessionsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	open := func() *apiClient {
		st, err := storage.Open(dir, storage.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return newClient(t, broker.Options{Store: st, SysInterval: -1})
	}
	c := open()
	sel := func(id string) map[string]string { return map[string]string{"selector": id} }
	c.ok("POST", "/mqtt/sessions", nil, "", `{"client_id":"api","session_expiry":3600,"subscriptions":[{"filter":"a/#","qos":1}]}`)
	c.ok("POST", "/mqtt/sessions/{selector}/subscriptions", sel("api"), "", `[{"filter":"b/+","qos":1,"subscription_id":3},{"filter":"c/1"}]`)
	c.ok("DELETE", "/mqtt/sessions/{selector}/subscriptions/{filter}", map[string]string{"selector": "api", "filter": "c/1"}, "", "")
	c.ok("POST", "/mqtt/messages", nil, "", `{"topic":"b/x","data":"kept","qos":1}`)
	// Its expiry counts from its creation, however often the API changes it.
	since := one(t, c.ok("GET", "/mqtt/sessions/{selector}", sel("api"), "", ""))["disconnected_at"].(float64)
	live := dial(t, c.addr, "live", true, 600)
	c.ok("POST", "/mqtt/sessions/{selector}/subscriptions", sel("live"), "", `{"filter":"d/#","qos":1}`)
	live.Disconnect(&paho.Disconnect{})

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	c = open()
	api := one(t, c.ok("GET", "/mqtt/sessions/{selector}", sel("api"), "", ""))
	subs := c.ok("GET", "/mqtt/sessions/{selector}/subscriptions", sel("api"), "", "")
	if api["queued"] != 1.0 || api["session_expiry"] != 3600.0 || len(subs) != 2 || subs[0]["filter"] != "a/#" || subs[1]["filter"] != "b/+" || subs[1]["subscription_id"] != 3.0 {
		t.Fatalf("api after restart: %v, subscriptions %v", api, subs)
	}
	if subs := c.ok("GET", "/mqtt/sessions/{selector}/subscriptions", sel("live"), "", ""); len(subs) != 1 || subs[0]["filter"] != "d/#" {
		t.Fatalf("live after restart: subscriptions %v", subs)
	}
	if l := one(t, c.ok("GET", "/mqtt/sessions/{selector}", sel("live"), "", "")); l["protocol"] != "5.0" || l["disconnected_at"] == 0.0 || api["protocol"] != "" {
		t.Fatalf("after restart, live %v, api %v", l, api)
	}

	// Still the API's own after the restart: its changes are stored.
	c.ok("POST", "/mqtt/sessions/{selector}/subscriptions", sel("api"), "", `{"filter":"e/1"}`)
	if err := c.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	c = open()
	if subs := c.ok("GET", "/mqtt/sessions/{selector}/subscriptions", sel("api"), "", ""); len(subs) != 3 || subs[2]["filter"] != "e/1" {
		t.Fatalf("api after the second restart: subscriptions %v", subs)
	}
	if at := one(t, c.ok("GET", "/mqtt/sessions/{selector}", sel("api"), "", ""))["disconnected_at"].(float64); math.Abs(at-since) > 0.001 {
		t.Fatalf("api's offline time: %f after two restarts, %f at its creation", at, since)
	}
	p := dial(t, c.addr, "api", false, 3600)
	m := p.recv(t)
	if m.Topic != "b/x" || string(m.Payload) != "kept" || m.Properties.SubscriptionIdentifier == nil || *m.Properties.SubscriptionIdentifier != 3 {
		t.Fatalf("api's client got %s %q %+v", m.Topic, m.Payload, m.Properties)
	}
}
