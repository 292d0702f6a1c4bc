package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/mqttboard/mqttboard/client"
	"github.com/mqttboard/mqttboard/packet"
)

// RetainedOptions are the flags of retained list and retained clean.
type RetainedOptions struct {
	IO         *IOStreams
	Conn       ConnFlags
	Out        OutputFlags
	Filter     string
	Timeout    string
	ProbeTopic string
	Clean      bool
}

// NewCmdRetained builds `mqttboard retained list|clean FILTER`. runF
// replaces retainedRun in tests.
func NewCmdRetained(ios *IOStreams, runF func(context.Context, *RetainedOptions) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "retained list|clean FILTER",
		Short: "List or delete the retained messages under a topic filter",
		Long: `List the retained messages under a filter, or delete them one by one with an
empty retained publish to each topic (works on any broker).

The end of the retained messages is found by a probe: after subscribing to
FILTER, mqttboard subscribes to and publishes one non-retained message on
--probe-topic; brokers deliver it after the retained messages. If the token
in use may not publish there, set --probe-topic to a topic it may use.`,
	}
	for _, clean := range []bool{false, true} {
		o := &RetainedOptions{IO: ios, Clean: clean}
		sub := &cobra.Command{
			Use:   "list FILTER",
			Short: "Print the retained messages under FILTER (topic and payload; see --output, -F)",
			Example: `  mqttboard retained list 'sensors/#'
  mqttboard retained list '#' --output json`,
			Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				o.Filter = args[0]
				if runF != nil {
					return runF(cmd.Context(), o)
				}
				return retainedRun(cmd.Context(), o)
			},
		}
		if clean {
			sub.Use = "clean FILTER"
			sub.Short = "Delete every retained message under FILTER, printing each topic removed"
			sub.Example = `  mqttboard retained clean 'test/#'`
		}
		addConnFlags(sub, &o.Conn)
		addOutputFlags(sub, &o.Out)
		sub.Flags().StringVarP(&o.Timeout, "timeout", "W", "10", "give up waiting for the retained messages after this long")
		sub.Flags().StringVar(&o.ProbeTopic, "probe-topic", "", "topic of the end-of-retained probe (default mqttboard/probe/RANDOM)")
		cmd.AddCommand(sub)
	}
	return cmd
}

func retainedRun(ctx context.Context, o *RetainedOptions) error {
	co, _, err := o.Conn.options(o.IO)
	if err != nil {
		return err
	}
	if err := packet.ValidateFilter(o.Filter); err != nil {
		return usageError(fmt.Errorf("filter %q: %w", o.Filter, err))
	}
	if err := o.Out.validate(o.IO); err != nil {
		return err
	}
	co.KeepPropertyOrder = o.Out.needsPropertyOrder()
	timeout, err := parseTimeout(o.Timeout)
	if err != nil {
		return err
	}
	if timeout == 0 {
		return usageError(errors.New("-W 0: retained needs a timeout"))
	}
	probe := o.ProbeTopic
	if probe == "" {
		probe = "mqttboard/probe/" + randomHex(8)
	}
	out, closeOut, err := o.Out.open(o.IO)
	if err != nil {
		return err
	}
	defer closeOut()
	c, err := connect(ctx, co)
	if err != nil {
		return err
	}
	defer c.Close()
	found, complete, err := c.CollectRetained(ctx, o.Filter, probe, timeout)
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		return clientExit(err)
	case !complete:
		fmt.Fprintf(o.IO.ErrOut, "mqttboard: the probe on %s did not come back within %v; the list may be incomplete (set --probe-topic to a topic this client may publish to)\n", probe, timeout)
		if !o.Clean {
			for _, m := range found {
				if err := o.print(out, m); err != nil {
					return err
				}
			}
			return withExit(ExitTimeout, errors.New("end of retained messages not confirmed"))
		}
	}
	if !o.Clean {
		for _, m := range found {
			if err := o.print(out, m); err != nil {
				return err
			}
		}
		return nil
	}
	// Stop the deletions echoing back to us, and keep reading events so the
	// client's reader never waits on a full channel while we wait for acks.
	if _, err := c.Unsubscribe(ctx, nil, o.Filter, probe); err != nil {
		return clientExit(err)
	}
	drained := make(chan struct{})
	defer close(drained)
	go func() {
		for {
			select {
			case <-c.Events():
			case <-drained:
				return
			}
		}
	}()
	for _, m := range found {
		if _, err := c.Publish(ctx, &client.Message{Topic: m.Topic, Retain: true, QoS: 1}); err != nil {
			return clientExit(err)
		}
		if o.Out.Output == "json" {
			fmt.Fprintf(out, "%s\n", marshalLine(struct {
				Topic   string `json:"topic"`
				Removed bool   `json:"removed"`
			}{m.Topic, true}))
		} else {
			fmt.Fprintf(out, "removed %s\n", m.Topic)
		}
	}
	return nil
}

// print lists one retained message: topic and payload unless -F or
// --output json say otherwise.
func (o *RetainedOptions) print(w io.Writer, m *client.MessageEvent) error {
	f := o.Out
	f.Verbose = true
	return f.writeMessage(w, m)
}
