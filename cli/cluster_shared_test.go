package cli

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
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
	hp := func(addr string) []string {
		h, p, _ := strings.Cut(addr, ":")
		return []string{"-h", h, "-p", p}
	}
	pub := func(addr string, args ...string) {
		t.Helper()
		if out, err := exec.CommandContext(ctx, pubBin, append(hp(addr), args...)...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_pub %v: %v %s", args, err, out)
		}
	}
	// A retained marker set on c and seen on a and b: the routes c-a and
	// c-b are up (NATS forms c-b by itself).
	pub(c, "-r", "-q", "1", "-t", "mark/c", "-m", "c")
	for _, at := range []string{a, b} {
		meshed := false
		for range 50 {
			out, _ := exec.CommandContext(ctx, subBin, append(hp(at), "-t", "mark/c", "-C", "1", "-W", "1", "-v")...).Output()
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
		cmd := exec.CommandContext(ctx, subBin, append(hp(at), "-V", "5", "-q", "1", "-i", fmt.Sprint("m", i),
			"-t", "$share/g/t/#", "-t", "mark/c", "-t", "end", "-v")...)
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
	p := exec.CommandContext(ctx, pubBin, append(hp(c), "-q", "1", "-t", "t/x", "-l")...)
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
	hp := func(addr string) []string {
		h, p, _ := strings.Cut(addr, ":")
		return []string{"-h", h, "-p", p}
	}
	if out, err := exec.CommandContext(ctx, pubBin, append(hp(a), "-r", "-q", "1", "-t", "mark", "-m", "a")...).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub: %v %s", err, out)
	}
	for range 50 {
		out, _ := exec.CommandContext(ctx, subBin, append(hp(b), "-t", "mark", "-C", "1", "-W", "1", "-v")...).Output()
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
