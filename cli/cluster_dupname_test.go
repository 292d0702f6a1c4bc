package cli

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/internal/testproc"
)

// TestClusterDuplicateNodeNameProcesses: `mqttboard broker --node-name a`
// joining a cluster whose live member is already named a exits 1 at once,
// naming the name, the peer, the flag and what to do, and listens on no
// MQTT port; the member goes on serving (a message published to it after
// reaches its subscriber). Once with the duplicate naming the member as
// its peer, once naming another member (b), with --data. Before, the
// second node started and served alone, cut off from the cluster.
func TestClusterDuplicateNodeNameProcesses(t *testing.T) {
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	member := func(args ...string) (mqtt, route string) {
		t.Helper()
		route = "127.0.0.1:" + freePort(t)
		cmd := testproc.Tie(exec.CommandContext(ctx, bin.path, append([]string{"broker", "--listen", "127.0.0.1:0", "--cluster-listen", route}, args...)...))
		out := newSyncBuffer()
		cmd.Stdout, cmd.Stderr = out, out
		cmd.Env = append(os.Environ(), "NO_COLOR=1")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		out.waitFor(t, "cluster node ")
		_, rest, _ := strings.Cut(out.String(), "listening on mqtt://")
		mqtt, _, _ = strings.Cut(rest, "\n")
		return mqtt, route
	}
	aMQTT, aRoute := member("--node-name", "a")
	_, bRoute := member("--node-name", "b", "--cluster-peer", aRoute)

	for _, c := range []struct {
		name, peer string
		extra      []string
		want       []string
	}{
		{"peer is a", aRoute, nil, []string{"--node-name a", `"a"`, aRoute, "(a --cluster-peer)", "keeps serving", "did not join"}},
		{"through b, --data", bRoute, []string{"--data", t.TempDir()}, []string{"--node-name a", `member "b"`, bRoute, "another node already named \"a\"", "keeps serving"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"broker", "--listen", "127.0.0.1:0", "--cluster-listen", "127.0.0.1:0", "--node-name", "a", "--cluster-peer", c.peer}, c.extra...)
			code, out, errOut := bin.run(t, "", args...)
			if code != ExitError {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", code, ExitError, out, errOut)
			}
			if strings.Contains(out, "listening on") {
				t.Errorf("the refused node listened: %q", out)
			}
			for _, w := range c.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr does not say %q: %s", w, errOut)
				}
			}
		})
	}

	// The member serves on: what is published to it reaches its subscriber.
	msgs := listener(t, "mqtt://"+aMQTT, "", "", "still/#")
	if code, _, e := bin.run(t, "", "pub", "-h", strings.Split(aMQTT, ":")[0], "-p", strings.Split(aMQTT, ":")[1], "-t", "still/here", "-m", "yes", "-q", "1"); code != 0 {
		t.Fatalf("pub to the member: exit %d %s", code, e)
	}
	select {
	case m := <-msgs:
		if string(m.Payload) != "yes" {
			t.Fatalf("got %q", m.Payload)
		}
	case <-time.After(wait):
		t.Fatal("the member did not deliver")
	}
}
