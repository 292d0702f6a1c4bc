package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/client"
)

// TestAgainstBundledBroker runs the scripted commands against our own
// broker in-process, as the other tests do against mosquitto.
func TestAgainstBundledBroker(t *testing.T) {
	// A strictly standard broker (no flespi timestamp/cid stamping), so
	// the output compares exactly; stamping has its own test.
	_, addr := brokertest.StartServer(t, broker.Options{NoStamp: true})
	_, port, _ := strings.Cut(addr, ":")
	for _, v := range []string{"5", "3.1.1", "3.1"} {
		t.Run(v, func(t *testing.T) {
			topic := "ours/" + v
			r := subscribed(t, "-p", port, "-V", v, "-t", topic+"/#", "-q", "1", "-C", "2", "--output", "json")
			for _, m := range []string{"one", "two"} {
				if code, _, e := mqttboard(t, "", "pub", "-p", port, "-V", v, "-t", topic+"/x", "-m", m, "-q", "1"); code != 0 {
					t.Fatalf("pub exit %d: %s", code, e)
				}
			}
			if code := r.exit(t); code != 0 {
				t.Fatalf("sub exit %d: %s", code, r.errOut.String())
			}
			want := `{"topic":"` + topic + `/x","qos":1,"retain":false,"dup":false,"payload":"one"}` + "\n" +
				`{"topic":"` + topic + `/x","qos":1,"retain":false,"dup":false,"payload":"two"}` + "\n"
			if got := r.out.String(); got != want {
				t.Fatalf("got  %q\nwant %q", got, want)
			}
		})
	}
	t.Run("user properties", func(t *testing.T) {
		r := subscribed(t, "-p", port, "-t", "up", "-C", "1", "-F", "%P")
		if code, _, e := mqttboard(t, "", "pub", "-p", port, "-t", "up", "-m", "x", "--user-property", "a=1", "-D", "publish", "user-property", "b", "2"); code != 0 {
			t.Fatalf("pub exit %d: %s", code, e)
		}
		if code := r.exit(t); code != 0 {
			t.Fatalf("exit %d", code)
		}
		// flespi (and our broker) may add their own user properties, such
		// as timestamp; ours must arrive first and in order.
		if got := r.out.String(); !strings.HasPrefix(got, "a:1 b:2") {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("retained list and clean", func(t *testing.T) {
		for _, s := range []string{"1", "2"} {
			if code, _, e := mqttboard(t, "", "pub", "-p", port, "-t", "keep/"+s, "-m", "r"+s, "-r", "-q", "1"); code != 0 {
				t.Fatalf("pub exit %d: %s", code, e)
			}
		}
		code, out, e := mqttboard(t, "", "retained", "list", "keep/#", "-p", port)
		if code != 0 || out != "keep/1 r1\nkeep/2 r2\n" {
			t.Fatalf("list exit %d out %q err %q", code, out, e)
		}
		code, out, e = mqttboard(t, "", "retained", "clean", "keep/#", "-p", port)
		if code != 0 || out != "removed keep/1\nremoved keep/2\n" {
			t.Fatalf("clean exit %d out %q err %q", code, out, e)
		}
		if code, out, _ = mqttboard(t, "", "retained", "list", "keep/#", "-p", port); code != 0 || out != "" {
			t.Fatalf("after clean: exit %d out %q", code, out)
		}
	})
	t.Run("rr", func(t *testing.T) {
		responder := peer(t, addr)
		ctx := context.Background()
		if _, err := responder.Subscribe(ctx, client.SubscribeProperties{}, client.Subscription{Filter: "svc", QoS: 1}); err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				select {
				case ev := <-responder.Events():
					if m, ok := ev.(*client.MessageEvent); ok {
						ans := &client.Message{Topic: m.Props.ResponseTopic, Payload: []byte("pong"), QoS: 1}
						ans.Props.CorrelationData = m.Props.CorrelationData
						responder.Publish(ctx, ans)
					}
				case <-responder.Done():
					return
				}
			}
		}()
		code, out, e := mqttboard(t, "", "rr", "-p", port, "-t", "svc", "-m", "ping", "-W", "5")
		if code != 0 || out != "pong\n" {
			t.Fatalf("exit %d out %q err %q", code, out, e)
		}
	})
}

// TestRefusalsFromBundledBroker checks exit code 4 for SUBACK and PUBACK
// failure codes, which mosquitto 2.0 does not send for ACL denials of
// SUBSCRIBE (it grants and then filters).
func TestRefusalsFromBundledBroker(t *testing.T) {
	_, addr := brokertest.StartServer(t, broker.Options{ACL: &broker.ACL{
		Default: "allow",
		Rules:   []broker.ACLRule{{Action: "all", Allow: false, Topics: []string{"secret/#"}}},
	}})
	_, port, _ := strings.Cut(addr, ":")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sub", "-t", "secret/x", "-t", "open/x"}, "subscribe to secret/x: broker answered SUBACK not authorized (0x87)"},
		{[]string{"pub", "-t", "secret/x", "-m", "x", "-q", "1"}, "publish to secret/x: broker answered PUBACK not authorized (0x87)"},
		{[]string{"pub", "-t", "secret/x", "-m", "x", "-q", "2", "-V", "5"}, "PUBREC not authorized (0x87)"},
	} {
		code, _, errOut := mqttboard(t, "", append(tc.args, "-p", port)...)
		if code != ExitRefused || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, want %d; stderr %q", tc.args, code, ExitRefused, errOut)
		}
	}
	code, _, errOut := mqttboard(t, "", "sub", "-p", port, "-V", "3.1.1", "-t", "secret/x")
	if code != ExitRefused || !strings.Contains(errOut, "0x80") {
		t.Errorf("3.1.1 SUBACK 0x80: exit %d %q", code, errOut)
	}
}
