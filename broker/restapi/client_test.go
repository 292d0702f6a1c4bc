package restapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/broker/restapi"
)

// TestClientRoundTrip: what restapi.Client reads over HTTP is what the
// broker's own inspection methods return (the board's broker pane shows a
// remote broker through it).
func TestClientRoundTrip(t *testing.T) {
	c := newClient(t, broker.Options{SysInterval: -1})
	hs := httptest.NewServer(c.api)
	defer hs.Close()
	cl := &restapi.Client{Base: hs.URL}
	ctx := context.Background()

	a := dial(t, c.addr, "a", true, 0)
	a.sub(t, "q/#", 0)
	a.sub(t, "$share/g/s/#", 1)
	c.ok("POST", "/mqtt/sessions", nil, "", `{"client_id":"off","session_expiry":300,"subscriptions":[{"filter":"q/#","qos":1,"subscription_id":7,"no_local":true}]}`)
	c.ok("POST", "/mqtt/messages", nil, "", `[{"topic":"q/1","data":"one","qos":1},{"topic":"r/1","data":"kept","retained":true}]`)
	a.recv(t)
	for range 64 { // latency samples: the first of a connection
		if _, err := a.Publish(ctx, &paho.Publish{Topic: "lat/x", QoS: 1, Payload: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}

	want := c.srv.Sessions()
	got, err := cl.Sessions(ctx, "all")
	if err != nil {
		t.Fatal(err)
	}
	// Times go through JSON as float seconds (a quarter microsecond's
	// precision today): equal within a microsecond is equal.
	near := func(g *time.Time, w time.Time) {
		if d := g.Sub(w); d > -time.Microsecond && d < time.Microsecond {
			*g = w
		}
	}
	for i := range min(len(got), len(want)) {
		near(&got[i].CreatedAt, want[i].CreatedAt)
		near(&got[i].ConnectedAt, want[i].ConnectedAt)
		near(&got[i].DisconnectedAt, want[i].DisconnectedAt)
	}
	if len(got) != 2 || !reflect.DeepEqual(got[1], want[1]) || got[0].ClientID != "a" || got[0].Published != want[0].Published {
		t.Fatalf("sessions over HTTP:\n%+v\nin process:\n%+v", got, want)
	}

	// The broker counts a packet's bytes once its write returns, which
	// may be after the client read it: take both snapshots again
	// (bounded) until they agree, not only once.
	var wm, gm broker.Metrics
	for try := 0; ; try++ {
		wm = c.srv.Metrics()
		gm, err = cl.Metrics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wm.Uptime, gm.Uptime = 0, 0
		if reflect.DeepEqual(gm, wm) {
			break
		}
		if try == 50 {
			t.Fatalf("metrics over HTTP:\n%+v\nin process:\n%+v", gm, wm)
		}
		time.Sleep(10 * time.Millisecond) // a counter settling: no event says so
	}
	if gm.RouteLatency.Counts == nil || gm.SharedGroups != 1 || gm.Retained != 1 {
		t.Fatalf("metrics: %+v", gm)
	}

	wl, _ := c.srv.Logs(broker.LogQuery{Count: 5, Reverse: true})
	gl, err := cl.Logs(ctx, broker.LogQuery{Count: 5, Reverse: true})
	if err != nil || !reflect.DeepEqual(gl, wl) {
		t.Fatalf("logs over HTTP (%v):\n%+v\nin process:\n%+v", err, gl, wl)
	}

	// Errors come back with the API's reason.
	_, err = cl.Logs(ctx, broker.LogQuery{Filter: "event_code=="})
	var ae *restapi.APIError
	if !errors.As(err, &ae) || ae.Status != 400 || !strings.Contains(ae.Reason, "filter") {
		t.Fatalf("bad filter: %v", err)
	}
}

// TestClientToken: Client.Token goes out as "Authorization: FlespiToken
// <key>"; a refusal comes back as an APIError with the status.
func TestClientToken(t *testing.T) {
	srv, _ := brokertest.StartServer(t, broker.Options{SysInterval: -1})
	api := restapi.New(srv, restapi.Options{Authorize: func(r *http.Request, _ restapi.Access) error {
		if r.Header.Get("Authorization") != "FlespiToken sesame" {
			return restapi.ErrUnauthorized
		}
		return nil
	}})
	hs := httptest.NewServer(api)
	defer hs.Close()
	ctx := context.Background()
	var ae *restapi.APIError
	if _, err := (&restapi.Client{Base: hs.URL}).Metrics(ctx); !errors.As(err, &ae) || ae.Status != 401 {
		t.Fatalf("no token: %v", err)
	}
	if _, err := (&restapi.Client{Base: hs.URL, Token: "sesame"}).Sessions(ctx, "all"); err != nil {
		t.Fatalf("with the token: %v", err)
	}
}
