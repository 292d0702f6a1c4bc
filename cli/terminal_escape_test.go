package cli

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/client"
)

// TestSubEscapesOnTerminal: on a terminal, sub prints a payload's escape
// sequences (a colour, a window title), other control characters and
// invalid UTF-8 escaped, with its line breaks and tabs kept; --raw, a
// pipe or a file get the bytes unchanged, as from mosquitto_sub.
func TestSubEscapesOnTerminal(t *testing.T) {
	addr := brokertest.Start(t)
	_, port, _ := net.SplitHostPort(addr)
	payload := "hi\x1b[31mred\x1b[0m\x1b]0;TITLE\x07\tcol\nnext\xff\x9b"
	cases := []struct {
		name     string
		terminal bool
		args     []string
		want     string
	}{
		{"terminal", true, nil, "t/x hi␛[31mred␛[0m␛]0;TITLE␇\tcol\nnext\\xff\\x9b\n"},
		{"raw", true, []string{"--raw"}, "t/x " + payload + "\n"},
		{"pipe", false, nil, "t/x " + payload + "\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			out, errOut := newSyncBuffer(), newSyncBuffer()
			ios := &IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errOut, IsTerminal: tc.terminal}
			code := make(chan int, 1)
			args := append([]string{"sub", "-d", "-p", port, "-t", "t/#", "-v", "-C", "1"}, tc.args...)
			go func() { code <- Run(ctx, ios, args) }()
			errOut.waitFor(t, "< SUBACK")
			if _, err := peer(t, addr).Publish(ctx, &client.Message{Topic: "t/x", Payload: []byte(payload)}); err != nil {
				t.Fatal(err)
			}
			select {
			case c := <-code:
				if c != 0 {
					t.Fatalf("exit %d: %s", c, errOut.String())
				}
			case <-time.After(wait):
				t.Fatal("sub did not end")
			}
			if got := out.String(); got != tc.want {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}
