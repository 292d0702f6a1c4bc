package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/mqttboard/mqttboard/client/clienttest"
)

// TestCleanEndEveryVersionAndSource proves by what mosquitto saw that every
// way pub and sub end, on every protocol version, flushes what was
// published, sends DISCONNECT and only then closes: mosquitto's own log
// says "disconnected." (never "closed its connection."), a mosquitto_sub
// counts every QoS 0 message, and the will (set on every run) is never
// published. Before the fix 3.1/3.1.1 runs lost lines and fired the will.
func TestCleanEndEveryVersionAndSource(t *testing.T) {
	if _, ok := clienttest.Binary(); !ok {
		t.Skip("mosquitto not found in PATH or /usr/sbin: install the Debian package mosquitto to run this test")
	}
	bin := buildBinary(t)
	m := clienttest.Start(t, clienttest.Config{LogAll: true})
	_, port, _ := strings.Cut(m.Addr, ":")

	// The counting peer: mosquitto's own subscriber, on the topics and on
	// every will.
	ctx, cancel := context.WithTimeout(context.Background(), 5*wait)
	defer cancel()
	counted := newSyncBuffer()
	sub := clienttest.Tool(t, ctx, "mosquitto_sub", "-p", port, "-i", "counter", "-v", "-t", "clean/#", "-t", "clean-will/#")
	sub.Stdout = counted
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); sub.Wait() }()
	m.WaitLog(t, wait, "Sending SUBACK to counter")

	// endedCleanly waits for mosquitto to log how client id went away.
	endedCleanly := func(t *testing.T, id string) {
		t.Helper()
		clean := "Client " + id + " disconnected."
		if got := m.WaitLog(t, wait, clean, "Client "+id+" closed its connection."); got != clean {
			t.Errorf("%s ended without DISCONNECT: mosquitto logged %q", id, got)
		}
	}

	file := filepath.Join(t.TempDir(), "payload")
	if err := os.WriteFile(file, []byte("from a file"), 0o600); err != nil {
		t.Fatal(err)
	}
	var lines strings.Builder
	for i := 1; i <= 20; i++ {
		fmt.Fprintf(&lines, "%d\n", i)
	}
	sources := []struct {
		name  string
		stdin string
		args  []string
		count int
	}{
		{"m", "", []string{"-m", "one"}, 1},
		{"l", lines.String(), []string{"-l"}, 20},
		{"repeat", "", []string{"-m", "r", "--repeat", "50"}, 50},
		{"f", "", []string{"-f", file}, 1},
	}
	const runs = 3
	want := map[string]int{}
	for _, v := range []string{"3.1", "3.1.1", "5"} {
		vid := strings.ReplaceAll(v, ".", "")
		for _, src := range sources {
			for i := range runs {
				id := fmt.Sprintf("ce-%s-%s-%d", vid, src.name, i)
				topic := "clean/" + vid + "/" + src.name
				args := append([]string{"pub", "-p", port, "-V", v, "-i", id, "-t", topic,
					"--will-topic", "clean-will/" + id, "--will-payload", "will fired"}, src.args...)
				if code, _, e := bin.run(t, src.stdin, args...); code != 0 {
					t.Fatalf("%v: exit %d: %s", args, code, e)
				}
				want[topic] += src.count
				endedCleanly(t, id)
			}
		}

		will := func(id string) []string {
			return []string{"-p", port, "-V", v, "-i", id, "--will-topic", "clean-will/" + id, "--will-payload", "will fired"}
		}
		// sub ends: -C, -E, -W and Ctrl-C.
		id := "ce-" + vid + "-sub-C"
		s := bin.subscribed(t, append([]string{"-t", "clean-c/" + vid, "-C", "1"}, will(id)...)...)
		if code, _, e := bin.run(t, "", "pub", "-p", port, "-t", "clean-c/"+vid, "-m", "x"); code != 0 {
			t.Fatalf("pub for -C: exit %d: %s", code, e)
		}
		if code := s.exit(t); code != 0 {
			t.Fatalf("sub -C 1: exit %d: %s", code, s.errOut.String())
		}
		endedCleanly(t, id)

		id = "ce-" + vid + "-sub-E"
		if code, _, e := bin.run(t, "", append([]string{"sub", "-t", "clean-e", "-E"}, will(id)...)...); code != 0 {
			t.Fatalf("sub -E: exit %d: %s", code, e)
		}
		endedCleanly(t, id)

		id = "ce-" + vid + "-sub-W"
		if code, _, e := bin.run(t, "", append([]string{"sub", "-t", "clean-w", "-W", "0.2"}, will(id)...)...); code != ExitTimeout {
			t.Fatalf("sub -W: exit %d: %s", code, e)
		}
		endedCleanly(t, id)

		if runtime.GOOS != "windows" {
			id = "ce-" + vid + "-sub-INT"
			s = bin.subscribed(t, append([]string{"-t", "clean-int"}, will(id)...)...)
			if err := s.cmd.Process.Signal(os.Interrupt); err != nil {
				t.Fatal(err)
			}
			if code := s.exit(t); code != 0 {
				t.Fatalf("sub Ctrl-C: exit %d: %s", code, s.errOut.String())
			}
			endedCleanly(t, id)
		}
	}

	// Every pub above has ended (mosquitto logged it), so all it sent was
	// routed before this last message: once the counter prints it, the
	// count is final.
	if out, err := clienttest.Tool(t, ctx, "mosquitto_pub", "-p", port, "-t", "clean/zz-end", "-m", "end").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub: %v: %s", err, out)
	}
	counted.waitFor(t, "clean/zz-end end\n")
	got := map[string]int{}
	for _, line := range strings.Split(strings.TrimSuffix(counted.String(), "\n"), "\n") {
		topic, _, _ := strings.Cut(line, " ")
		if strings.HasPrefix(topic, "clean-will/") {
			t.Errorf("a will was published on a normal exit: %q", line)
			continue
		}
		got[topic]++
	}
	for topic, n := range want {
		if got[topic] != n {
			t.Errorf("%s: mosquitto_sub counted %d messages, want %d", topic, got[topic], n)
		}
	}
}
