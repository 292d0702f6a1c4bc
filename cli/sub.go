package cli

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/spf13/cobra"

	"github.com/mqttboard/mqttboard/client"
	"github.com/mqttboard/mqttboard/packet"
)

// SubOptions are sub's flags and streams.
type SubOptions struct {
	IO   *IOStreams
	Conn ConnFlags
	Out  OutputFlags

	Topics            []string
	QoS               []int
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    int
	SubscriptionID    int
	User              []string

	Count            int
	Timeout          string
	ExitOnSubscribed bool
	SkipRetained     bool
	RetainedOnly     bool
	RemoveRetained   bool
	FilterOut        []string
	Unsubscribe      []string
	RandomFilter     float64
	D                []string
	countSet         bool
}

// NewCmdSub builds `mqttboard sub`. runF replaces subRun in tests.
func NewCmdSub(ios *IOStreams, runF func(context.Context, *SubOptions) error) *cobra.Command {
	o := &SubOptions{IO: ios}
	cmd := &cobra.Command{
		Use:   "sub -t FILTER [-t FILTER...] [flags]",
		Short: "Subscribe and print messages (in place of mosquitto_sub)",
		Long: `Subscribe to one or more topic filters and print each message received.

Ends after -C messages (exit 0), when -W passes first (exit 5), right after
the SUBACK with -E (exit 0), or on Ctrl-C (clean DISCONNECT, exit 0).`,
		Example: `  mqttboard sub -t 'sensors/#' -v
  mqttboard sub -t a -t b -q 0 -q 1 --output json
  mqttboard sub -t 'cmd/+' -C 1 -W 10 -F '%I %t %p'
  mqttboard sub -t 'devices/#' --user-property modified_since=1700000000
  mqttboard sub -t 'old/#' --remove-retained -W 2`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := applyDFlags(cmd, o.D, args); err != nil {
				return err
			}
			o.countSet = cmd.Flags().Changed("count")
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return subRun(cmd.Context(), o)
		},
	}
	addConnFlags(cmd, &o.Conn)
	addOutputFlags(cmd, &o.Out)
	addDFlag(cmd, &o.D)
	fs := cmd.Flags()
	fs.StringArrayVarP(&o.Topics, "topic", "t", nil, "topic filter (repeatable)")
	fs.IntSliceVarP(&o.QoS, "qos", "q", []int{0}, "QoS: one for every filter, or one per -t in order")
	fs.BoolVar(&o.NoLocal, "no-local", false, "do not receive our own publishes (MQTT 5)")
	fs.BoolVar(&o.RetainAsPublished, "retain-as-published", false, "keep the retain flag as published (MQTT 5)")
	fs.IntVar(&o.RetainHandling, "retain-handling", 0, "0 send retained, 1 only on a new subscription, 2 never (MQTT 5)")
	fs.IntVar(&o.SubscriptionID, "subscription-id", 0, "subscription identifier (MQTT 5)")
	fs.StringArrayVar(&o.User, "user-property", nil, "user property on SUBSCRIBE, k=v (repeatable; flespi's modified_since)")
	fs.IntVarP(&o.Count, "count", "C", 0, "exit after this many messages")
	fs.StringVarP(&o.Timeout, "timeout", "W", "", "give up after this long once subscribed: seconds or a duration (exit 5 if fewer than -C, or no, messages came)")
	fs.BoolVarP(&o.ExitOnSubscribed, "exit-on-subscribed", "E", false, "exit once the SUBACK arrives")
	fs.BoolVarP(&o.SkipRetained, "no-retained", "R", false, "skip retained messages")
	fs.BoolVar(&o.RetainedOnly, "retained-only", false, "print only retained messages; exit at the first live one")
	fs.BoolVar(&o.RemoveRetained, "remove-retained", false, "delete every retained message received (publishes an empty retained message to its topic)")
	fs.StringArrayVarP(&o.FilterOut, "filter-out", "T", nil, "do not print topics matching this filter (repeatable)")
	fs.StringArrayVarP(&o.Unsubscribe, "unsubscribe", "U", nil, "unsubscribe from this filter first, e.g. in a persistent session (repeatable)")
	fs.Float64Var(&o.RandomFilter, "random-filter", 100, "print only this percentage of the messages, chosen at random")
	enumCompletion(cmd, "retain-handling", "0", "1", "2")
	enumCompletion(cmd, "qos", "0", "1", "2")
	return cmd
}

func (o *SubOptions) subscriptions(v packet.Version) ([]client.Subscription, client.SubscribeProperties, error) {
	var props client.SubscribeProperties
	if len(o.Topics) == 0 {
		return nil, props, usageError(errors.New("give at least one -t FILTER"))
	}
	if len(o.QoS) != 1 && len(o.QoS) != len(o.Topics) {
		return nil, props, usageError(fmt.Errorf("%d -q for %d -t: give one QoS for all, or one per -t", len(o.QoS), len(o.Topics)))
	}
	if o.RetainHandling < 0 || o.RetainHandling > 2 {
		return nil, props, usageError(fmt.Errorf("--retain-handling %d: use 0, 1 or 2", o.RetainHandling))
	}
	if v != packet.V5 && (o.NoLocal || o.RetainAsPublished || o.RetainHandling != 0 || o.SubscriptionID != 0 || len(o.User) > 0) {
		return nil, props, usageError(errors.New("--no-local, --retain-as-published, --retain-handling, --subscription-id and --user-property need MQTT 5 (-V 5)"))
	}
	if o.SubscriptionID < 0 || o.SubscriptionID > 268_435_455 {
		return nil, props, usageError(fmt.Errorf("--subscription-id %d: use 1 to 268435455", o.SubscriptionID))
	}
	var subs []client.Subscription
	for i, t := range o.Topics {
		if err := packet.ValidateFilter(t); err != nil {
			return nil, props, usageError(fmt.Errorf("-t %q: %w", t, err))
		}
		q := o.QoS[0]
		if len(o.QoS) > 1 {
			q = o.QoS[i]
		}
		if q < 0 || q > 2 {
			return nil, props, usageError(fmt.Errorf("-q %d: QoS is 0, 1 or 2", q))
		}
		subs = append(subs, client.Subscription{Filter: t, QoS: byte(q), NoLocal: o.NoLocal,
			RetainAsPublished: o.RetainAsPublished, RetainHandling: byte(o.RetainHandling)})
	}
	for _, f := range o.FilterOut {
		if err := packet.ValidateFilter(f); err != nil {
			return nil, props, usageError(fmt.Errorf("-T %q: %w", f, err))
		}
	}
	props.SubscriptionID = o.SubscriptionID
	var err error
	props.User, err = parseUserProperties("user-property", o.User)
	return subs, props, err
}

func subRun(ctx context.Context, o *SubOptions) error {
	co, urlTopic, err := o.Conn.options(o.IO)
	if err != nil {
		return err
	}
	if len(o.Topics) == 0 && urlTopic != "" {
		o.Topics = []string{urlTopic}
	}
	subs, props, err := o.subscriptions(co.Version)
	if err != nil {
		return err
	}
	if err := o.Out.validate(o.IO); err != nil {
		return err
	}
	co.KeepPropertyOrder = o.Out.needsPropertyOrder()
	timeout, err := parseTimeout(o.Timeout)
	if err != nil {
		return err
	}
	if o.Count < 0 || (o.Count == 0 && o.countSet) {
		// As mosquitto_sub: -C 0 is a mistake, not "no limit".
		return usageError(fmt.Errorf("-C %d: give 1 or more", o.Count))
	}
	if o.RandomFilter <= 0 || o.RandomFilter > 100 {
		return usageError(fmt.Errorf("--random-filter %v: give a percentage above 0, up to 100", o.RandomFilter))
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
	if len(o.Unsubscribe) > 0 {
		if _, err := c.Unsubscribe(ctx, nil, o.Unsubscribe...); err != nil {
			return clientExit(err)
		}
	}
	if _, err := c.Subscribe(ctx, props, subs...); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return clientExit(err)
	}
	if o.ExitOnSubscribed {
		return nil
	}
	var deadline <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	received := 0
	for {
		select {
		case <-ctx.Done():
			return nil // Ctrl-C is how a subscription normally ends
		case <-deadline:
			if (o.Count > 0 && received < o.Count) || (o.Count == 0 && received == 0) {
				return withExit(ExitTimeout, fmt.Errorf("timeout after %v: %d of %s messages received", timeout, received, countWord(o.Count)))
			}
			return nil
		case <-c.Done():
			// A broker's DISCONNECT is reported here, once: c.Err says
			// what it said.
			var de *client.DisconnectedError
			if err := c.Err(); errors.As(err, &de) {
				return clientExit(err)
			}
			return fmt.Errorf("connection to %s lost: %v", c.URL(), c.Err())
		case ev := <-c.Events():
			switch e := ev.(type) {
			case *client.MessageEvent:
				if o.RemoveRetained && e.Retain && len(e.Payload) > 0 {
					// QoS 0: a QoS 1 publish would wait for a PUBACK that the
					// client's reader cannot deliver while we are not reading
					// events.
					del := &client.Message{Topic: e.Topic, Retain: true}
					if _, err := c.Publish(ctx, del); err != nil {
						return clientExit(err)
					}
				}
				if o.RetainedOnly && !e.Retain {
					return nil
				}
				if (o.SkipRetained && e.Retain) || filteredOut(o.FilterOut, e.Topic) {
					continue
				}
				if o.RandomFilter < 100 && rand.Float64()*100 >= o.RandomFilter {
					continue
				}
				if err := o.Out.writeMessage(out, e); err != nil {
					return err
				}
				received++
				if o.Count > 0 && received >= o.Count {
					return nil
				}
			}
		}
	}
}

func countWord(n int) string {
	if n == 0 {
		return "at least 1"
	}
	return fmt.Sprint(n)
}

// filteredOut reports whether a -T filter matches topic; the matcher is
// the broker's ([packet.MatchFilter]), so -T agrees with what a
// subscription to the same filter would receive.
func filteredOut(filters []string, topic string) bool {
	for _, f := range filters {
		if packet.MatchFilter(f, topic) {
			return true
		}
	}
	return false
}
