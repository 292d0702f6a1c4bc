package cli

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/mqttboard/mqttboard/client"
	"github.com/mqttboard/mqttboard/packet"
)

// These tests parse flags only: runF captures the options, nothing dials.

func parseSub(t *testing.T, args ...string) (*SubOptions, error) {
	t.Helper()
	ios, _, _, _ := TestIOStreams()
	var got *SubOptions
	cmd := NewCmdSub(ios, func(_ context.Context, o *SubOptions) error { got = o; return nil })
	cmd.Flags().Bool("help", false, "") // the root's; -h is --host
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetArgs(args)
	cmd.SetContext(context.Background())
	err := cmd.Execute()
	return got, err
}

func parsePub(t *testing.T, args ...string) (*PubOptions, error) {
	t.Helper()
	ios, _, _, _ := TestIOStreams()
	var got *PubOptions
	cmd := NewCmdPub(ios, func(_ context.Context, o *PubOptions) error { got = o; return nil })
	cmd.Flags().Bool("help", false, "") // the root's; -h is --host
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetArgs(args)
	cmd.SetContext(context.Background())
	err := cmd.Execute()
	return got, err
}

func TestSubFlags(t *testing.T) {
	o, err := parseSub(t, "-t", "a/#", "-t", "b", "-q", "0", "-q", "2", "--no-local", "--retain-handling", "2",
		"-D", "subscribe", "user-property", "modified_since", "1700000000", "-D", "subscribe", "subscription-identifier", "4",
		"-D", "connect", "session-expiry-interval", "60")
	if err != nil {
		t.Fatal(err)
	}
	subs, props, err := o.subscriptions(packet.V5)
	if err != nil {
		t.Fatal(err)
	}
	want := []client.Subscription{{Filter: "a/#", QoS: 0, NoLocal: true, RetainHandling: 2}, {Filter: "b", QoS: 2, NoLocal: true, RetainHandling: 2}}
	if !slices.Equal(subs, want) {
		t.Fatalf("subscriptions %+v", subs)
	}
	if props.SubscriptionID != 4 || !slices.Equal(props.User, []packet.UserProperty{{Key: "modified_since", Value: "1700000000"}}) {
		t.Fatalf("properties %+v", props)
	}
	co, _, err := o.Conn.options(&IOStreams{})
	if err != nil || co.SessionExpiry == nil || *co.SessionExpiry != 60 {
		t.Fatalf("-D connect session-expiry-interval: %+v %v", co.SessionExpiry, err)
	}
	if _, _, err := o.subscriptions(packet.V311); exitCode(err) != ExitUsage {
		t.Fatalf("--no-local with 3.1.1 accepted: %v", err)
	}
	for _, bad := range [][]string{
		{"-t", "a", "-D", "bogus", "x", "y"},
		{"-t", "a", "-D", "publish", "user-property", "k"},
		{"-t", "a", "stray"},
	} {
		if _, err := parseSub(t, bad...); exitCode(err) != ExitUsage {
			t.Errorf("%v: want a usage error, got %v", bad, err)
		}
	}
}

func TestConnFlags(t *testing.T) {
	o, err := parsePub(t, "-L", "mqtts://tok:pw@broker.example:9999/a/b", "-V", "mqttv311", "-i", "me", "-k", "0",
		"--will-topic", "w", "--will-payload", "bye", "--will-qos", "1", "--will-delay", "5", "--will-user-property", "x: y", "-m", "m")
	if err != nil {
		t.Fatal(err)
	}
	co, topic, err := o.Conn.options(&IOStreams{})
	if err != nil {
		t.Fatal(err)
	}
	if co.URL != "mqtts://broker.example:9999" || topic != "a/b" || co.Username != "tok" || string(co.Password) != "pw" ||
		co.Version != packet.V311 || co.ClientID != "me" || co.KeepAlive >= 0 {
		t.Fatalf("options %+v topic %q", co, topic)
	}
	w := co.Will
	if w == nil || w.Topic != "w" || string(w.Payload) != "bye" || w.QoS != 1 || w.Props.WillDelay != 5 ||
		!slices.Equal(w.Props.User, []packet.UserProperty{{Key: "x", Value: "y"}}) {
		t.Fatalf("will %+v", w)
	}
	for in, want := range map[string]packet.Version{"5": packet.V5, "5.0": packet.V5, "mqttv5": packet.V5,
		"3.1.1": packet.V311, "311": packet.V311, "mqttv311": packet.V311, "3.1": packet.V31, "31": packet.V31, "mqttv31": packet.V31} {
		if v, err := parseVersion(in); err != nil || v != want {
			t.Errorf("-V %s: %v %v", in, v, err)
		}
	}
	o, _ = parsePub(t, "--cafile", "ca.pem", "-m", "x")
	if u, _, _ := o.Conn.brokerURL(); u.String() != "mqtts://localhost:8883" {
		t.Errorf("--cafile does not imply TLS on 8883: %s", u)
	}
	o, _ = parsePub(t, "--protocol", "ws", "-p", "9001", "-m", "x")
	if u, _, _ := o.Conn.brokerURL(); u.String() != "ws://localhost:9001/mqtt" {
		t.Errorf("--protocol ws: %s", u)
	}
}

func TestUserPropertyForms(t *testing.T) {
	for in, want := range map[string]packet.UserProperty{
		"k=v":      {Key: "k", Value: "v"},
		"k=v=w":    {Key: "k", Value: "v=w"},
		"k: v":     {Key: "k", Value: "v"},
		"url: a=b": {Key: "url", Value: "a=b"},
		"empty=":   {Key: "empty", Value: ""},
	} {
		got, err := parseUserProperty(in)
		if err != nil || got != want {
			t.Errorf("%q: got %+v %v", in, got, err)
		}
	}
	if _, err := parseUserProperty("novalue"); err == nil {
		t.Error("novalue accepted")
	}
}

func TestClientErrorExitCodes(t *testing.T) {
	for err, want := range map[error]int{
		&client.DialError{URL: "x", Err: errors.New("refused")}: ExitConnect,
		&client.RefusedError{Code: 0x86}:                        ExitRefused,
		&client.ReasonError{Op: "subscribe to a", Code: 0x87}:   ExitRefused,
		errors.New("other"):                                     ExitError,
	} {
		if got := exitCode(clientExit(err)); got != want {
			t.Errorf("%T: exit %d, want %d", err, got, want)
		}
	}
}

func TestPubTopicValidation(t *testing.T) {
	for _, args := range [][]string{
		{"pub", "-t", "a/#", "-m", "x"},
		{"pub", "-t", "a/+/b", "-n"},
		{"pub", "-t", "", "-m", "x"},
	} {
		if code, _, e := run(t, args...); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d: %s", args, code, ExitUsage, e)
		}
	}
}

func TestPersistentV5AsksForAnEndlessSession(t *testing.T) {
	o, err := parseSub(t, "-t", "a", "-c", "-i", "me")
	if err != nil {
		t.Fatal(err)
	}
	co, _, err := o.Conn.options(&IOStreams{})
	if err != nil || !co.Persistent || co.SessionExpiry == nil || *co.SessionExpiry != 0xFFFFFFFF {
		t.Fatalf("-c: persistent %v expiry %v %v", co.Persistent, co.SessionExpiry, err)
	}
	o, _ = parseSub(t, "-t", "a", "-c", "-i", "me", "--session-expiry", "30")
	if co, _, _ = o.Conn.options(&IOStreams{}); *co.SessionExpiry != 30 {
		t.Fatalf("--session-expiry ignored: %d", *co.SessionExpiry)
	}
}

// TestURLTopic: the path of an mqtt:// or mqtts:// -L URL is the topic
// exactly as written, wildcards included, as mosquitto reads it. Before
// the fix "#" was cut off as a URL fragment ("a/b/").
func TestURLTopic(t *testing.T) {
	for _, tc := range []struct {
		url, base, topic string
	}{
		{"mqtt://h:1884/a/b/#", "mqtt://h:1884", "a/b/#"},
		{"mqtt://h/#", "mqtt://h:1883", "#"},
		{"mqtt://h/a/+/c", "mqtt://h:1883", "a/+/c"},
		{"mqtt://h/+/#", "mqtt://h:1883", "+/#"},
		{"mqtts://tok:pw@h:8884/sensors/+/temp", "mqtts://h:8884", "sensors/+/temp"},
		{"mqtt://h/a?b=c", "mqtt://h:1883", "a?b=c"},
		{"mqtt://h/a%20b", "mqtt://h:1883", "a%20b"},
		{"mqtt://h/$SYS/#", "mqtt://h:1883", "$SYS/#"},
		{"h:1885/x/#", "mqtt://h:1885", "x/#"},
		{"tcp://h/x", "mqtt://h:1883", "x"},
		{"mqtt://h", "mqtt://h:1883", ""},
		{"ws://h:9001/mqtt", "ws://h:9001/mqtt", ""},
	} {
		o, err := parseSub(t, "-L", tc.url)
		if err != nil {
			t.Fatal(err)
		}
		u, topic, err := o.Conn.brokerURL()
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		u.User = nil
		if u.String() != tc.base || topic != tc.topic {
			t.Errorf("%s: broker %s topic %q, want %s %q", tc.url, u, topic, tc.base, tc.topic)
		}
	}
	for _, bad := range []string{"mqtt://h/", "mqtt:///a", "gopher://h/a"} {
		o, _ := parseSub(t, "-L", bad)
		if _, _, err := o.Conn.brokerURL(); exitCode(err) != ExitUsage {
			t.Errorf("%s: want a usage error, got %v", bad, err)
		}
	}
}
