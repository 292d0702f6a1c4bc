package broker_test

import (
	"bufio"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/internal/testproc"
)

func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (Debian package mosquitto-clients); skipping interop test", name)
	}
	return p
}

// TestMosquittoClients runs mosquitto_sub and mosquitto_pub against our
// broker for each protocol version and QoS, with retained messages.
func TestMosquittoClients(t *testing.T) {
	subBin, pubBin := needTool(t, "mosquitto_sub"), needTool(t, "mosquitto_pub")
	addr := brokertest.Start(t)
	host, port, _ := strings.Cut(addr, ":")
	for _, v := range []string{"mqttv31", "mqttv311", "mqttv5"} {
		for _, q := range []string{"0", "1", "2"} {
			t.Run(v+"/qos"+q, func(t *testing.T) {
				topic := "mosq/" + v + "/" + q
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				// The retained message is there before the subscriber.
				if out, err := testproc.Tie(exec.CommandContext(ctx, pubBin, "-h", host, "-p", port, "-V", v, "-q", q, "-r", "-t", topic+"/r", "-m", "kept")).CombinedOutput(); err != nil {
					t.Fatalf("mosquitto_pub: %v %s", err, out)
				}
				sub := testproc.Tie(exec.CommandContext(ctx, subBin, "-h", host, "-p", port, "-V", v, "-q", q, "-t", topic+"/#", "-C", "2", "-v"))
				out, _ := sub.StdoutPipe()
				if err := sub.Start(); err != nil {
					t.Fatal(err)
				}
				lines := bufio.NewScanner(out)
				if !lines.Scan() || lines.Text() != topic+"/r kept" {
					t.Fatalf("first line %q", lines.Text())
				}
				// Subscribed (the retained message arrived): publish live.
				if out, err := testproc.Tie(exec.CommandContext(ctx, pubBin, "-h", host, "-p", port, "-V", v, "-q", q, "-t", topic+"/live", "-m", "hello")).CombinedOutput(); err != nil {
					t.Fatalf("mosquitto_pub: %v %s", err, out)
				}
				if !lines.Scan() || lines.Text() != topic+"/live hello" {
					t.Fatalf("second line %q", lines.Text())
				}
				if err := sub.Wait(); err != nil {
					t.Fatalf("mosquitto_sub: %v", err)
				}
			})
		}
	}
}

// TestMosquittoResume: a mosquitto_sub with a persistent session misses
// QoS 1 messages while away and gets them when it comes back.
func TestMosquittoResume(t *testing.T) {
	subBin, pubBin := needTool(t, "mosquitto_sub"), needTool(t, "mosquitto_pub")
	addr := brokertest.Start(t)
	host, port, _ := strings.Cut(addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Subscribe once (-E: exit after subscribing) with a kept session.
	if out, err := testproc.Tie(exec.CommandContext(ctx, subBin, "-h", host, "-p", port, "-V", "mqttv5", "-i", "mosq-persist", "-c", "-x", "60", "-q", "1", "-t", "resume/#", "-E")).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_sub -E: %v %s", err, out)
	}
	for _, m := range []string{"a", "b"} {
		if out, err := testproc.Tie(exec.CommandContext(ctx, pubBin, "-h", host, "-p", port, "-q", "1", "-t", "resume/x", "-m", m)).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_pub: %v %s", err, out)
		}
	}
	out, err := testproc.Tie(exec.CommandContext(ctx, subBin, "-h", host, "-p", port, "-V", "mqttv5", "-i", "mosq-persist", "-c", "-x", "60", "-q", "1", "-t", "resume/#", "-C", "2")).Output()
	if err != nil || string(out) != "a\nb\n" {
		t.Fatalf("resumed session got %q, %v", out, err)
	}
}

// TestMosquittoShutdown: what mosquitto_sub sees when the broker shuts
// down: the will of another connected mosquitto_sub, then DISCONNECT 0x8B.
func TestMosquittoShutdown(t *testing.T) {
	subBin := needTool(t, "mosquitto_sub")
	opts, events := brokertest.Events(100)
	opts.Listen = "127.0.0.1:0"
	srv := broker.New(opts)
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background()) }()
	host, port, _ := strings.Cut(srv.Addr().String(), ":")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// start runs mosquitto_sub -d and waits until it has subscribed; its
	// output (stdout and stderr) is in the returned channel, line by line.
	start := func(id string, args ...string) (<-chan string, *exec.Cmd) {
		cmd := testproc.Tie(exec.CommandContext(ctx, subBin, append([]string{"-h", host, "-p", port, "-V", "mqttv5", "-d", "-v", "-i", id}, args...)...))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = cmd.Stdout
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 100)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// Its output is buffered until it exits: the broker says when it
		// has subscribed.
		brokertest.WaitEvent(t, events, 10*time.Second, func(e broker.Event) bool {
			return e.Kind == broker.EventSubscribed && e.ClientID == id
		})
		return lines, cmd
	}
	watcher, wcmd := start("watcher", "-t", "will/#")
	_, ocmd := start("owner", "-t", "other", "--will-topic", "will/a", "--will-payload", "gone", "--will-qos", "1")
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	var will, disconnect bool
	for l := range watcher {
		will = will || l == "will/a gone"
		disconnect = disconnect || strings.Contains(l, "DISCONNECT (139)")
	}
	wcmd.Wait()
	ocmd.Wait()
	if !will || !disconnect {
		t.Fatalf("mosquitto_sub saw the will: %v, DISCONNECT 0x8B: %v", will, disconnect)
	}
	<-served
}
