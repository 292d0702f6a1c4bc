package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/mqttboard/mqttboard/client"
	"github.com/mqttboard/mqttboard/packet"
)

// RROptions are rr's flags and streams.
type RROptions struct {
	IO      *IOStreams
	Conn    ConnFlags
	Payload PayloadFlags
	Props   PublishPropFlags
	Out     OutputFlags
	Topic   string
	QoS     int
	Timeout string
	D       []string
}

// NewCmdRR builds `mqttboard rr`. runF replaces rrRun in tests.
func NewCmdRR(ios *IOStreams, runF func(context.Context, *RROptions) error) *cobra.Command {
	o := &RROptions{IO: ios}
	cmd := &cobra.Command{
		Use:   "rr -t TOPIC (-m MSG | -f FILE | -s | -n) [flags]",
		Short: "Request/response: publish a request and print the matching answer (MQTT 5)",
		Long: `Publish a request carrying a response topic and correlation data, wait for
the answer on the response topic with the same correlation data, print it and
exit 0; exit 5 when -W passes first.

The response topic defaults to mqttboard/rr/RANDOM and the correlation data to
a random hex string; set them with --response-topic and --correlation-data.`,
		Example: `  mqttboard rr -t devices/42/cmd -m '{"reboot":true}' -W 5
  mqttboard rr -t svc/time -n --response-topic me/answers -v`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := applyDFlags(cmd, o.D, args); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return rrRun(cmd.Context(), o)
		},
	}
	addConnFlags(cmd, &o.Conn)
	addPayloadFlags(cmd, &o.Payload, false)
	addPublishPropFlags(cmd, &o.Props)
	addOutputFlags(cmd, &o.Out)
	addDFlag(cmd, &o.D)
	fs := cmd.Flags()
	fs.StringVarP(&o.Topic, "topic", "t", "", "request topic")
	fs.IntVarP(&o.QoS, "qos", "q", 1, "QoS of the request and of the response subscription")
	fs.StringVarP(&o.Timeout, "timeout", "W", "10", "wait this long for the answer: seconds or a duration")
	return cmd
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func rrRun(ctx context.Context, o *RROptions) error {
	co, urlTopic, err := o.Conn.options(o.IO)
	if err != nil {
		return err
	}
	if co.Version != packet.V5 {
		return usageError(errors.New("rr needs MQTT 5 (response topic and correlation data are MQTT 5 properties): drop -V or use -V 5"))
	}
	topic := o.Topic
	if topic == "" {
		topic = urlTopic
	}
	if topic == "" {
		return usageError(errors.New("no request topic: give -t TOPIC"))
	}
	if o.QoS < 0 || o.QoS > 2 {
		return usageError(fmt.Errorf("-q %d: QoS is 0, 1 or 2", o.QoS))
	}
	if err := o.Out.validate(o.IO); err != nil {
		return err
	}
	co.KeepPropertyOrder = o.Out.needsPropertyOrder()
	timeout, err := parseTimeout(o.Timeout)
	if err != nil {
		return err
	}
	props, err := o.Props.properties(o.Conn.profile)
	if err != nil {
		return err
	}
	if props.ResponseTopic == "" {
		props.ResponseTopic = "mqttboard/rr/" + randomHex(8)
	}
	if err := packet.ValidateTopicName(props.ResponseTopic); err != nil {
		return usageError(fmt.Errorf("--response-topic %q: %w", props.ResponseTopic, err))
	}
	if props.CorrelationData == nil {
		props.CorrelationData = []byte(randomHex(8))
	}
	payload, err := o.Payload.payload(o.IO.In)
	if err != nil {
		return err
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
	if _, err := c.Subscribe(ctx, client.SubscribeProperties{}, client.Subscription{Filter: props.ResponseTopic, QoS: byte(o.QoS)}); err != nil {
		return clientExit(err)
	}
	var deadline <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	req := &client.Message{Topic: topic, Payload: payload, QoS: byte(o.QoS), Props: props}
	if _, err := c.Publish(ctx, req); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return clientExit(err)
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return withExit(ExitTimeout, fmt.Errorf("no answer on %s with correlation data %q within %v", props.ResponseTopic, props.CorrelationData, timeout))
		case <-c.Done():
			return fmt.Errorf("connection to %s lost: %v", c.URL(), c.Err())
		case ev := <-c.Events():
			m, ok := ev.(*client.MessageEvent)
			if !ok || m.Topic != props.ResponseTopic || !bytes.Equal(m.Props.CorrelationData, props.CorrelationData) {
				continue
			}
			return o.Out.writeMessage(out, m)
		}
	}
}
