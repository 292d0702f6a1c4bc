package cli

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/client"
	"github.com/mqttboard/mqttboard/client/clienttest"
	"github.com/mqttboard/mqttboard/internal/testproc"
)

// These tests run the built mqttboard binary, as CI scripts do: argv,
// stdin, stdout, stderr, signals and the exit code are the interface.

// binary is the mqttboard executable built for one test.
type binary struct{ path string }

// buildBinary builds ./cmd/mqttboard once into t.TempDir(); the caller's
// subtests share it.
func buildBinary(t *testing.T) *binary {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: not building the binary")
	}
	out := filepath.Join(t.TempDir(), "mqttboard")
	if runtime.GOOS == "windows" {
		out += ".exe"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := testproc.Tie(exec.CommandContext(ctx, "go", "build", "-o", out, "../cmd/mqttboard"))
	// A GOFLAGS=-buildvcs=false set with `go env -w` (as on this project's
	// machines) wins over a -buildvcs flag; the variable wins over the
	// file. The binary then knows its commit as a user's build would.
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=auto")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return &binary{path: out}
}

// proc is one running mqttboard process.
type proc struct {
	cmd         *exec.Cmd
	out, errOut *syncBuffer
	done        chan struct{}
	code        int
}

// start runs the binary with args and stdin in; it is killed after wait.
func (b *binary) start(t *testing.T, stdin string, args ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	p := &proc{cmd: testproc.Tie(exec.CommandContext(ctx, b.path, args...)), out: newSyncBuffer(), errOut: newSyncBuffer(), done: make(chan struct{})}
	p.cmd.Stdin = strings.NewReader(stdin)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.errOut
	p.cmd.Env = append(os.Environ(), "NO_COLOR=1")
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		defer cancel()
		err := p.cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			p.code = ee.ExitCode()
		default:
			p.code = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() { cancel(); <-p.done })
	return p
}

// exit waits (bounded by the process's own deadline) for the exit code.
func (p *proc) exit(t *testing.T) int {
	t.Helper()
	<-p.done
	if p.cmd.ProcessState != nil && !p.cmd.ProcessState.Exited() && p.code == -1 {
		t.Fatalf("%v killed after %v; stderr:\n%s", p.cmd.Args, wait, p.errOut.String())
	}
	return p.code
}

// run runs the binary to its end.
func (b *binary) run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	p := b.start(t, stdin, args...)
	code := p.exit(t)
	return code, p.out.String(), p.errOut.String()
}

// subscribed starts `mqttboard sub -d args` and returns once it has its SUBACK.
func (b *binary) subscribed(t *testing.T, args ...string) *proc {
	t.Helper()
	p := b.start(t, "", append([]string{"sub", "-d"}, args...)...)
	p.errOut.waitFor(t, "< SUBACK")
	return p
}

// listener is a client of our own package subscribed to filter, the other
// side that sees what the binary sent.
func listener(t *testing.T, url, user, pass, filter string) <-chan *client.MessageEvent {
	t.Helper()
	o := client.Options{URL: url, Username: user}
	if pass != "" {
		o.Password, o.PasswordSet = []byte(pass), true
	}
	c, err := client.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Subscribe(ctx, client.SubscribeProperties{}, client.Subscription{Filter: filter, QoS: 2}); err != nil {
		t.Fatal(err)
	}
	ch := make(chan *client.MessageEvent, 64)
	go func() {
		for ev := range c.Events() {
			if m, ok := ev.(*client.MessageEvent); ok {
				select {
				case ch <- m:
				default:
				}
			}
		}
	}()
	return ch
}

func TestBinaryAgainstMosquitto(t *testing.T) {
	if _, ok := clienttest.Binary(); !ok {
		t.Skip("mosquitto not found in PATH or /usr/sbin: install the Debian package mosquitto to run the binary tests against it")
	}
	bin := buildBinary(t)
	m := clienttest.Start(t, clienttest.Config{WebSocket: true, TLS: true, Users: map[string]string{"alice": "secret"}})
	_, port, _ := strings.Cut(m.Addr, ":")
	_, tlsPort, _ := strings.Cut(m.TLSAddr, ":")
	auth := []string{"-u", "alice", "-P", "secret"}
	tcp := append([]string{"-p", port}, auth...)
	recv := func(t *testing.T, ch <-chan *client.MessageEvent) *client.MessageEvent {
		t.Helper()
		return clienttest.Recv(t, ch, wait)
	}

	t.Run("transports", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			args []string
		}{
			{"tcp url", []string{"-L", "mqtt://alice:secret@" + m.Addr}},
			{"tcp host port", append([]string{"-h", "127.0.0.1"}, tcp...)},
			{"tls cafile", append([]string{"-p", tlsPort, "-h", "localhost", "--cafile", m.CAFile}, auth...)},
			{"tls client cert", append([]string{"-L", "mqtts://localhost:" + tlsPort, "--ca", m.CAFile, "--cert", m.ClientCert, "--key", m.ClientKey}, auth...)},
			{"tls insecure", append([]string{"-L", "mqtts://127.0.0.1:" + tlsPort, "--insecure"}, auth...)},
			{"websocket", append([]string{"-L", "ws://" + m.WSAddr + "/mqtt"}, auth...)},
		} {
			for _, v := range []string{"5", "3.1.1"} {
				t.Run(tc.name+" "+v, func(t *testing.T) {
					topic := "bin/tr/" + strings.ReplaceAll(tc.name, " ", "-") + "/" + v
					ch := listener(t, "mqtt://"+m.Addr, "alice", "secret", topic)
					if code, _, e := bin.run(t, "", append([]string{"pub", "-V", v, "-t", topic, "-m", "via " + tc.name, "-q", "1"}, tc.args...)...); code != 0 {
						t.Fatalf("exit %d: %s", code, e)
					}
					if got := recv(t, ch); string(got.Payload) != "via "+tc.name {
						t.Fatalf("got %q", got.Payload)
					}
				})
			}
		}
	})

	t.Run("pub flags seen by a subscriber", func(t *testing.T) {
		ch := listener(t, "mqtt://"+m.Addr, "alice", "secret", "bin/pub/#")
		code, _, e := bin.run(t, "", append([]string{"pub", "-t", "bin/pub/props", "-m", "p", "-q", "2",
			"--user-property", "a=1", "-D", "publish", "user-property", "b", "2", "--content-type", "text/x",
			"--response-topic", "bin/resp", "--correlation-data", "cd", "--payload-format", "1", "--message-expiry", "3600"}, tcp...)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, e)
		}
		got := recv(t, ch)
		pp := got.Props
		if got.QoS != 2 || pp.ContentType != "text/x" || pp.ResponseTopic != "bin/resp" || string(pp.CorrelationData) != "cd" ||
			pp.PayloadFormat != 1 || pp.MessageExpiry == 0 || pp.MessageExpiry > 3600 || len(pp.User) != 2 || pp.User[1].Key != "b" {
			t.Fatalf("properties not as sent: qos %d %+v", got.QoS, pp)
		}

		file := filepath.Join(t.TempDir(), "payload")
		if err := os.WriteFile(file, []byte{0, 1, 2}, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			stdin string
			args  []string
			want  []string
		}{
			{"", []string{"-f", file}, []string{"\x00\x01\x02"}},
			{"whole\nstdin", []string{"-s"}, []string{"whole\nstdin"}},
			{"l1\nl2\n", []string{"-l"}, []string{"l1", "l2"}},
			{"", []string{"-n"}, []string{""}},
			{"", []string{"-m", "r", "--repeat", "3"}, []string{"r", "r", "r"}},
		} {
			if code, _, e := bin.run(t, tc.stdin, append(append([]string{"pub", "-t", "bin/pub/src", "-q", "1"}, tc.args...), tcp...)...); code != 0 {
				t.Fatalf("%v: exit %d: %s", tc.args, code, e)
			}
			for _, w := range tc.want {
				if got := recv(t, ch); string(got.Payload) != w {
					t.Fatalf("%v: got %q, want %q", tc.args, got.Payload, w)
				}
			}
		}

		// -r: a subscriber that comes later gets it as retained.
		if code, _, e := bin.run(t, "", append([]string{"pub", "-t", "bin/ret", "-m", "kept", "-r", "-q", "1"}, tcp...)...); code != 0 {
			t.Fatalf("-r exit %d: %s", code, e)
		}
		if got := recv(t, listener(t, "mqtt://"+m.Addr, "alice", "secret", "bin/ret")); !got.Retain || string(got.Payload) != "kept" {
			t.Fatalf("retained: %+v", got)
		}
	})

	t.Run("connect flags seen by the broker", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			log  string
		}{
			{[]string{"-i", "bin-v5", "-k", "17"}, "as bin-v5 (p5, c1, k17, u'alice')"},
			{[]string{"-i", "bin-v311", "-V", "mqttv311", "-c"}, "as bin-v311 (p2, c0, k60, u'alice')"},
			{[]string{"-i", "bin-v31", "-V", "3.1", "-k", "0"}, "as bin-v31 (p1, c1, k0, u'alice')"},
		} {
			if code, _, e := bin.run(t, "", append(append([]string{"pub", "-t", "bin/c", "-m", "x"}, tc.args...), tcp...)...); code != 0 {
				t.Fatalf("%v: exit %d: %s", tc.args, code, e)
			}
			if !strings.Contains(m.Log(), tc.log) {
				t.Fatalf("%v: mosquitto did not log %q:\n%s", tc.args, tc.log, m.Log())
			}
		}
	})

	t.Run("sub flags", func(t *testing.T) {
		pub := func(args ...string) {
			t.Helper()
			if code, _, e := bin.run(t, "", append(append([]string{"pub", "-q", "1"}, args...), tcp...)...); code != 0 {
				t.Fatalf("pub %v: exit %d: %s", args, code, e)
			}
		}
		pub("-t", "bin/sub/old", "-m", "retained", "-r")
		// -R skips the retained message, -T filters a topic out, -C 2 ends it.
		s := bin.subscribed(t, append([]string{"-t", "bin/sub/#", "-R", "-T", "bin/sub/skip", "-C", "2", "-v"}, tcp...)...)
		pub("-t", "bin/sub/skip", "-m", "no")
		pub("-t", "bin/sub/a", "-m", "1")
		pub("-t", "bin/sub/b", "-m", "2")
		if code := s.exit(t); code != 0 || s.out.String() != "bin/sub/a 1\nbin/sub/b 2\n" {
			t.Fatalf("exit %d, out %q, err %s", code, s.out.String(), s.errOut.String())
		}
		// --retained-only prints what is retained and exits.
		if code, out, e := bin.run(t, "", append([]string{"sub", "-t", "bin/sub/#", "--retained-only", "-v", "-W", "5"}, tcp...)...); code != 0 || out != "bin/sub/old retained\n" {
			t.Fatalf("--retained-only: exit %d out %q err %s", code, out, e)
		}
		// -E exits once subscribed.
		if code, _, e := bin.run(t, "", append([]string{"sub", "-t", "bin/sub/x", "-E"}, tcp...)...); code != 0 {
			t.Fatalf("-E: exit %d %s", code, e)
		}
	})

	t.Run("will and SIGINT", func(t *testing.T) {
		if runtime.GOOS == "windows" {
			t.Skip("signals")
		}
		ch := listener(t, "mqtt://"+m.Addr, "alice", "secret", "bin/will/#")
		// SIGINT: a clean DISCONNECT, so no will and exit 0.
		s := bin.subscribed(t, append([]string{"-t", "bin/none", "-i", "bin-sigint", "--will-topic", "bin/will/int", "--will-payload", "bad"}, tcp...)...)
		if err := s.cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		if code := s.exit(t); code != 0 {
			t.Fatalf("SIGINT: exit %d, want 0; stderr %s", code, s.errOut.String())
		}
		// SIGKILL: the broker publishes the will, with its properties.
		s = bin.subscribed(t, append([]string{"-t", "bin/none", "--will-topic", "bin/will/kill", "--will-payload", "gone",
			"--will-qos", "1", "--will-user-property", "why=killed"}, tcp...)...)
		if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		got := recv(t, ch)
		if got.Topic != "bin/will/kill" || string(got.Payload) != "gone" || len(got.Props.User) != 1 {
			t.Fatalf("will: %+v (the SIGINT run must not have sent one)", got)
		}
		if !strings.Contains(m.Log(), "Client bin-sigint disconnected.") {
			t.Fatalf("SIGINT did not disconnect cleanly:\n%s", m.Log())
		}
	})

	t.Run("exit codes", func(t *testing.T) {
		for _, v := range []string{"5", "3.1.1"} {
			for _, tc := range []struct {
				name string
				args []string
				code int
			}{
				{"refused auth", []string{"pub", "-p", port, "-u", "alice", "-P", "wrong", "-t", "x", "-m", "x"}, ExitRefused},
				{"anonymous", []string{"sub", "-p", port, "-t", "x"}, ExitRefused},
				{"unreachable", []string{"pub", "-h", "127.0.0.1", "-p", freePort(t), "-t", "x", "-m", "x"}, ExitConnect},
				{"unknown host", []string{"pub", "-h", "no-such-host.invalid", "-t", "x", "-m", "x"}, ExitConnect},
				{"timeout", append([]string{"sub", "-t", "bin/quiet", "-C", "1", "-W", "0.2"}, tcp...), ExitTimeout},
				{"usage", []string{"pub", "-t", "x"}, ExitUsage},
				{"bad flag", []string{"sub", "--nope"}, ExitUsage},
			} {
				t.Run(tc.name+" "+v, func(t *testing.T) {
					code, out, e := bin.run(t, "", append(tc.args, "-V", v)...)
					if code != tc.code || out != "" || !strings.HasPrefix(e, "mqttboard: ") {
						t.Fatalf("exit %d (want %d), stdout %q, stderr %q", code, tc.code, out, e)
					}
				})
			}
		}
	})
}

// freePort is a loopback port nothing listens on: one the kernel gave
// out and that was closed again.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := strings.Cut(l.Addr().String(), ":")
	return port
}

func TestBinaryAgainstBundledBroker(t *testing.T) {
	bin := buildBinary(t)
	addr := brokertest.Start(t)
	_, port, _ := strings.Cut(addr, ":")
	for _, v := range []string{"5", "3.1.1"} {
		t.Run(v, func(t *testing.T) {
			topic := "bin/ours/" + v
			s := bin.subscribed(t, "-p", port, "-V", v, "-t", topic+"/#", "-q", "1", "-C", "2", "-v")
			if code, _, e := bin.run(t, "l1\nl2\n", "pub", "-p", port, "-V", v, "-t", topic+"/x", "-l", "-q", "1", "-v"); code != 0 {
				t.Fatalf("pub exit %d: %s", code, e)
			}
			if code := s.exit(t); code != 0 || s.out.String() != topic+"/x l1\n"+topic+"/x l2\n" {
				t.Fatalf("sub exit %d out %q err %s", code, s.out.String(), s.errOut.String())
			}
			if code, _, e := bin.run(t, "", "sub", "-p", port, "-V", v, "-t", "bin/quiet", "-C", "1", "-W", "0.2"); code != ExitTimeout {
				t.Fatalf("timeout: exit %d %s", code, e)
			}
			if code, _, e := bin.run(t, "", "pub", "-p", port, "-V", v, "-t", "bad/#", "-m", "x"); code != ExitUsage {
				t.Fatalf("wildcard topic: exit %d %s", code, e)
			}
		})
	}
}

// TestBinaryVersion: a binary built from a checkout names its commit.
func TestBinaryVersion(t *testing.T) {
	head, err := testproc.Tie(exec.Command("git", "rev-parse", "HEAD")).Output()
	if err != nil {
		t.Skipf("not in a git checkout (%v): nothing to compare the commit with", err)
	}
	top, err := testproc.Tie(exec.Command("git", "rev-parse", "--show-toplevel")).Output()
	if err != nil {
		t.Skip(err)
	}
	if fi, err := os.Stat(filepath.Join(strings.TrimSpace(string(top)), ".git")); err != nil || !fi.IsDir() {
		t.Skip("a git worktree (.git is a file): the go command stamps VCS information only where .git is a directory")
	}
	bin := buildBinary(t)
	code, out, e := bin.run(t, "", "version")
	if code != 0 || !strings.Contains(out, "commit "+strings.TrimSpace(string(head))) {
		t.Fatalf("exit %d, version %q (want commit %s); stderr %s", code, out, head, e)
	}
}
