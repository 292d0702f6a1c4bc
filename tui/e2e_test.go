package tui

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestTmuxEndToEnd runs the real binary in tmux at 120×40, subscribes,
// publishes from the form with a user property and reads the screen with
// capture-pane. Skipped when tmux is absent (.ci/run installs it).
func TestTmuxEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux not installed")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "mqttboard")
	build := exec.Command("go", "build", "-o", bin, "../cmd/mqttboard")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	sock := filepath.Join(dir, "tmux.sock")
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(tmux, append([]string{"-S", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("new-session", "-d", "-s", "e2e", "-x", "120", "-y", "40",
		"env XDG_CONFIG_HOME="+filepath.Join(dir, "config")+" TERM=xterm-256color "+bin+" 2>"+filepath.Join(dir, "err.log"))
	t.Cleanup(func() {
		exec.Command(tmux, "-S", sock, "kill-server").Run()
		if b, _ := os.ReadFile(filepath.Join(dir, "err.log")); len(b) > 0 {
			t.Logf("stderr:\n%s", b)
		}
	})
	screen := ""
	wait := func(texts ...string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			screen = run("capture-pane", "-p", "-t", "e2e")
			ok := true
			for _, x := range texts {
				ok = ok && strings.Contains(screen, x)
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("screen never showed %q:\n%s", texts, screen)
			}
			time.Sleep(50 * time.Millisecond) // polling tmux, which cannot notify
		}
	}
	waitLine := func(re string) {
		t.Helper()
		rx := regexp.MustCompile(re)
		deadline := time.Now().Add(15 * time.Second)
		for {
			screen = run("capture-pane", "-p", "-t", "e2e")
			if rx.MatchString(screen) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("screen never showed %s:\n%s", re, screen)
			}
			time.Sleep(50 * time.Millisecond) // polling tmux, which cannot notify
		}
	}
	keys := func(k ...string) { run(append([]string{"send-keys", "-t", "e2e"}, k...)...) }

	wait("CONNACK success", "mqttboard/#")
	// Subscribe to e2e/# from the subscriptions pane.
	keys("BTab", "BTab", "a", "C-u", "e2e/#", "Enter", "C-s")
	// The SUBACK (q0 and a count), not the typed filter: the publish must
	// not overtake the SUBSCRIBE.
	waitLine(`e2e/#\s+q0 0`)
	// Publish e2e/x with a user property from the form.
	keys("Tab", "Tab", "Enter", "C-u", "e2e/x", "Enter", "Down", "Down", "Down", "Enter", "who", "Enter", "tmux", "Enter", "C-s")
	wait("e2e/x", "PUBACK success", `"who"="tmux"`)
	t.Logf("screen:\n%s", screen)
	keys("C-c")
}
