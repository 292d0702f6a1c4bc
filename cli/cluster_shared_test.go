package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/internal/testproc"
)

// TestClusterMosquittoShared: two mosquitto_sub in one $share group on
// nodes a and b of three `mqttboard broker` processes, mosquitto_pub on
// node c (which has no member): counted at the two mosquitto_sub, every
// message reaches the group exactly once and both members take a share.
func TestClusterMosquittoShared(t *testing.T) {
	subBin, err1 := exec.LookPath("mosquitto_sub")
	pubBin, err2 := exec.LookPath("mosquitto_pub")
	if err1 != nil || err2 != nil {
		t.Skip("mosquitto_sub/mosquitto_pub not installed (Debian package mosquitto-clients); skipping")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nodeCtx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	a, aCluster := startNode(t, nodeCtx, "--cluster-listen", "127.0.0.1:0", "--node-name", "a")
	b, _ := startNode(t, nodeCtx, "--cluster-listen", "127.0.0.1:0", "--cluster-peer", aCluster, "--node-name", "b")
	c, _ := startNode(t, nodeCtx, "--cluster-listen", "127.0.0.1:0", "--cluster-peer", aCluster, "--node-name", "c")
	pub := func(addr string, args ...string) {
		t.Helper()
		if out, err := testproc.Tie(exec.CommandContext(ctx, pubBin, append(mosqAddr(addr), args...)...)).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_pub %v: %v %s", args, err, out)
		}
	}
	// A retained marker set on c and seen on a and b: the routes c-a and
	// c-b are up (NATS forms c-b by itself).
	pub(c, "-r", "-q", "1", "-t", "mark/c", "-m", "c")
	for _, at := range []string{a, b} {
		meshed := false
		for range 50 {
			out, _ := testproc.Tie(exec.CommandContext(ctx, subBin, append(mosqAddr(at), "-t", "mark/c", "-C", "1", "-W", "1", "-v")...)).Output()
			if strings.Contains(string(out), "mark/c c") {
				meshed = true
				break
			}
		}
		if !meshed {
			t.Fatalf("the retained marker of c never reached %s", at)
		}
	}
	const N = 300
	type member struct {
		cmd   *exec.Cmd
		lines *bufio.Scanner
	}
	var members []member
	for i, at := range []string{a, b} {
		cmd := testproc.Tie(exec.CommandContext(ctx, subBin, append(mosqAddr(at), "-V", "5", "-q", "1", "-i", fmt.Sprint("m", i),
			"-t", "$share/g/t/#", "-t", "mark/c", "-t", "end", "-v")...))
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		lines := bufio.NewScanner(out)
		// The retained marker comes after SUBACK, which waited until
		// every node knew the new member.
		if !lines.Scan() || lines.Text() != "mark/c c" {
			t.Fatalf("member %d: first line %q", i, lines.Text())
		}
		members = append(members, member{cmd, lines})
	}
	var in strings.Builder
	for i := range N {
		fmt.Fprintf(&in, "%d\n", i)
	}
	p := testproc.Tie(exec.CommandContext(ctx, pubBin, append(mosqAddr(c), "-q", "1", "-t", "t/x", "-l")...))
	p.Stdin = strings.NewReader(in.String())
	if o, err := p.CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub -l: %v %s", err, o)
	}
	pub(c, "-q", "1", "-t", "end", "-m", "end")
	seen := map[string]int{}
	for i, m := range members {
		got := 0
		for {
			if !m.lines.Scan() {
				t.Fatalf("member %d ended before the end marker", i)
			}
			l := m.lines.Text()
			if l == "end end" {
				break
			}
			if j, dup := seen[l]; dup {
				t.Fatalf("%q reached member %d and member %d", l, j, i)
			}
			seen[l] = i
			got++
		}
		if got == 0 {
			t.Errorf("member %d (on node %s) got none of the %d messages", i, []string{"a", "b"}[i], N)
		}
		t.Logf("member %d got %d", i, got)
	}
	if len(seen) != N {
		t.Fatalf("the group got %d of %d messages", len(seen), N)
	}
}

// TestClusterTokenNeedsMasterKey: --auth token in a cluster without a
// master token is a usage error naming the fix (each node would otherwise
// generate its own master token, valid on it alone).
func TestClusterTokenNeedsMasterKey(t *testing.T) {
	t.Setenv("MQTTBOARD_MASTER_TOKEN", "")
	code, out, e := mqttboard(t, "", "broker", "--listen", "127.0.0.1:0", "--auth", "token", "--cluster-listen", "127.0.0.1:0")
	if code != ExitUsage || !strings.Contains(e, "--master-token") || strings.Contains(out, "listening on") {
		t.Fatalf("exit %d, stdout %q, stderr %q: want a usage error naming --master-token", code, out, e)
	}
}

// TestClusterSecretFlag: a secret too short to resist guessing, or with a
// space, is a usage error naming the flag, from the flag or the
// environment; two nodes given the same secret (one by flag, one by
// MQTTBOARD_CLUSTER_SECRET) form a cluster.
func TestClusterSecretFlag(t *testing.T) {
	for _, s := range []string{"short", "with a space 0123456789"} {
		code, _, e := mqttboard(t, "", "broker", "--listen", "127.0.0.1:0", "--cluster-listen", "127.0.0.1:0", "--cluster-secret", s)
		if code != ExitUsage || !strings.Contains(e, "--cluster-secret") {
			t.Errorf("%q: exit %d, stderr %q", s, code, e)
		}
	}
	t.Setenv("MQTTBOARD_CLUSTER_SECRET", "tiny")
	if code, _, e := mqttboard(t, "", "broker", "--listen", "127.0.0.1:0", "--cluster-listen", "127.0.0.1:0"); code != ExitUsage {
		t.Errorf("MQTTBOARD_CLUSTER_SECRET=tiny: exit %d, stderr %q", code, e)
	}
	pubBin, err := exec.LookPath("mosquitto_pub")
	subBin, err2 := exec.LookPath("mosquitto_sub")
	if err != nil || err2 != nil {
		t.Skip("mosquitto_sub/mosquitto_pub not installed (Debian package mosquitto-clients); skipping the join")
	}
	const secret = "a-secret-both-nodes-share"
	t.Setenv("MQTTBOARD_CLUSTER_SECRET", secret)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nodeCtx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	a, aCluster := startNode(t, nodeCtx, "--cluster-listen", "127.0.0.1:0", "--node-name", "a", "--cluster-secret", secret)
	b, _ := startNode(t, nodeCtx, "--cluster-listen", "127.0.0.1:0", "--cluster-peer", aCluster, "--node-name", "b")
	if out, err := testproc.Tie(exec.CommandContext(ctx, pubBin, append(mosqAddr(a), "-r", "-q", "1", "-t", "mark", "-m", "a")...)).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub: %v %s", err, out)
	}
	for range 50 {
		out, _ := testproc.Tie(exec.CommandContext(ctx, subBin, append(mosqAddr(b), "-t", "mark", "-C", "1", "-W", "1", "-v")...)).Output()
		if strings.Contains(string(out), "mark a") {
			return
		}
	}
	t.Fatal("the retained marker set on a never reached b: the nodes sharing the secret did not join")
}

// TestBrokerNodesFlag: --broker-nodes takes 1 to 9, and a local cluster
// (in memory) does not go with --broker-data: usage errors before the
// board starts.
func TestBrokerNodesFlag(t *testing.T) {
	for _, args := range [][]string{
		{"--broker-nodes", "0"},
		{"--broker-nodes", "10"},
		{"--broker-nodes", "3", "--broker-data", t.TempDir()},
	} {
		code, _, e := mqttboard(t, "", args...)
		if code != ExitUsage || !strings.Contains(e, "--broker-nodes") {
			t.Errorf("%v: exit %d, stderr %q", args, code, e)
		}
	}
}

// TestClusterTokensAcrossProcesses: two `mqttboard broker --auth token`
// processes of one cluster, given the same --master-token; a token made
// through node a's REST API lets mosquitto_sub read a retained message on
// node b; deleted through a's API, node b refuses it.
func TestClusterTokensAcrossProcesses(t *testing.T) {
	subBin, err1 := exec.LookPath("mosquitto_sub")
	pubBin, err2 := exec.LookPath("mosquitto_pub")
	if err1 != nil || err2 != nil {
		t.Skip("mosquitto_sub/mosquitto_pub not installed (Debian package mosquitto-clients); skipping")
	}
	t.Setenv("MQTTBOARD_MASTER_TOKEN", "")
	master := strings.Repeat("0123456789abcdef", 4)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nodeCtx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	apiA := "127.0.0.1:" + freePort(t)
	a, aCluster := startNode(t, nodeCtx, "--auth", "token", "--master-token", master, "--http", apiA,
		"--cluster-listen", "127.0.0.1:0", "--node-name", "a")
	b, _ := startNode(t, nodeCtx, "--auth", "token", "--master-token", master,
		"--cluster-listen", "127.0.0.1:0", "--cluster-peer", aCluster, "--node-name", "b")
	if out, err := testproc.Tie(exec.CommandContext(ctx, pubBin, append(mosqAddr(a), "-u", master, "-r", "-q", "1", "-t", "x", "-m", "from-a")...)).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub with the master token on a: %v %s", err, out)
	}
	api := func(method, path, body string) []byte {
		t.Helper()
		var resp *http.Response
		var err error
		for range 50 { // the API may still be starting: bounded
			req, _ := http.NewRequestWithContext(ctx, method, "http://"+apiA+path, strings.NewReader(body))
			req.Header.Set("Authorization", "FlespiToken "+master)
			if resp, err = http.DefaultClient.Do(req); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		return b
	}
	var made struct {
		Result []struct {
			ID  uint64 `json:"id"`
			Key string `json:"key"`
		} `json:"result"`
	}
	if err := json.Unmarshal(api("POST", "/platform/tokens", `[{"info":"t","ttl":3600,"access":{"type":0}}]`), &made); err != nil || len(made.Result) != 1 {
		t.Fatalf("created: %v %+v", err, made)
	}
	tk := made.Result[0]
	// The change reaches b a moment after the API answered: bounded retries.
	read := func() (string, error) {
		out, err := testproc.Tie(exec.CommandContext(ctx, subBin, append(mosqAddr(b), "-u", tk.Key, "-t", "x", "-C", "1", "-W", "2")...)).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	got := ""
	for range 20 {
		if out, err := read(); err == nil {
			got = out
			break
		}
	}
	if got != "from-a" {
		t.Fatalf("mosquitto_sub on b with the token made on a read %q", got)
	}
	api("DELETE", fmt.Sprintf("/platform/tokens/%d", tk.ID), "")
	for range 20 {
		if out, err := read(); err != nil {
			t.Logf("node b refuses the deleted token: %s", out)
			return
		}
	}
	t.Fatal("node b still accepts the token deleted through node a's API")
}
