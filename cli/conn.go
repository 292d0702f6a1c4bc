package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mqttboard/mqttboard/client"
	"github.com/mqttboard/mqttboard/packet"
)

// ConnOptions are the flags of `mqttboard conn`.
type ConnOptions struct {
	IO      *IOStreams
	Conn    ConnFlags
	Timeout string
}

// NewCmdConn builds `mqttboard conn` (MQTTX's conn): connect, print what
// the broker granted, stay connected. runF replaces connRun in tests.
func NewCmdConn(ios *IOStreams, runF func(context.Context, *ConnOptions) error) *cobra.Command {
	o := &ConnOptions{IO: ios}
	cmd := &cobra.Command{
		Use:   "conn [flags]",
		Short: "Connect, print the CONNACK and stay connected (MQTTX's conn)",
		Long: `Connect and print the CONNACK: reason, session present and every property
(assigned client id, server keep alive, limits, user properties). The
connection stays open, reconnecting with the same options when it drops,
until Ctrl-C (exit 0) or -W passes (exit 0).`,
		Example: `  mqttboard conn -h broker.example -V 5 --session-expiry 300
  mqttboard conn -L mqtts://token@mqtt.flespi.io -W 5`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return connRun(cmd.Context(), o)
		},
	}
	addConnFlags(cmd, &o.Conn)
	cmd.Flags().StringVarP(&o.Timeout, "timeout", "W", "", "disconnect after this long: seconds or a duration")
	return cmd
}

func connRun(ctx context.Context, o *ConnOptions) error {
	co, _, err := o.Conn.options(o.IO)
	if err != nil {
		return err
	}
	timeout, err := parseTimeout(o.Timeout)
	if err != nil {
		return err
	}
	co.Reconnect = true
	c, err := client.New(co)
	if err != nil {
		return usageError(err)
	}
	ca, err := c.Connect(ctx)
	if err != nil {
		return clientExit(err)
	}
	defer c.Close()
	fmt.Fprintln(o.IO.Out, describeConnack(c.URL(), ca))
	var deadline <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	first := true
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-deadline:
			return nil
		case ev := <-c.Events():
			switch e := ev.(type) {
			case *client.ConnectedEvent:
				if first { // the Connect above, printed already
					first = false
					continue
				}
				fmt.Fprintln(o.IO.Out, "reconnected: "+describeConnack(c.URL(), &e.Connack))
			case *client.ConnectionLostEvent:
				fmt.Fprintf(o.IO.Out, "connection lost: %s; reconnecting\n", strconv.Quote(e.Err.Error()))
			case *client.DisconnectEvent:
				fmt.Fprintf(o.IO.Out, "broker sent DISCONNECT: %v %s\n", e.Code, strconv.Quote(e.Props.ReasonString))
			}
		}
	}
}

// describeConnack is the CONNACK on one line: strings quoted (they come
// from the network), every property present named.
func describeConnack(url string, ca *client.Connack) string {
	var b strings.Builder
	fmt.Fprintf(&b, "connected to %s: CONNACK %v, session present %t", url, ca.Code, ca.SessionPresent)
	p := &ca.Props
	if p.AssignedClientID != "" {
		fmt.Fprintf(&b, ", assigned client id %s", strconv.Quote(p.AssignedClientID))
	}
	if p.Has(packet.PropServerKeepAlive) {
		fmt.Fprintf(&b, ", server keep alive %ds", p.ServerKeepAlive)
	}
	if p.ResponseInfo != "" {
		fmt.Fprintf(&b, ", response information %s", strconv.Quote(p.ResponseInfo))
	}
	if p.ServerReference != "" {
		fmt.Fprintf(&b, ", server reference %s", strconv.Quote(p.ServerReference))
	}
	if p.ReasonString != "" {
		fmt.Fprintf(&b, ", reason string %s", strconv.Quote(p.ReasonString))
	}
	if s := p.String(); s != "" {
		b.WriteString("\n  properties: " + s)
	}
	return b.String()
}
