package cli

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBrokerCommand runs `mqttboard broker`, reads where it listens,
// connects, and interrupts it: it must exit 0.
func TestBrokerCommand(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "b.json")
	os.WriteFile(cfg, []byte(`{"limits": {"max_keep_alive": 60}}`), 0o600)
	pr, pw := io.Pipe()
	ios, _, _, errOut := TestIOStreams()
	ios.Out = pw
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, ios, []string{"broker", "--listen", "127.0.0.1:0", "--ws-listen", "127.0.0.1:0", "--config", cfg})
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	var addrs []string
	for len(addrs) < 2 && lines.Scan() {
		addrs = append(addrs, lines.Text())
	}
	go io.Copy(io.Discard, pr)
	if len(addrs) != 2 || !strings.HasPrefix(addrs[0], "listening on mqtt://127.0.0.1:") || !strings.HasPrefix(addrs[1], "listening on ws://") {
		t.Fatalf("output %q, stderr %q", addrs, errOut.String())
	}
	nc, err := net.DialTimeout("tcp", strings.TrimPrefix(addrs[0], "listening on mqtt://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// CONNECT 3.1.1, clean session, keep alive 30, client id "c".
	nc.Write([]byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 30, 0, 1, 'c'})
	ack := make([]byte, 4)
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(nc, ack); err != nil || ack[0] != 0x20 || ack[3] != 0 {
		t.Fatalf("CONNACK %x %v", ack, err)
	}
	cancel()
	select {
	case code := <-done:
		if code != ExitOK {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("broker did not stop after interrupt")
	}
}

func TestBrokerFlags(t *testing.T) {
	ios, _, _, _ := TestIOStreams()
	var got *BrokerOptions
	cmd := NewCmdBroker(ios, func(_ context.Context, o *BrokerOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--listen", "a:1", "--listen", "b:2", "--ws-listen", ":80", "--config", "x.json", "--no-stamp"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if len(got.Listen) != 2 || got.WSListen[0] != ":80" || got.Config != "x.json" || !got.NoStamp {
		t.Fatalf("parsed %+v", got)
	}
	cmd = NewCmdBroker(ios, func(context.Context, *BrokerOptions) error { return nil })
	cmd.SetArgs([]string{"--tls-listen", ":8883"})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	if err := cmd.Execute(); exitCode(err) != ExitUsage {
		t.Fatalf("TLS without a certificate: %v", err)
	}
}

func TestBrokerConfigError(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(cfg, []byte("{\n  \"limits\": {\"nope\": 1}\n}"), 0o600)
	ios, _, _, errOut := TestIOStreams()
	code := Run(context.Background(), ios, []string{"broker", "--listen", "127.0.0.1:0", "--config", cfg})
	if code != ExitUsage || !strings.Contains(errOut.String(), "bad.json:2:") || !strings.Contains(errOut.String(), `"nope"`) {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
}
