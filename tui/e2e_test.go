package tui

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/client"
	"github.com/mqttboard/mqttboard/internal/testproc"
)

// tmuxBoard is the real binary running in a tmux session.
type tmuxBoard struct {
	t      *testing.T
	tmux   string
	sock   string
	screen string
}

// startTmux builds the binary and runs it in tmux at w×h. It skips when tmux
// is absent (.ci/run installs it).
func startTmux(t *testing.T, w, h int) *tmuxBoard {
	t.Helper()
	return startTmuxBin(t, buildBinary(t), w, h)
}

// buildBinary builds cmd/mqttboard into a temporary directory. It skips in
// -short mode and when tmux is absent.
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux not installed")
	}
	bin := filepath.Join(t.TempDir(), "mqttboard")
	build := testproc.Tie(exec.Command("go", "build", "-o", bin, "../cmd/mqttboard"))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startTmuxBin runs bin (the board, with args) in tmux at w×h.
func startTmuxBin(t *testing.T, bin string, w, h int, args ...string) *tmuxBoard {
	t.Helper()
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux not installed")
	}
	dir := t.TempDir()
	b := &tmuxBoard{t: t, tmux: tmux, sock: filepath.Join(dir, "tmux.sock")}
	b.run("new-session", "-d", "-s", "e2e", "-x", strconv.Itoa(w), "-y", strconv.Itoa(h),
		"env XDG_CONFIG_HOME="+filepath.Join(dir, "config")+" TERM=xterm-256color "+strings.Join(append([]string{bin}, args...), " ")+" 2>"+filepath.Join(dir, "err.log"))
	t.Cleanup(func() {
		testproc.Tie(exec.Command(tmux, "-S", b.sock, "kill-server")).Run()
		if out, _ := os.ReadFile(filepath.Join(dir, "err.log")); len(out) > 0 {
			t.Logf("stderr:\n%s", out)
		}
	})
	return b
}

func (b *tmuxBoard) run(args ...string) string {
	b.t.Helper()
	out, err := testproc.Tie(exec.Command(b.tmux, append([]string{"-S", b.sock}, args...)...)).CombinedOutput()
	if err != nil {
		b.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func (b *tmuxBoard) capture() string {
	b.screen = b.run("capture-pane", "-p", "-t", "e2e")
	return b.screen
}

// waitFor polls the screen (tmux cannot notify) until ok holds, bounded.
func (b *tmuxBoard) waitFor(what string, ok func(string) bool) {
	b.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ok(b.capture()) {
		if time.Now().After(deadline) {
			b.t.Fatalf("screen never showed %s:\n%s", what, b.screen)
		}
		time.Sleep(50 * time.Millisecond) // polling tmux, which cannot notify
	}
}

func (b *tmuxBoard) wait(texts ...string) {
	b.t.Helper()
	b.waitFor(strings.Join(texts, ", "), func(s string) bool {
		for _, x := range texts {
			if !strings.Contains(s, x) {
				return false
			}
		}
		return true
	})
}

func (b *tmuxBoard) waitLine(re string) {
	b.t.Helper()
	rx := regexp.MustCompile(re)
	b.waitFor(re, rx.MatchString)
}

func (b *tmuxBoard) keys(k ...string) { b.run(append([]string{"send-keys", "-t", "e2e"}, k...)...) }

// TestTmuxEndToEnd runs the real binary in tmux at 120×40, subscribes,
// publishes from the form with a user property and reads the screen with
// capture-pane.
func TestTmuxEndToEnd(t *testing.T) {
	b := startTmux(t, 120, 40)
	b.wait("CONNACK success", "mqttboard/#")
	// Subscribe to e2e/# from the subscriptions pane.
	b.keys("BTab", "BTab", "a")
	// Separately: runes read together reach the board as one key.
	b.wait("Subscribe on local")
	b.keys("e2e/#", "Enter", "C-s")
	// The SUBACK (q0 and a count), not the typed filter: the publish must
	// not overtake the SUBSCRIBE.
	b.waitLine(`e2e/#\s+q0 0`)
	// Publish e2e/x with a user property from the form.
	b.keys("Tab", "Tab", "Enter", "C-u", "e2e/x", "Enter", "Down", "Down", "Down", "Enter", "who", "Enter", "tmux", "Enter", "C-s")
	b.wait("e2e/x", "PUBACK success", `"who"="tmux"`)
	t.Logf("screen:\n%s", b.screen)
	b.keys("C-c")
}

// TestTmuxEscapesPayload is issue #10's reproduction: a publisher sends a
// payload, topic and user property laden with terminal controls (set the
// title, clear the screen, carriage return, tab, bidi override) to the
// board's bundled broker; the terminal title must not change and the screen
// must show the controls visibly, with every pane's border in place.
func TestTmuxEscapesPayload(t *testing.T) {
	b := startTmux(t, 120, 40)
	b.wait("CONNACK success", "mqttboard/#")
	port := regexp.MustCompile(`mqtt://127\.0\.0\.1:(\d+)`).FindStringSubmatch(b.screen)
	if port == nil {
		t.Fatalf("no broker address on screen:\n%s", b.screen)
	}
	title := b.run("display", "-p", "-t", "e2e", "#{pane_title}")
	payload := "X\x1b]2;PWNED\x07Y\x1b[2J\rZ\tW\u202eevil 🌡️👍🏽 end"
	// mosquitto_pub refuses control characters in a topic and in user
	// properties; bidi controls it passes.
	topic := "mqttboard/t\u202eevil"
	if pub, err := exec.LookPath("mosquitto_pub"); err == nil {
		cmd := testproc.Tie(exec.Command(pub, "-p", port[1], "-t", topic, "-s", "-D", "publish", "user-property", "k\u202e", "v\u2066"))
		cmd.Stdin = strings.NewReader(payload)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_pub: %v\n%s", err, out)
		}
	} else {
		t.Log("mosquitto_pub not installed; publishing with package client")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cl, err := client.New(client.Options{URL: "mqtt://127.0.0.1:" + port[1]})
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if _, err := cl.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		m := &client.Message{Topic: topic, Payload: []byte(payload)}
		if _, err := cl.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	// The detail view of the newest message shows the payload's controls
	// as pictures, and the topic's too.
	b.wait("X␛]2;PWNED␇Y␛[2J␍Z", "W\\u202eevil 🌡👍 end", "mqttboard/t\\u202eevil")
	if got := b.run("display", "-p", "-t", "e2e", "#{pane_title}"); got != title || strings.Contains(got, "PWNED") {
		t.Errorf("the terminal title changed from %q to %q", title, got)
	}
	// Not blanked, not overwritten: every row still ends in a border.
	lines := strings.Split(strings.TrimRight(b.screen, "\n"), "\n")
	for i, l := range lines[:len(lines)-2] { // status line and help bar have no border
		if !strings.HasSuffix(strings.TrimRight(l, " "), "│") && !strings.HasSuffix(l, "╮") && !strings.HasSuffix(l, "╯") {
			t.Errorf("row %d lost its right border: %q", i, l)
		}
	}
	t.Logf("screen:\n%s", b.screen)
	b.keys("C-c")
}
