package cli

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBrokerDataLocked: a second `mqttboard broker --data DIR` on a
// directory a running broker uses exits 1 at once, naming the lock, and
// leaves the first one serving; bad storage settings are usage errors.
func TestBrokerDataLocked(t *testing.T) {
	dir := t.TempDir()
	pr, pw := io.Pipe()
	ios, _, _, errOut := TestIOStreams()
	ios.Out = pw
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, ios, []string{"broker", "--listen", "127.0.0.1:0", "--data", dir, "--fsync", "always"})
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	if !lines.Scan() || !strings.HasPrefix(lines.Text(), "listening on mqtt://") {
		t.Fatalf("first broker: %q, stderr %q", lines.Text(), errOut.String())
	}
	go io.Copy(io.Discard, pr)

	ios2, _, _, errOut2 := TestIOStreams()
	code := Run(context.Background(), ios2, []string{"broker", "--listen", "127.0.0.1:0", "--data", dir})
	if code != ExitError || !strings.Contains(errOut2.String(), "in use by another broker") || !strings.Contains(errOut2.String(), filepath.Join(dir, "LOCK")) {
		t.Fatalf("second broker on the same --data: exit %d, stderr %q", code, errOut2.String())
	}
	cancel()
	select {
	case code := <-done:
		if code != ExitOK {
			t.Fatalf("first broker exit %d: %s", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("broker did not stop after interrupt")
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--data", dir, "--fsync", "sometimes"}, "--fsync"},
		{[]string{"--fsync", "always"}, "needs --data"},
	} {
		ios, _, _, errOut := TestIOStreams()
		if code := Run(context.Background(), ios, append([]string{"broker", "--listen", "127.0.0.1:0"}, c.args...)); code != ExitUsage || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q", c.args, code, errOut.String())
		}
	}
	cfg := filepath.Join(t.TempDir(), "b.yaml")
	os.WriteFile(cfg, []byte("storage:\n  dir: "+dir+"\n  fsync: weekly\n"), 0o600)
	ios3, _, _, errOut3 := TestIOStreams()
	if code := Run(context.Background(), ios3, []string{"broker", "--listen", "127.0.0.1:0", "--config", cfg}); code != ExitUsage || !strings.Contains(errOut3.String(), "storage.fsync") {
		t.Errorf("config fsync weekly: exit %d, stderr %q", code, errOut3.String())
	}
}
