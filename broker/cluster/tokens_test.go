package cluster

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/auth"
	"github.com/mqttboard/mqttboard/broker/restapi"
	"github.com/mqttboard/mqttboard/broker/storage"
)

// tokenNode is a node with --auth token: its own registry (in memory,
// created with the cluster's master key) shared through the cluster, and
// its REST API.
type tokenNode struct {
	*node
	reg *auth.Registry
	api string
}

func startTokenNode(t *testing.T, name, seed, master string) *tokenNode {
	t.Helper()
	reg, _, err := auth.Open(storage.NewMem(), auth.Options{MasterKey: master})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	nd := startNode(t, name, seed, broker.Options{NoStamp: true, Auth: reg}, func(c *Config) { c.Tokens = reg })
	hs := httptest.NewServer(restapi.New(nd.srv, restapi.Options{Tokens: reg}))
	t.Cleanup(hs.Close)
	return &tokenNode{node: nd, reg: reg, api: hs.URL}
}

// call makes a platform API request with key and decodes the result list.
func call(t *testing.T, method, url, key, body string) []auth.Token {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "FlespiToken "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Result []auth.Token `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%s %s: %d %v", method, url, resp.StatusCode, err)
	}
	return out.Result
}

// connectToken connects with key as the user name and returns the client,
// or the CONNACK reason code when refused.
func connectToken(t *testing.T, addr, id, key string) (*client, byte) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{nc: nc, msgs: make(chan *paho.Publish, 100), disc: make(chan *paho.Disconnect, 1)}
	c.Client = paho.NewClient(paho.ClientConfig{Conn: nc, OnServerDisconnect: func(d *paho.Disconnect) { c.disc <- d }})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ca, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30, Username: key, UsernameFlag: true})
	if err != nil {
		if ca != nil {
			return nil, ca.ReasonCode
		}
		t.Fatalf("connect %s: %v", id, err)
	}
	t.Cleanup(func() { c.Disconnect(&paho.Disconnect{}) })
	return c, 0
}

// waitToken returns once reg holds token id (present) or not (!present):
// a change reaches the other nodes a moment after the API answered.
func waitToken(t *testing.T, reg *auth.Registry, id uint64, present bool, enabled bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		tk, ok := reg.Token(id)
		if ok == present && (!ok || tk.Enabled == enabled) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("token %d: present %v enabled %v, want %v %v", id, ok, tk.Enabled, present, enabled)
		}
		time.Sleep(5 * time.Millisecond) // no event for a replicated change; bounded by deadline
	}
}

func waitDisconnect(t *testing.T, c *client, who string) byte {
	t.Helper()
	select {
	case d := <-c.disc:
		return d.ReasonCode
	case <-c.Done():
		select { // paho may close before it hands over the DISCONNECT
		case d := <-c.disc:
			return d.ReasonCode
		case <-time.After(time.Second):
			return 0
		}
	case <-time.After(wait):
		t.Fatalf("%s was not disconnected", who)
	}
	return 0
}

// TestClusterTokens: a token created through the REST API of node 0 lets a
// client connect on node 2; disabled through node 1's API, the client on
// node 2 is disconnected and refused; a second token deleted through node
// 0's API ends its sessions on nodes 1 and 2; the master token (the same
// key given to every node) works on every node's API; a node that joins
// later has every token.
func TestClusterTokens(t *testing.T) {
	master := auth.NewKey()
	var nodes []*tokenNode
	for i := range 3 {
		seed := ""
		if i > 0 {
			seed = nodes[0].cl.ClusterAddr().String()
		}
		nodes = append(nodes, startTokenNode(t, "n"+strconv.Itoa(i), seed, master))
	}
	waitMembers(t, []*node{nodes[0].node, nodes[1].node, nodes[2].node}, 3)

	made := call(t, "POST", nodes[0].api+"/platform/tokens", master, `[{"info":"a","ttl":3600,"access":{"type":0}}]`)
	if len(made) != 1 {
		t.Fatalf("created %+v", made)
	}
	a := made[0]
	waitToken(t, nodes[2].reg, a.ID, true, true)
	ca, code := connectToken(t, nodes[2].addr, "ca", a.Key)
	if code != 0 {
		t.Fatalf("token a on node 2: CONNACK %#x", code)
	}

	call(t, "PUT", nodes[1].api+"/platform/tokens/"+strconv.FormatUint(a.ID, 10), master, `{"enabled":false}`)
	if rc := waitDisconnect(t, ca, "token a's client on node 2"); rc != 0x87 {
		t.Fatalf("token a's client on node 2: DISCONNECT %#x, want 0x87 (not authorized)", rc)
	}
	waitToken(t, nodes[0].reg, a.ID, true, false)
	if _, code := connectToken(t, nodes[0].addr, "ca2", a.Key); code == 0 {
		t.Fatal("disabled token a accepted on node 0")
	}

	b := call(t, "POST", nodes[0].api+"/platform/tokens", master, `[{"info":"b","ttl":3600,"access":{"type":0}}]`)[0]
	waitToken(t, nodes[1].reg, b.ID, true, true)
	waitToken(t, nodes[2].reg, b.ID, true, true)
	cb1, _ := connectToken(t, nodes[1].addr, "cb1", b.Key)
	cb2, _ := connectToken(t, nodes[2].addr, "cb2", b.Key)
	if cb1 == nil || cb2 == nil {
		t.Fatal("token b refused")
	}
	call(t, "DELETE", nodes[0].api+"/platform/tokens/"+strconv.FormatUint(b.ID, 10), master, "")
	for i, c := range []*client{cb1, cb2} {
		if rc := waitDisconnect(t, c, "token b's client"); rc != 0x87 {
			t.Fatalf("token b's client on node %d: DISCONNECT %#x, want 0x87", i+1, rc)
		}
	}
	waitToken(t, nodes[2].reg, b.ID, false, false)
	if _, code := connectToken(t, nodes[2].addr, "cb3", b.Key); code == 0 {
		t.Fatal("deleted token b accepted on node 2")
	}

	for i, nd := range nodes {
		if got := call(t, "GET", nd.api+"/platform/tokens/all", master, ""); len(got) != 2 {
			t.Fatalf("node %d lists %d tokens (master and a), want 2", i, len(got))
		}
	}

	late := startTokenNode(t, "n3", nodes[0].cl.ClusterAddr().String(), master)
	<-late.cl.tokensReady
	if tk, ok := late.reg.Token(a.ID); !ok || tk.Enabled {
		t.Fatalf("the node that joined has token a %+v %v, want it disabled", tk, ok)
	}
	if _, ok := late.reg.Token(b.ID); ok {
		t.Fatal("the node that joined has the deleted token b")
	}
}

// TestClusterTokenExpiry: a token made on node 0 with an expire time a
// moment ahead ends its sessions on nodes 1 and 2 when that time comes:
// each node applies the same record on its own clock.
func TestClusterTokenExpiry(t *testing.T) {
	master := auth.NewKey()
	var nodes []*tokenNode
	for i := range 3 {
		seed := ""
		if i > 0 {
			seed = nodes[0].cl.ClusterAddr().String()
		}
		nodes = append(nodes, startTokenNode(t, "n"+strconv.Itoa(i), seed, master))
	}
	waitMembers(t, []*node{nodes[0].node, nodes[1].node, nodes[2].node}, 3)
	exp := time.Now().Add(2 * time.Second).Unix()
	tk := call(t, "POST", nodes[0].api+"/platform/tokens", master, `[{"info":"soon","expire":`+strconv.FormatInt(exp, 10)+`,"access":{"type":0}}]`)[0]
	var clients []*client
	for _, nd := range nodes[1:] {
		waitToken(t, nd.reg, tk.ID, true, true)
		c, code := connectToken(t, nd.addr, "c"+nd.cl.Name(), tk.Key)
		if code != 0 {
			t.Fatalf("token on %s: CONNACK %#x", nd.cl.Name(), code)
		}
		clients = append(clients, c)
	}
	for i, c := range clients {
		if rc := waitDisconnect(t, c, "the expired token's client"); rc != 0x87 {
			t.Fatalf("client on node %d: DISCONNECT %#x, want 0x87", i+1, rc)
		}
	}
	for _, nd := range nodes {
		waitToken(t, nd.reg, tk.ID, false, false)
	}
}
