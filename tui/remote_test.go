package tui

import (
	"bufio"
	"io"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/internal/testproc"
)

// child runs bin with args until the test ends and returns its stdout
// lines as they come.
func child(t *testing.T, bin string, args ...string) (*exec.Cmd, <-chan string) {
	t.Helper()
	cmd := testproc.Tie(exec.Command(bin, args...))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			select {
			case lines <- s.Text():
			default: // nobody reads any more
			}
		}
		io.Copy(io.Discard, out)
		close(lines)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, lines
}

// line waits for a line of ch that matches re and returns its submatches.
func line(t *testing.T, ch <-chan string, re string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.After(15 * time.Second)
	for {
		select {
		case l, ok := <-ch:
			if !ok {
				t.Fatalf("output ended before a line matching %s", re)
			}
			if m := rx.FindStringSubmatch(l); m != nil {
				return m
			}
		case <-deadline:
			t.Fatalf("no line matching %s", re)
		}
	}
}

// TestTmuxRemoteBrokerPane: `mqttboard --broker-http ADDR` shows a broker
// running in another process (`mqttboard broker --http`) in the broker
// pane, read through its REST API: the remote broker's sessions with their
// live counters, not the board's bundled one; when the remote broker
// stops, the pane says so under the last state it read. The board's own
// connection goes to that broker too.
func TestTmuxRemoteBrokerPane(t *testing.T) {
	bin := buildBinary(t)
	brk, out := child(t, bin, "broker", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0")
	port := line(t, out, `^listening on mqtt://127\.0\.0\.1:(\d+)`)[1]
	base := line(t, out, `^listening on (http://127\.0\.0\.1:\d+)`)[1]

	// A subscriber of the remote broker receives one message.
	_, subOut := child(t, bin, "sub", "-p", port, "-t", "remote/#", "-i", "remote-sub", "-q", "1")
	deadline := time.Now().Add(15 * time.Second)
	for {
		// Until the subscription is in, the message reaches nobody.
		if err := testproc.Tie(exec.Command(bin, "pub", "-p", port, "-t", "remote/x", "-m", "hi", "-q", "1", "-i", "remote-pub")).Run(); err != nil {
			t.Fatalf("pub: %v", err)
		}
		select {
		case l := <-subOut:
			if l != "hi" {
				t.Fatalf("sub printed %q", l)
			}
		case <-time.After(200 * time.Millisecond):
			if time.Now().Before(deadline) {
				continue
			}
			t.Fatal("the subscriber never received remote/x")
		}
		break
	}

	// A retained message on the remote broker, under the board's own
	// subscription (mqttboard/#).
	if err := testproc.Tie(exec.Command(bin, "pub", "-p", port, "-t", "mqttboard/remote", "-m", "from-the-remote-broker", "-r", "-q", "1")).Run(); err != nil {
		t.Fatalf("pub: %v", err)
	}

	// The board connects to the broker it watches (its /healthz names the
	// MQTT listener), not to a bundled one: the retained message arrives.
	b := startTmuxBin(t, bin, 120, 40, "--broker-http", base)
	b.wait("CONNACK success", "Connected to mqtt://127.0.0.1:"+port, "mqttboard/remote", "from-the-remote-broker")
	b.keys("B")
	// The remote session's row: protocol, address, 1 subscription, nothing
	// queued, in flight or dropped, 0 in and 1 out; and the board's own
	// session is in the same broker, selected, its subscription under it.
	b.wait("Broker "+base, "mqttboard/# q1")
	b.waitLine(`● mqttboard-\S*\s+5\.0\s+127\.0\.0\.1:\d+\s+1\b`)
	b.waitLine(`remote-sub\s+5\.0\s+127\.0\.0\.1:\d+\s+1\s+0\s+0\s+0\s+0\s+1\b`)

	// The remote broker goes away: the pane keeps the rows and says why.
	brk.Process.Kill()
	brk.Wait()
	b.wait("connection refused", "remote-sub")
	t.Logf("screen:\n%s", b.screen)
	b.keys("C-c")
}
