package cli

import (
	"net"
	"strings"
	"testing"

	"github.com/mqttboard/mqttboard/profiles"
)

// TestBoardWatchesBrokerConnectsToIt: `mqttboard --broker-http ADDR`
// connects its first connection to the watched broker's MQTT listener, as
// its /healthz reports it, with --broker-token as the user name, instead of
// starting the bundled broker; a broker that does not answer leaves the
// board on the bundled broker and says why.
func TestBoardWatchesBrokerConnectsToIt(t *testing.T) {
	port, base, _ := startBrokerHTTP(t, "--listen", "127.0.0.1:0", "--ws-listen", "127.0.0.1:0", "--http", "127.0.0.1:0")
	opts, err := boardOptions(&BoardOptions{BrokerHTTP: base, BrokerToken: "KEY"}, &profiles.File{}, "")
	if err != nil {
		t.Fatal(err)
	}
	if opts.Connect == nil || opts.Connect.URL != "mqtt://127.0.0.1:"+port || opts.Connect.Username != "KEY" || opts.Connect.Local || opts.Notice != "" {
		t.Fatalf("connect %+v, notice %q; want mqtt://127.0.0.1:%s with user name KEY", opts.Connect, opts.Notice, port)
	}

	// Nothing listens at the address: the bundled broker, and a notice.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	opts, err = boardOptions(&BoardOptions{BrokerHTTP: dead}, &profiles.File{}, "")
	if err != nil {
		t.Fatal(err)
	}
	if opts.Connect != nil || !strings.Contains(opts.Notice, "did not answer") || !strings.Contains(opts.Notice, "bundled broker") {
		t.Fatalf("connect %+v, notice %q; want the bundled broker and why", opts.Connect, opts.Notice)
	}
}

func TestPickListener(t *testing.T) {
	for _, c := range []struct {
		urls []string
		api  string
		want string
	}{
		{[]string{"mqtt://127.0.0.1:1883"}, "http://127.0.0.1:9080", "mqtt://127.0.0.1:1883"},
		{[]string{"mqtts://127.0.0.1:8883", "ws://127.0.0.1:8080/mqtt", "mqtt://127.0.0.1:1883"}, "http://h:1", "mqtt://127.0.0.1:1883"},
		{[]string{"mqtts://127.0.0.1:8883", "ws://127.0.0.1:8080/mqtt"}, "http://h:1", "ws://127.0.0.1:8080/mqtt"},
		{[]string{"mqtt://0.0.0.0:1883"}, "http://box.lan:9080", "mqtt://box.lan:1883"},
		{[]string{"mqtt://[::]:1883"}, "https://[::1]:9080", "mqtt://[::1]:1883"},
		{[]string{"mqtts://127.0.0.1:8883", "wss://127.0.0.1:8443/mqtt"}, "http://h:1", ""},
		{nil, "http://h:1", ""},
		{[]string{"%zz", "mqtt://127.0.0.1:1"}, "http://h:1", "mqtt://127.0.0.1:1"},
	} {
		if got := pickListener(c.urls, c.api); got != c.want {
			t.Errorf("pickListener(%q, %q) = %q, want %q", c.urls, c.api, got, c.want)
		}
	}
}
