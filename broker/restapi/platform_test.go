package restapi_test

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/auth"
	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/broker/restapi"
	"github.com/mqttboard/mqttboard/broker/storage"
)

// tokenClient is an API client of a broker with token authentication,
// presenting key.
func tokenClient(t *testing.T) (*apiClient, *auth.Registry, string) {
	t.Helper()
	reg, master, err := auth.Open(storage.NewMem(), auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	srv, addr := brokertest.StartServer(t, broker.Options{Auth: reg})
	c := &apiClient{t: t, srv: srv, addr: addr, api: restapi.New(srv, restapi.Options{Tokens: reg}), doc: loadDoc(t)}
	c.as(master, "")
	return c, reg, master
}

// as sets the token (and x-flespi-cid) of the following requests.
func (c *apiClient) as(key, cid string) {
	c.header = http.Header{}
	if key != "" {
		c.header.Set("Authorization", "FlespiToken "+key)
	}
	if cid != "" {
		c.header.Set("x-flespi-cid", cid)
	}
}

func num(v any) uint64 { f, _ := v.(float64); return uint64(f) }

// TestPlatformTokens: the token lifecycle over REST in flespi's shapes,
// and who may call what.
func TestPlatformTokens(t *testing.T) {
	c, reg, master := tokenClient(t)
	res := c.ok("POST", "/platform/tokens", nil, "", `[{"info":"reader","ttl":3600,"access":{"type":2,"acl":[{"uri":"mqtt","topic":"a/#","actions":["subscribe"]}]}}]`)
	id, key := num(res[0]["id"]), res[0]["key"].(string)
	if id == 0 || len(key) != auth.KeyLen || num(res[0]["cid"]) != 1 {
		t.Fatalf("created %v", res[0])
	}
	ids := strconv.FormatUint(id, 10)
	if got := c.ok("GET", "/platform/tokens/{selector}", map[string]string{"selector": ids}, "", ""); len(got) != 1 || got[0]["info"] != "reader" {
		t.Fatalf("GET %v", got)
	}
	if ident, _, _ := reg.Authenticate(key, nil, false); ident == nil {
		t.Fatal("the new token does not connect")
	}
	c.ok("PUT", "/platform/tokens/{selector}", map[string]string{"selector": ids}, "", `{"enabled":false}`)
	if ident, code, _ := reg.Authenticate(key, nil, false); ident != nil || code != 0x87 {
		t.Fatalf("disabled token: %v %#x", ident, code)
	}
	c.ok("PUT", "/platform/tokens/{selector}", map[string]string{"selector": ids}, "", `{"enabled":true}`)

	// An ACL token may use neither the platform nor the broker's API.
	c.as(key, "")
	for _, op := range [][2]string{{"/platform/tokens/{selector}", "all"}, {"/mqtt/sessions/{selector}", "all"}} {
		if r := c.do("GET", op[0], map[string]string{"selector": op[1]}, "", "", true); r.status != 403 {
			t.Fatalf("ACL token on %s: %d %s", op[0], r.status, r.body)
		}
	}
	c.as("", "")
	if r := c.do("GET", "/platform/tokens/{selector}", map[string]string{"selector": "all"}, "", "", true); r.status != 401 {
		t.Fatalf("no token: %d", r.status)
	}
	c.as(master, "")
	for _, b := range []string{`[{"info":"no lifetime"}]`, `[{"ttl":1,"access":{"type":2,"acl":[{"uri":"mqtt","topic":"flespi/#","actions":["subscribe"]}]}}]`, `[{"ttl":1,"color":"red"}]`} {
		if r := c.do("POST", "/platform/tokens", nil, "", b, false); r.status != 400 {
			t.Fatalf("%s: %d %s", b, r.status, r.body)
		}
	}
	if got := c.ok("DELETE", "/platform/tokens/{selector}", map[string]string{"selector": ids}, "", ""); len(got) != 1 || num(got[0]["id"]) != id {
		t.Fatalf("DELETE %v", got)
	}
	if ident, _, _ := reg.Authenticate(key, nil, false); ident != nil {
		t.Fatal("a deleted token connects")
	}
}

// TestPlatformSubaccounts: subaccounts, x-flespi-cid, and the branch
// rule.
func TestPlatformSubaccounts(t *testing.T) {
	c, reg, master := tokenClient(t)
	res := c.ok("POST", "/platform/subaccounts", nil, "", `[{"name":"a"},{"name":"b"}]`)
	a, b := strconv.FormatUint(num(res[0]["id"]), 10), strconv.FormatUint(num(res[1]["id"]), 10)
	c.as(master, a)
	tk := c.ok("POST", "/platform/tokens", nil, "", `{"ttl":60,"access":{"type":1}}`)
	if strconv.FormatUint(num(tk[0]["cid"]), 10) != a {
		t.Fatalf("token created in %v, want %s", tk[0]["cid"], a)
	}
	// a's master may not act in its sibling b, nor use the broker's API.
	c.as(tk[0]["key"].(string), b)
	if r := c.do("GET", "/platform/tokens/{selector}", map[string]string{"selector": "all"}, "", "", true); r.status != 403 {
		t.Fatalf("sibling: %d %s", r.status, r.body)
	}
	c.as(tk[0]["key"].(string), "")
	if r := c.do("GET", "/mqtt/sessions/{selector}", map[string]string{"selector": "all"}, "", "", true); r.status != 403 {
		t.Fatalf("subaccount master on /mqtt: %d", r.status)
	}
	c.as(master, "")
	if got := c.ok("GET", "/platform/subaccounts/{selector}", map[string]string{"selector": "all"}, "", ""); len(got) != 2 {
		t.Fatalf("subaccounts %v", got)
	}
	c.ok("DELETE", "/platform/subaccounts/{selector}", map[string]string{"selector": a}, "", "")
	if ident, _, _ := reg.Authenticate(tk[0]["key"].(string), nil, false); ident != nil {
		t.Fatal("a deleted subaccount's token connects")
	}
}

// TestPlatformWithoutTokens: with --auth none the platform methods say
// how to get them.
func TestPlatformWithoutTokens(t *testing.T) {
	c := newClient(t, broker.Options{})
	if r := c.do("GET", "/platform/tokens/{selector}", map[string]string{"selector": "all"}, "", "", true); r.status != 404 {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

// TestPublishStampsToken: a message published through the API carries
// the token_id of the token the request presented.
func TestPublishStampsToken(t *testing.T) {
	c, reg, master := tokenClient(t)
	var masterID uint64
	ts, _ := reg.Tokens(1, "all")
	for _, tk := range ts {
		if tk.Key == master {
			masterID = tk.ID
		}
	}
	c.ok("POST", "/mqtt/messages", nil, "", `{"topic":"stamped","data":"x","retained":true,"user_properties":{"token_id":"666"}}`)
	got := c.ok("GET", "/mqtt/messages/{topic}", map[string]string{"topic": "stamped"}, "", "")
	up, _ := got[0]["user_properties"].(map[string]any)
	if len(got) != 1 || up["token_id"] != strconv.FormatUint(masterID, 10) {
		t.Fatalf("retained %v, want token_id %d", got, masterID)
	}
}

// TestPublishIntoSubaccount: a master token with x-flespi-cid publishes
// into that subaccount's namespace, a subaccount's standard token into its
// own; the same retained topic is then two messages, one per account.
func TestPublishIntoSubaccount(t *testing.T) {
	c, _, master := tokenClient(t)
	res := c.ok("POST", "/platform/subaccounts", nil, "", `[{"name":"a"},{"name":"b"}]`)
	a, b := strconv.FormatUint(num(res[0]["id"]), 10), strconv.FormatUint(num(res[1]["id"]), 10)
	c.as(master, b)
	tb := c.ok("POST", "/platform/tokens", nil, "", `{"ttl":60}`)[0]["key"].(string)
	c.as(master, a)
	c.ok("POST", "/mqtt/messages", nil, "", `{"topic":"same","data":"for a","retained":true}`)
	c.as(tb, "")
	c.ok("POST", "/mqtt/messages", nil, "", `{"topic":"same","data":"for b","retained":true}`)
	if r := c.do("GET", "/mqtt/messages/{topic}", map[string]string{"topic": "same"}, "", "", true); r.status != 403 {
		t.Fatalf("a subaccount token read the broker-wide retained store: %d", r.status)
	}
	c.as(master, "")
	got := c.ok("GET", "/mqtt/messages/{topic}", map[string]string{"topic": "same"}, "", "")
	cids := map[string]string{}
	for _, m := range got {
		up, _ := m["user_properties"].(map[string]any)
		cids[up["cid"].(string)] = m["data"].(string)
	}
	if len(got) != 2 || cids[a] != "for a" || cids[b] != "for b" {
		t.Fatalf("retained %v", got)
	}
}

// TestAPISubscriptionConfined: a subscription the API adds to a session of
// a subaccount receives that account's messages only, as the client's own
// would.
func TestAPISubscriptionConfined(t *testing.T) {
	c, reg, master := tokenClient(t)
	a, _ := reg.CreateAccount(1, "a")
	b, _ := reg.CreateAccount(1, "b")
	ta, _ := reg.CreateToken(a.ID, auth.TokenSpec{TTL: ptrInt(60)})
	msgs := make(chan *paho.Publish, 10)
	nc, err := net.Dial("tcp", c.addr)
	if err != nil {
		t.Fatal(err)
	}
	cl := paho.NewClient(paho.ClientConfig{Conn: nc, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) { msgs <- pr.Packet; return true, nil }}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cl.Connect(ctx, &paho.Connect{ClientID: "in-a", Username: ta.Key, UsernameFlag: true, CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatal(err)
	}
	defer cl.Disconnect(&paho.Disconnect{})
	c.ok("POST", "/mqtt/sessions/{selector}/subscriptions", map[string]string{"selector": "in-a"}, "", `[{"filter":"#","qos":0}]`)
	c.as(master, strconv.FormatUint(b.ID, 10))
	c.ok("POST", "/mqtt/messages", nil, "", `{"topic":"x","data":"for b"}`)
	c.as(master, strconv.FormatUint(a.ID, 10))
	c.ok("POST", "/mqtt/messages", nil, "", `{"topic":"x","data":"for a"}`)
	if p := brokertest.Recv(t, msgs, 5*time.Second); string(p.Payload) != "for a" {
		t.Fatalf("the API's subscription received %q from another account", p.Payload)
	}
}

func ptrInt(v int64) *int64 { return &v }
