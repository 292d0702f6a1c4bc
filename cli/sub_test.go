package cli

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/mqttboard/mqttboard/client"
	"github.com/mqttboard/mqttboard/client/clienttest"
	"github.com/mqttboard/mqttboard/packet"
)

// TestSubOutputFormats publishes with mosquitto_pub (a peer that is not
// ours) and checks each output format byte for byte.
func TestSubOutputFormats(t *testing.T) {
	_, port := startMosquitto(t)
	pubArgs := []string{"-p", port, "-t", "fmt/a", "-m", "héllo <&>", "-q", "1",
		"-D", "publish", "user-property", "k", "v", "-D", "publish", "user-property", "k", "w",
		"-D", "publish", "content-type", "text/plain", "-D", "publish", "correlation-data", "c1",
		"-D", "publish", "response-topic", "fmt/reply", "-D", "publish", "payload-format-indicator", "1"}
	cases := []struct {
		name string
		args []string
		want string // exact stdout; a regexp when it starts with ^
	}{
		{"payload", nil, "héllo <&>\n"},
		{"verbose", []string{"-v"}, "fmt/a héllo <&>\n"},
		{"no-newline", []string{"-v", "-N"}, "fmt/a héllo <&>"},
		{"json", []string{"--output", "json"},
			`{"topic":"fmt/a","qos":1,"retain":false,"dup":false,"properties":{"payload_format_indicator":1,"content_type":"text/plain","response_topic":"fmt/reply","correlation_data":"c1","subscription_identifiers":[9],"user_properties":[{"key":"k","value":"v"},{"key":"k","value":"w"}]},"payload":"héllo <&>"}` + "\n"},
		{"format", []string{"-F", `%t|%p|%q|%r|%P|%C|%R|%D|%F|%S|%l|%x|%%|\t.`},
			"fmt/a|héllo <&>|1|0|k:v k:w|text/plain|fmt/reply|c1|1|9|10|68c3a96c6c6f203c263e|%|\t.\n"},
		{"format-time", []string{"-F", "%I %t"}, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} fmt/a\n$`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := subscribed(t, append([]string{"-p", port, "-t", "fmt/#", "-q", "1", "-C", "1", "--subscription-id", "9"}, tc.args...)...)
			if out, err := clienttest.Tool(t, context.Background(), "mosquitto_pub", pubArgs...).CombinedOutput(); err != nil {
				t.Fatalf("mosquitto_pub: %v: %s", err, out)
			}
			if code := r.exit(t); code != 0 {
				t.Fatalf("exit %d: %s", code, r.errOut.String())
			}
			got := r.out.String()
			if strings.HasPrefix(tc.want, "^") {
				if !regexp.MustCompile(tc.want).MatchString(got) {
					t.Fatalf("got %q, want match %s", got, tc.want)
				}
			} else if got != tc.want {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestSubBinaryPayloadJSON(t *testing.T) {
	addr, port := startMosquitto(t)
	for _, v := range []string{"5", "3.1.1", "3.1"} {
		t.Run(v, func(t *testing.T) {
			r := subscribed(t, "-p", port, "-V", v, "-t", "bin", "-C", "1", "--output", "json")
			if _, err := peer(t, addr).Publish(context.Background(), &client.Message{Topic: "bin", Payload: []byte{0xff, 0, 1}, Retain: false}); err != nil {
				t.Fatal(err)
			}
			if code := r.exit(t); code != 0 {
				t.Fatalf("exit %d: %s", code, r.errOut.String())
			}
			want := `{"topic":"bin","qos":0,"retain":false,"dup":false,"payload":"/wAB","payload_encoding":"base64"}` + "\n"
			if got := r.out.String(); got != want {
				t.Fatalf("got  %q\nwant %q", got, want)
			}
		})
	}
}

func TestSubCountTimeoutAndExitOnSubscribed(t *testing.T) {
	addr, port := startMosquitto(t)
	t.Run("count", func(t *testing.T) {
		r := subscribed(t, "-p", port, "-t", "c/#", "-C", "3", "-v")
		p := peer(t, addr)
		for _, s := range []string{"1", "2", "3", "4"} {
			if _, err := p.Publish(context.Background(), &client.Message{Topic: "c/" + s, Payload: []byte(s), QoS: 1}); err != nil {
				t.Fatal(err)
			}
		}
		if code := r.exit(t); code != 0 {
			t.Fatalf("exit %d", code)
		}
		if got := r.out.String(); got != "c/1 1\nc/2 2\nc/3 3\n" {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("timeout before count", func(t *testing.T) {
		r := subscribed(t, "-p", port, "-t", "w/#", "-C", "2", "-W", "300ms")
		if _, err := peer(t, addr).Publish(context.Background(), &client.Message{Topic: "w/1", Payload: []byte("only one"), QoS: 1}); err != nil {
			t.Fatal(err)
		}
		if code := r.exit(t); code != ExitTimeout {
			t.Fatalf("exit %d, want %d", code, ExitTimeout)
		}
		if r.out.String() != "only one\n" || !strings.Contains(r.errOut.String(), "1 of 2 messages") {
			t.Fatalf("out %q err %q", r.out.String(), r.errOut.String())
		}
	})
	t.Run("timeout without count and nothing", func(t *testing.T) {
		if code, _, _ := mqttboard(t, "", "sub", "-p", port, "-t", "nothing", "-W", "0.2"); code != ExitTimeout {
			t.Fatalf("exit %d, want %d", code, ExitTimeout)
		}
	})
	t.Run("-E", func(t *testing.T) {
		code, out, errOut := mqttboard(t, "", "sub", "-p", port, "-t", "e", "-E", "-d")
		if code != 0 || out != "" || !strings.Contains(errOut, "< SUBACK") {
			t.Fatalf("exit %d out %q err %q", code, out, errOut)
		}
	})
	t.Run("interrupt disconnects cleanly", func(t *testing.T) {
		r := subscribed(t, "-p", port, "-t", "i")
		r.cancel()
		if code := r.exit(t); code != 0 {
			t.Fatalf("exit %d", code)
		}
		r.errOut.waitFor(t, "> DISCONNECT")
	})
}

func TestSubRetainedOptions(t *testing.T) {
	addr, port := startMosquitto(t)
	p := peer(t, addr)
	ctx := context.Background()
	for _, s := range []string{"1", "2"} {
		if _, err := p.Publish(ctx, &client.Message{Topic: "ret/" + s, Payload: []byte("r" + s), QoS: 1, Retain: true}); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("-R skips retained, -T filters out", func(t *testing.T) {
		r := subscribed(t, "-p", port, "-t", "ret/#", "-t", "live/#", "-R", "-T", "live/skip/#", "-C", "1", "-v")
		for _, topic := range []string{"live/skip/x", "live/ok"} {
			if _, err := p.Publish(ctx, &client.Message{Topic: topic, Payload: []byte("L"), QoS: 1}); err != nil {
				t.Fatal(err)
			}
		}
		if code := r.exit(t); code != 0 || r.out.String() != "live/ok L\n" {
			t.Fatalf("exit %d out %q", code, r.out.String())
		}
	})
	t.Run("--retained-only ends at the first live message", func(t *testing.T) {
		r := subscribed(t, "-p", port, "-t", "ret/#", "--retained-only", "-v")
		if _, err := p.Publish(ctx, &client.Message{Topic: "ret/live", Payload: []byte("L"), QoS: 1}); err != nil {
			t.Fatal(err)
		}
		if code := r.exit(t); code != 0 || r.out.String() != "ret/1 r1\nret/2 r2\n" {
			t.Fatalf("exit %d out %q", code, r.out.String())
		}
	})
	t.Run("retained list", func(t *testing.T) {
		code, out, errOut := mqttboard(t, "", "retained", "list", "ret/#", "-p", port)
		if code != 0 || out != "ret/1 r1\nret/2 r2\n" {
			t.Fatalf("exit %d out %q err %q", code, out, errOut)
		}
	})
	t.Run("--remove-retained", func(t *testing.T) {
		r := subscribed(t, "-p", port, "-t", "ret/1", "--remove-retained", "-C", "1")
		if code := r.exit(t); code != 0 || r.out.String() != "r1\n" {
			t.Fatalf("exit %d out %q", code, r.out.String())
		}
		code, out, _ := mqttboard(t, "", "retained", "list", "ret/#", "-p", port)
		if code != 0 || out != "ret/2 r2\n" {
			t.Fatalf("after --remove-retained: exit %d list %q", code, out)
		}
	})
	t.Run("retained clean", func(t *testing.T) {
		if _, err := p.Publish(ctx, &client.Message{Topic: "ret/3/x", Payload: []byte("r3"), QoS: 1, Retain: true}); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := mqttboard(t, "", "retained", "clean", "ret/#", "-p", port, "-V", "3.1.1")
		if code != 0 || out != "removed ret/2\nremoved ret/3/x\n" {
			t.Fatalf("exit %d out %q err %q", code, out, errOut)
		}
		code, out, _ = mqttboard(t, "", "retained", "list", "ret/#", "-p", port, "--output", "json")
		if code != 0 || out != "" {
			t.Fatalf("after clean: exit %d list %q", code, out)
		}
	})
}

// TestPubReachesMosquittoSub checks what our pub sends as mosquitto_sub
// sees it, properties included. The message is retained, so mosquitto_sub
// started afterwards gets it without racing the publisher.
func TestPubReachesMosquittoSub(t *testing.T) {
	_, port := startMosquitto(t)
	for _, v := range []string{"5", "311"} {
		t.Run(v, func(t *testing.T) {
			topic := "ms/" + v
			code, out, errOut := mqttboard(t, "", "pub", "-p", port, "-V", v, "-t", topic, "-m", "hi", "-q", "1", "-r",
				"--user-property", "a=1", "--user-property", "b: 2", "--content-type", "text/x")
			if code != 0 {
				t.Fatalf("pub exit %d %q %q", code, out, errOut)
			}
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			got, err := clienttest.Tool(t, ctx, "mosquitto_sub", "-p", port, "-t", topic, "-q", "1", "-C", "1", "-V", "mqttv5",
				"-F", "%t %p %P %C %q %r").CombinedOutput()
			if err != nil {
				t.Fatalf("mosquitto_sub: %v: %s", err, got)
			}
			want := topic + " hi a:1 b:2 text/x 1 1\n"
			if v == "311" {
				want = topic + " hi   1 1\n"
			}
			if string(got) != want {
				t.Fatalf("mosquitto_sub printed %q, want %q", got, want)
			}
		})
	}
}

func TestPubVerboseAckAndSources(t *testing.T) {
	addr, port := startMosquitto(t)
	r := subscribed(t, "-p", port, "-t", "src/#", "-C", "5", "-v")
	code, out, errOut := mqttboard(t, "", "pub", "-p", port, "-t", "src/m", "-m", "m", "-q", "1", "-v")
	if code != 0 || out != "src/m PUBACK success (0x00)\n" {
		t.Fatalf("exit %d out %q err %q", code, out, errOut)
	}
	code, out, _ = mqttboard(t, "", "pub", "-p", port, "-t", "src/j", "-m", "j", "-q", "2", "-v", "--output", "json")
	if code != 0 || out != `{"topic":"src/j","ack":"PUBCOMP","reason_code":0,"reason":"success"}`+"\n" {
		t.Fatalf("exit %d out %q", code, out)
	}
	if code, _, e := mqttboard(t, "line1\nline2\n", "pub", "-p", port, "-t", "src/l", "-l"); code != 0 {
		t.Fatalf("-l exit %d %s", code, e)
	}
	if code, _, e := mqttboard(t, "whole\nstdin", "pub", "-p", port, "-t", "src/s", "-s", "-q", "1"); code != 0 {
		t.Fatalf("-s exit %d %s", code, e)
	}
	if code := r.exit(t); code != 0 {
		t.Fatalf("sub exit %d", code)
	}
	want := "src/m m\nsrc/j j\nsrc/l line1\nsrc/l line2\nsrc/s whole\nstdin\n"
	if got := r.out.String(); got != want {
		t.Fatalf("got %q want %q", got, want)
	}
	_ = addr
}

func TestExitCodes(t *testing.T) {
	m := clienttest.Start(t, clienttest.Config{
		Users: map[string]string{"alice": "secret"},
		ACL:   "user alice\ntopic readwrite allowed/#\n",
	})
	_, port, _ := strings.Cut(m.Addr, ":")
	auth := []string{"-p", port, "-u", "alice", "-P", "secret"}
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"bad flag", []string{"sub", "--no-such-flag"}, ExitUsage},
		{"no topic", []string{"sub", "-p", port}, ExitUsage},
		{"bad version", []string{"pub", "-V", "6", "-t", "x", "-m", "x"}, ExitUsage},
		{"bad qos", []string{"pub", "-q", "3", "-t", "x", "-m", "x"}, ExitUsage},
		{"unreachable", []string{"pub", "-p", "1", "-t", "x", "-m", "x"}, ExitConnect},
		{"bad password v5", []string{"pub", "-p", port, "-u", "alice", "-P", "wrong", "-t", "x", "-m", "x"}, ExitRefused},
		{"bad password v311", []string{"pub", "-p", port, "-V", "311", "-u", "alice", "-P", "wrong", "-t", "x", "-m", "x"}, ExitRefused},
		{"anonymous refused", []string{"sub", "-p", port, "-t", "x"}, ExitRefused},
		{"publish not authorised", append([]string{"pub", "-t", "denied/x", "-m", "x", "-q", "1"}, auth...), ExitRefused},
		{"ok", append([]string{"pub", "-t", "allowed/x", "-m", "x", "-q", "1"}, auth...), ExitOK},
		{"password from env", []string{"pub", "-p", port, "-u", "alice", "--password-env", "MQTTBOARD_TEST_PW", "-t", "allowed/x", "-m", "x"}, ExitOK},
		{"timeout", append([]string{"sub", "-t", "allowed/x", "-W", "0.1"}, auth...), ExitTimeout},
		{"rr timeout", append([]string{"rr", "-t", "allowed/req", "--response-topic", "allowed/resp", "-m", "x", "-W", "0.1"}, auth...), ExitTimeout},
	}
	t.Setenv("MQTTBOARD_TEST_PW", "secret")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := mqttboard(t, "", tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.code, errOut)
			}
			if code != 0 && !strings.HasPrefix(errOut, "mqttboard: ") {
				t.Fatalf("stderr does not explain: %q", errOut)
			}
		})
	}
}

func TestRR(t *testing.T) {
	addr, port := startMosquitto(t)
	responder := peer(t, addr)
	ctx := context.Background()
	if _, err := responder.Subscribe(ctx, client.SubscribeProperties{}, client.Subscription{Filter: "svc/echo", QoS: 1}); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			select {
			case ev := <-responder.Events():
				m, ok := ev.(*client.MessageEvent)
				if !ok {
					continue
				}
				// A decoy with other correlation data first: rr must skip it.
				decoy := &client.Message{Topic: m.Props.ResponseTopic, Payload: []byte("decoy"), QoS: 1}
				decoy.Props.CorrelationData = []byte("other")
				responder.Publish(ctx, decoy)
				ans := &client.Message{Topic: m.Props.ResponseTopic, Payload: append([]byte("re: "), m.Payload...), QoS: 1}
				ans.Props.CorrelationData = m.Props.CorrelationData
				ans.Props.User = []packet.UserProperty{{Key: "by", Value: "responder"}}
				responder.Publish(ctx, ans)
			case <-responder.Done():
				return
			}
		}
	}()
	code, out, errOut := mqttboard(t, "", "rr", "-p", port, "-t", "svc/echo", "-m", "ping", "-W", "5", "-F", "%t %p %P")
	if code != 0 || !regexp.MustCompile(`^mqttboard/rr/[0-9a-f]{16} re: ping by:responder\n$`).MatchString(out) {
		t.Fatalf("exit %d out %q err %q", code, out, errOut)
	}
	code, out, _ = mqttboard(t, "", "rr", "-p", port, "-t", "svc/echo", "-m", "x", "--response-topic", "me/r", "--correlation-data", "42", "-F", "%t %D %p")
	if code != 0 || out != "me/r 42 re: x\n" {
		t.Fatalf("exit %d out %q", code, out)
	}
}

func TestTransportsThroughCLI(t *testing.T) {
	m := clienttest.Start(t, clienttest.Config{WebSocket: true, TLS: true})
	_, wsPort, _ := strings.Cut(m.WSAddr, ":")
	_, tlsPort, _ := strings.Cut(m.TLSAddr, ":")
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"ws url", []string{"-L", "ws://" + m.WSAddr + "/mqtt"}},
		{"ws protocol", []string{"--protocol", "ws", "-p", wsPort, "-h", "127.0.0.1"}},
		{"tls cafile", []string{"-p", tlsPort, "-h", "127.0.0.1", "--cafile", m.CAFile}},
		{"tls client cert", []string{"-L", "mqtts://localhost:" + tlsPort, "--ca", m.CAFile, "--cert", m.ClientCert, "--key", m.ClientKey}},
		{"tls insecure v311", []string{"-p", tlsPort, "--insecure", "-V", "mqttv311"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := mqttboard(t, "", append([]string{"pub", "-t", "x", "-m", "y", "-q", "1"}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
		})
	}
	code, _, errOut := mqttboard(t, "", "pub", "-p", tlsPort, "--cafile", m.ClientCert, "-t", "x", "-m", "y")
	if code != ExitConnect || !strings.Contains(errOut, "certificate") {
		t.Fatalf("untrusted server certificate: exit %d %s", code, errOut)
	}
}

func TestSubPersistentSessionAndFileWrite(t *testing.T) {
	addr, port := startMosquitto(t)
	file := t.TempDir() + "/out.txt"
	// Subscribe with a persistent session, leave, have a message queued,
	// come back: it is delivered and appended to the file.
	if code, _, e := mqttboard(t, "", "sub", "-p", port, "-i", "keeper", "-c", "-q", "1", "-t", "q/#", "-E"); code != 0 {
		t.Fatalf("first sub: exit %d %s", code, e)
	}
	if _, err := peer(t, addr).Publish(context.Background(), &client.Message{Topic: "q/1", Payload: []byte("queued"), QoS: 1}); err != nil {
		t.Fatal(err)
	}
	code, out, e := mqttboard(t, "", "sub", "-p", port, "-i", "keeper", "-c", "-q", "1", "-t", "q/#", "-C", "1", "-v", "--file-write", file)
	if code != 0 || out != "" {
		t.Fatalf("second sub: exit %d out %q err %s", code, out, e)
	}
	b, err := os.ReadFile(file)
	if err != nil || string(b) != "q/1 queued\n" {
		t.Fatalf("file: %q %v", b, err)
	}
}
