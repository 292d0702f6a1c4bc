package packet

import (
	"bufio"
	"context"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/internal/testproc"
)

// Real traffic: mosquitto_pub and mosquitto_sub talk to a tiny broker in the
// test that decodes every packet they send with this package and answers
// with packets it encodes.

func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not found (Debian package mosquitto-clients): skipping real-traffic test", name)
	}
	return p
}

// fakeBroker accepts one connection and runs script over it, returning the
// String() of every packet decoded.
type fakeBroker struct {
	ln   net.Listener
	got  chan []string
	errs chan error
}

func startFake(t *testing.T, script func(r *Reader, w net.Conn, log func(Packet)) error) *fakeBroker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	fb := &fakeBroker{ln: ln, got: make(chan []string, 1), errs: make(chan error, 1)}
	go func() {
		c, err := ln.Accept()
		if err != nil {
			fb.errs <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		r := NewReader(bufio.NewReader(c))
		var seen []string
		err = script(r, c, func(p Packet) { seen = append(seen, p.String()) })
		fb.got <- seen
		fb.errs <- err
	}()
	return fb
}

func (fb *fakeBroker) port() string { return strconv.Itoa(fb.ln.Addr().(*net.TCPAddr).Port) }

func send(w net.Conn, p Packet, v Version) error {
	b, err := Encode(p, v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// serve answers like a broker until DISCONNECT or EOF; deliver is sent to
// the client after its SUBSCRIBE is acknowledged.
func serve(deliver *Publish) func(r *Reader, w net.Conn, log func(Packet)) error {
	return func(r *Reader, w net.Conn, log func(Packet)) error {
		for {
			p, err := r.ReadPacket()
			if err != nil {
				return err
			}
			log(p)
			v := r.Version
			switch q := p.(type) {
			case *Connect:
				err = send(w, &Connack{}, v)
			case *Publish:
				switch q.QoS {
				case 1:
					err = send(w, &Puback{Ack{PacketID: q.PacketID}}, v)
				case 2:
					err = send(w, &Pubrec{Ack{PacketID: q.PacketID}}, v)
				}
			case *Pubrel:
				err = send(w, &Pubcomp{Ack{PacketID: q.PacketID}}, v)
			case *Subscribe:
				codes := make([]ReasonCode, len(q.Subscriptions))
				for i, s := range q.Subscriptions {
					codes[i] = ReasonCode(s.QoS)
				}
				if err = send(w, &Suback{PacketID: q.PacketID, ReasonCodes: codes}, v); err == nil && deliver != nil {
					err = send(w, deliver, v)
				}
			case *Pingreq:
				err = send(w, &Pingresp{}, v)
			case *Disconnect:
				return nil
			}
			if err != nil {
				return err
			}
		}
	}
}

func runTool(t *testing.T, fb *fakeBroker, name string, args ...string) (string, []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	args = append([]string{"-h", "127.0.0.1", "-p", fb.port()}, args...)
	out, err := testproc.Tie(exec.CommandContext(ctx, needTool(t, name), args...)).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	var seen []string
	select {
	case seen = <-fb.got:
	case <-ctx.Done():
		t.Fatal("fake broker saw no connection")
	}
	if err := <-fb.errs; err != nil {
		t.Fatalf("decoding %s traffic: %v (packets so far: %q)", name, err, seen)
	}
	return string(out), seen
}

func TestMosquittoPubTraffic(t *testing.T) {
	needTool(t, "mosquitto_pub")
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-V", "311", "-i", "pub1", "-t", "a/b", "-m", "hello", "-q", "1", "-r", "-u", "user", "-P", "pw",
			"--will-topic", "w/t", "--will-payload", "gone", "--will-qos", "1", "--will-retain"},
			[]string{
				`CONNECT v3.1.1 client-id="pub1" clean=true keepalive=60 username="user" password=*** will={topic="w/t" qos=1 retain=true payload=4B}`,
				`PUBLISH topic="a/b" qos=1 id=1 retain payload=5B`,
				`DISCONNECT reason=success (0x00)`,
			}},
		{[]string{"-V", "311", "-i", "pub2", "-t", "q2", "-m", "x", "-q", "2", "-k", "10"},
			[]string{
				`CONNECT v3.1.1 client-id="pub2" clean=true keepalive=10`,
				`PUBLISH topic="q2" qos=2 id=1 payload=1B`,
				`PUBREL id=1 reason=success (0x00)`,
				`DISCONNECT reason=success (0x00)`,
			}},
		{[]string{"-V", "31", "-i", "pub3", "-t", "old", "-n"},
			[]string{
				`CONNECT v3.1 client-id="pub3" clean=true keepalive=60`,
				`PUBLISH topic="old" qos=0 payload=0B`,
				`DISCONNECT reason=success (0x00)`,
			}},
		{[]string{"-V", "5", "-i", "pub5", "-t", "five", "-m", "{}", "-q", "1",
			"-D", "connect", "session-expiry-interval", "30", "-D", "connect", "user-property", "ck", "cv",
			"-D", "publish", "message-expiry-interval", "60", "-D", "publish", "content-type", "application/json",
			"-D", "publish", "user-property", "k1", "v1", "-D", "publish", "user-property", "k2", "v2",
			"-D", "publish", "response-topic", "re/ply", "-D", "publish", "correlation-data", "c0de"},
			[]string{
				`CONNECT v5.0 client-id="pub5" clean=true keepalive=60 session-expiry-interval=30 receive-maximum=20 "ck"="cv"`,
				`PUBLISH topic="five" qos=1 id=1 payload=2B message-expiry-interval=60 content-type="application/json" response-topic="re/ply" correlation-data=63306465 "k1"="v1" "k2"="v2"`,
				`DISCONNECT reason=success (0x00)`,
			}},
	} {
		t.Run(strings.Join(tc.args[:4], " "), func(t *testing.T) {
			fb := startFake(t, serve(nil))
			_, seen := runTool(t, fb, "mosquitto_pub", tc.args...)
			if strings.Join(seen, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("packets from mosquitto_pub:\n%s\nwant:\n%s", strings.Join(seen, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestMosquittoSubTraffic(t *testing.T) {
	needTool(t, "mosquitto_sub")
	for _, v := range []Version{V311, V5} {
		t.Run(v.String(), func(t *testing.T) {
			msg := &Publish{Topic: "s/1", QoS: 1, PacketID: 42, Payload: []byte("payload from our encoder")}
			if v == V5 {
				msg.Props.User = []UserProperty{{"from", "test"}}
			}
			fb := startFake(t, serve(msg))
			ver := map[Version]string{V311: "311", V5: "5"}[v]
			out, seen := runTool(t, fb, "mosquitto_sub", "-V", ver, "-i", "sub", "-t", "s/+", "-t", "x/#", "-q", "1", "-C", "1", "-v")
			if strings.TrimSpace(out) != "s/1 payload from our encoder" {
				t.Fatalf("mosquitto_sub printed %q", out)
			}
			connect := `CONNECT v` + v.String() + ` client-id="sub" clean=true keepalive=60`
			if v == V5 {
				connect += " receive-maximum=1" // mosquitto_sub -C 1 takes one message at a time
			}
			want := []string{
				connect,
				`SUBSCRIBE id=1 "s/+" qos=1 "x/#" qos=1`,
				`PUBACK id=42 reason=success (0x00)`,
				`DISCONNECT reason=success (0x00)`,
			}
			if strings.Join(seen, "\n") != strings.Join(want, "\n") {
				t.Fatalf("packets from mosquitto_sub:\n%s\nwant:\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}
