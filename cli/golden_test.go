package cli

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/client"
	"github.com/mqttboard/mqttboard/packet"
)

// update rewrites the golden files: go test ./cli -run Golden -update
var update = flag.Bool("update", false, "rewrite cli/testdata/*.golden with the output the tests see")

// golden compares got with testdata/name.golden byte for byte.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cli -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("output differs from %s (go test ./cli -run %s -update rewrites it)\n got:\n%s\nwant:\n%s", path, t.Name(), got, want)
	}
}

// goldenMessages are what the end-to-end golden tests publish, in order:
// UTF-8 text with every property a broker forwards unchanged, a binary
// payload with binary correlation data and repeated user properties, and
// an empty payload.
func goldenMessages() []*client.Message {
	text := &client.Message{Topic: "g/text", Payload: []byte("héllo <&> \"q\"\\"), QoS: 1}
	text.Props.PayloadFormat = 1
	text.Props.Present = text.Props.Present.Add(packet.PropPayloadFormat)
	text.Props.ContentType = "text/plain"
	text.Props.ResponseTopic = "g/reply"
	text.Props.CorrelationData = []byte("c1")
	text.Props.User = []packet.UserProperty{{Key: "origin", Value: "golden"}}
	bin := &client.Message{Topic: "g/bin", Payload: []byte{0xff, 0x00, 0x01, 'A'}, QoS: 2}
	bin.Props.CorrelationData = []byte{0xff, 0xfe} // not UTF-8: base64 in JSON
	bin.Props.User = []packet.UserProperty{{Key: "k", Value: "v"}, {Key: "k", Value: "w"}, {Key: "sp ace", Value: "a=b"}}
	empty := &client.Message{Topic: "g/empty/x", QoS: 0}
	return []*client.Message{text, bin, empty}
}

// everyFormat is -F with every specifier except the clock ones (%I, %U,
// %u, %j, %J, @), which TestGoldenFormatUnit covers with a fixed time.
const everyFormat = `t=%t p=%p l=%l q=%q r=%r d=%d x=%x X=%X m=%m P=%P C=%C D=%D R=%R E=%E F=%F A=%A S=%S %% \\ \t| %10t|%-10t|%.3t|%5p|%-5p|%05l|%6x|%-6X|%8C|%-4E|%04S|`

// TestGoldenSubOutputs runs `mqttboard sub` in each output format against
// mosquitto while a peer publishes goldenMessages, and compares stdout with
// testdata/sub_*.golden exactly.
func TestGoldenSubOutputs(t *testing.T) {
	addr, port := startMosquitto(t)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"sub_payload", nil},
		{"sub_verbose", []string{"-v"}},
		{"sub_format", []string{"-F", everyFormat}},
		{"sub_json", []string{"--output", "json"}},
		{"sub_json_v311", []string{"--output", "json", "-V", "3.1.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"-p", port, "-t", "g/#", "-q", "2", "-C", "3"}
			if tc.name != "sub_json_v311" {
				args = append(args, "--subscription-id", "42")
			}
			r := subscribed(t, append(args, tc.args...)...)
			p := peer(t, addr)
			for _, m := range goldenMessages() {
				if _, err := p.Publish(context.Background(), m); err != nil {
					t.Fatal(err)
				}
			}
			if code := r.exit(t); code != 0 {
				t.Fatalf("exit %d: %s", code, r.errOut.String())
			}
			golden(t, tc.name, []byte(r.out.String()))
		})
	}
}

// TestGoldenRetainedList lists retained messages in text, -F and JSON.
func TestGoldenRetainedList(t *testing.T) {
	addr, port := startMosquitto(t)
	p := peer(t, addr)
	for _, m := range goldenMessages() {
		m.Retain = true
		if len(m.Payload) == 0 {
			m.Payload = []byte("not empty") // an empty retained publish deletes
		}
		if _, err := p.Publish(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	for _, args := range [][]string{nil, {"-F", "%t %q %l %x"}, {"--output", "json"}} {
		code, o, e := mqttboard(t, "", append([]string{"retained", "list", "g/#", "-p", port, "-W", "10"}, args...)...)
		if code != 0 {
			t.Fatalf("retained list %v: exit %d: %s", args, code, e)
		}
		out.WriteString(o)
	}
	golden(t, "retained_list", out.Bytes())
}

// TestGoldenPubVerbose prints the acknowledgement of each QoS in text and
// JSON, from mosquitto.
func TestGoldenPubVerbose(t *testing.T) {
	_, port := startMosquitto(t)
	var out bytes.Buffer
	for _, output := range []string{"text", "json"} {
		for _, v := range []string{"5", "3.1.1"} {
			for _, q := range []string{"0", "1", "2"} {
				code, o, e := mqttboard(t, "", "pub", "-p", port, "-V", v, "-t", "g/ack/"+q, "-m", "x", "-q", q, "-v", "--output", output)
				if code != 0 {
					t.Fatalf("pub -q %s -V %s: exit %d: %s", q, v, code, e)
				}
				out.WriteString(o)
			}
		}
	}
	golden(t, "pub_verbose", out.Bytes())
}

// TestGoldenFormatUnit covers what a broker cannot make deterministic:
// the receive time (%I, %u), message expiry (a broker counts it down),
// topic alias and the properties of refused acknowledgements.
func TestGoldenFormatUnit(t *testing.T) {
	m := &client.MessageEvent{Message: *goldenMessages()[0], Time: time.Date(2024, 2, 29, 13, 4, 5, 678e6, time.FixedZone("", 2*3600))}
	m.Retain, m.Dup = true, true
	m.Props.MessageExpiry, m.Props.TopicAlias = 3600, 7
	m.Props.Present = m.Props.Present.Add(packet.PropMessageExpiry).Add(packet.PropTopicAlias)
	m.Props.SubscriptionIDs = []uint32{1, 268435455}
	var out bytes.Buffer
	for _, of := range []OutputFlags{{Template: "I=%I U=%U u=%u @c @F@T.@N @@ j=%j J=%J " + everyFormat}, {Template: "%j", Pretty: true},
		{Output: "json"}, {Verbose: true, NoNewline: true}, {Format: "hex"}, {Format: "base64", Verbose: true}} {
		if err := of.validate(&IOStreams{ErrOut: &out}); err != nil {
			t.Fatal(err)
		}
		if err := of.writeMessage(&out, m); err != nil {
			t.Fatal(err)
		}
	}
	out.WriteString("\n")
	acks := []*client.Ack{
		{}, // QoS 0
		{Type: packet.PUBACK, Codes: []packet.ReasonCode{0x10}},
		{Type: packet.PUBACK, Codes: []packet.ReasonCode{0x87}, ReasonString: "not \"authorized\"", User: []packet.UserProperty{{Key: "subscribers_count", Value: "0"}}},
		{Type: packet.PUBREC, Codes: []packet.ReasonCode{0x97}},
		{Type: packet.PUBCOMP, Codes: []packet.ReasonCode{0}, User: []packet.UserProperty{{Key: "a", Value: "1"}, {Key: "a", Value: "2"}}},
	}
	for _, asJSON := range []bool{false, true} {
		for _, a := range acks {
			if err := writeAck(&out, asJSON, "g/t", a); err != nil {
				t.Fatal(err)
			}
		}
	}
	golden(t, "format_unit", out.Bytes())
}
