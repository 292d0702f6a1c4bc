package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/internal/testproc"
)

// mosqAddr is addr (host:port) as mosquitto_pub/mosquitto_sub arguments.
func mosqAddr(addr string) []string {
	h, p, _ := strings.Cut(addr, ":")
	return []string{"-h", h, "-p", p}
}

// startNode runs `mqttboard broker` with args and returns its MQTT and
// cluster addresses, read from what it prints.
func startNode(t *testing.T, ctx context.Context, args ...string) (mqtt, cluster string) {
	t.Helper()
	pr, pw := io.Pipe()
	ios, _, _, errOut := TestIOStreams()
	ios.Out = pw
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, ios, append([]string{"broker", "--listen", "127.0.0.1:0"}, args...))
		pw.Close()
	}()
	t.Cleanup(func() {
		select {
		case code := <-done:
			if code != ExitOK {
				t.Errorf("node %v exited %d: %s", args, code, errOut.String())
			}
		case <-time.After(20 * time.Second):
			t.Errorf("node %v did not stop", args)
		}
	})
	lines := bufio.NewScanner(pr)
	for (mqtt == "" || cluster == "") && lines.Scan() {
		l := lines.Text()
		if a, ok := strings.CutPrefix(l, "listening on mqtt://"); ok {
			mqtt = a
		}
		if rest, ok := strings.CutPrefix(l, "cluster node "); ok {
			f := strings.Fields(rest) // NAME on ADDR[, joining ...]
			if len(f) >= 3 {
				cluster = strings.TrimSuffix(f[2], ",")
			}
		}
	}
	go io.Copy(io.Discard, pr)
	if mqtt == "" || cluster == "" {
		t.Fatalf("node %v printed no addresses; stderr %q", args, errOut.String())
	}
	return mqtt, cluster
}

// TestClusterMosquitto runs three nodes as `mqttboard broker` commands
// (one configured by file), mosquitto_sub on one node and mosquitto_pub on
// another, and counts at mosquitto_sub: every QoS 1 message once, in order.
func TestClusterMosquitto(t *testing.T) {
	subBin, err1 := exec.LookPath("mosquitto_sub")
	pubBin, err2 := exec.LookPath("mosquitto_pub")
	if err1 != nil || err2 != nil {
		t.Skip("mosquitto_sub/mosquitto_pub not installed (Debian package mosquitto-clients); skipping")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nodeCtx, stop := context.WithCancel(ctx)
	t.Cleanup(stop) // runs before the nodes' own cleanups wait for them
	a, aCluster := startNode(t, nodeCtx, "--cluster-listen", "127.0.0.1:0", "--node-name", "a")
	cfg := filepath.Join(t.TempDir(), "b.yaml")
	os.WriteFile(cfg, fmt.Appendf(nil, "cluster:\n  node_name: b\n  listen: 127.0.0.1:0\n  peers: [%q]\n", aCluster), 0o600)
	b, _ := startNode(t, nodeCtx, "--config", cfg)
	c, _ := startNode(t, nodeCtx, "--cluster-listen", "127.0.0.1:0", "--cluster-peer", aCluster, "--node-name", "c")
	pub := func(addr string, args ...string) {
		t.Helper()
		if out, err := testproc.Tie(exec.CommandContext(ctx, pubBin, append(mosqAddr(addr), args...)...)).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_pub %v: %v %s", args, err, out)
		}
	}
	// Routes form by themselves after the nodes start: a retained marker
	// from a and one from b both present on c prove the routes a-c and
	// b-c (a node's messages reach another only over their own route).
	pub(a, "-r", "-q", "1", "-t", "mark/a", "-m", "a")
	pub(b, "-r", "-q", "1", "-t", "mark/b", "-m", "b")
	meshed := false
	for range 50 {
		out, _ := testproc.Tie(exec.CommandContext(ctx, subBin, append(mosqAddr(c), "-t", "mark/#", "-C", "2", "-W", "1", "-v")...)).Output()
		if strings.Contains(string(out), "mark/a a") && strings.Contains(string(out), "mark/b b") {
			meshed = true
			break
		}
	}
	if !meshed {
		t.Fatal("the retained markers of a and b never both reached c")
	}
	const N = 500
	sub := testproc.Tie(exec.CommandContext(ctx, subBin, append(mosqAddr(c), "-q", "1", "-t", "t/#", "-t", "mark/b", "-C", fmt.Sprint(N+1), "-v")...))
	out, _ := sub.StdoutPipe()
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	// The retained marker arrives after SUBACK: subscribed, and SUBACK
	// waited until every node knew the subscription.
	if !lines.Scan() || lines.Text() != "mark/b b" {
		t.Fatalf("first line %q", lines.Text())
	}
	var in strings.Builder
	for i := range N {
		fmt.Fprintf(&in, "%d\n", i)
	}
	p := testproc.Tie(exec.CommandContext(ctx, pubBin, append(mosqAddr(b), "-q", "1", "-t", "t/x", "-l")...))
	p.Stdin = strings.NewReader(in.String())
	if o, err := p.CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub -l: %v %s", err, o)
	}
	for i := range N {
		if !lines.Scan() {
			t.Fatalf("mosquitto_sub on c got %d of %d messages published on b", i, N)
		}
		if want := fmt.Sprintf("t/x %d", i); lines.Text() != want {
			t.Fatalf("message %d: %q, want %q", i, lines.Text(), want)
		}
	}
	if err := sub.Wait(); err != nil {
		t.Fatalf("mosquitto_sub: %v", err)
	}
}

// TestClusterFlags: the peers and the name need --cluster-listen, and
// addresses and names are checked before anything starts.
func TestClusterFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--cluster-peer", "127.0.0.1:6222"},
		{"--node-name", "a"},
		{"--cluster-listen", "6222"},
		{"--cluster-listen", "127.0.0.1:6222", "--cluster-peer", "nohost"},
		{"--cluster-listen", "127.0.0.1:6222", "--node-name", "a.b"},
	} {
		ios, _, _, _ := TestIOStreams()
		cmd := NewCmdBroker(ios, func(context.Context, *BrokerOptions) error { return nil })
		cmd.SetArgs(args)
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		if err := cmd.Execute(); exitCode(err) != ExitUsage {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	ios, _, _, _ := TestIOStreams()
	var got *BrokerOptions
	cmd := NewCmdBroker(ios, func(_ context.Context, o *BrokerOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--cluster-listen", "127.0.0.1:6222", "--cluster-peer", "h1:1", "--cluster-peer", "h2:2", "--node-name", "n_1"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.ClusterListen != "127.0.0.1:6222" || len(got.ClusterPeers) != 2 || got.NodeName != "n_1" {
		t.Fatalf("parsed %+v", got)
	}
}

// TestClusterListenInUse: a --cluster-listen address another process holds
// fails the start at once with exit 1, naming the flag and the address,
// before any "listening on" line (before: a 10 s wait, "listening on
// mqtt://..." printed first, and an error not naming the flag).
func TestClusterListenInUse(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	addr := held.Addr().String()
	code, out, e := mqttboard(t, "", "broker", "--listen", "127.0.0.1:0", "--cluster-listen", addr)
	if code != ExitError || !strings.Contains(e, "--cluster-listen "+addr) || strings.Contains(out, "listening on") {
		t.Fatalf("exit %d, stdout %q, stderr %q: want 1, an error naming --cluster-listen %s and nothing listening", code, out, e, addr)
	}
}

// TestClusterMosquittoTakeover: mosquitto_sub on node a is disconnected with
// 0x8E (as mosquitto_sub itself reports it) when a second mosquitto_sub with
// the same client id connects to node b.
func TestClusterMosquittoTakeover(t *testing.T) {
	subBin, err := exec.LookPath("mosquitto_sub")
	pubBin, err2 := exec.LookPath("mosquitto_pub")
	if err != nil || err2 != nil {
		t.Skip("mosquitto_sub/mosquitto_pub not installed (Debian package mosquitto-clients); skipping")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nodeCtx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	a, aCluster := startNode(t, nodeCtx, "--cluster-listen", "127.0.0.1:0", "--node-name", "a")
	b, _ := startNode(t, nodeCtx, "--cluster-listen", "127.0.0.1:0", "--cluster-peer", aCluster, "--node-name", "b")
	// The route a-b is up once a's retained marker can be read on b.
	if out, err := testproc.Tie(exec.CommandContext(ctx, pubBin, append(mosqAddr(a), "-r", "-q", "1", "-t", "mark", "-m", "a")...)).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub: %v %s", err, out)
	}
	meshed := false
	for range 50 {
		out, _ := testproc.Tie(exec.CommandContext(ctx, subBin, append(mosqAddr(b), "-t", "mark", "-C", "1", "-W", "1")...)).Output()
		if strings.TrimSpace(string(out)) == "a" {
			meshed = true
			break
		}
	}
	if !meshed {
		t.Fatal("a's retained marker never reached b")
	}
	stdbuf, err := exec.LookPath("stdbuf")
	if err != nil {
		t.Skip("stdbuf (coreutils) not installed: mosquitto_sub's trace would arrive only when it exits")
	}
	// stdbuf -oL: mosquitto_sub's trace line by line, as it happens.
	first := testproc.Tie(exec.CommandContext(ctx, stdbuf, append([]string{"-oL", subBin}, append(mosqAddr(a), "-V", "5", "-i", "dup", "-t", "x", "-d")...)...))
	// mosquitto_sub -d writes its trace to stdout and its errors to
	// stderr: read both, in order.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	first.Stdout, first.Stderr = pw, pw
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	defer pr.Close()
	lines := bufio.NewScanner(pr)
	for lines.Scan() && !strings.HasPrefix(lines.Text(), "Subscribed") {
	}
	second := testproc.Tie(exec.CommandContext(ctx, subBin, append(mosqAddr(b), "-V", "5", "-i", "dup", "-t", "x", "-W", "3")...))
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	defer second.Wait()
	var seen []string
	for lines.Scan() {
		seen = append(seen, lines.Text())
		if lines.Text() == "Received DISCONNECT (142)" {
			first.Wait()
			return
		}
	}
	t.Fatalf("the first mosquitto_sub never got DISCONNECT 0x8E; it printed %q", seen)
}
