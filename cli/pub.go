package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mqttboard/mqttboard/client"
	"github.com/mqttboard/mqttboard/packet"
	"github.com/mqttboard/mqttboard/profiles"
)

// PublishPropFlags are the MQTT 5 PUBLISH properties, shared by pub and rr.
type PublishPropFlags struct {
	MessageExpiry   uint32
	ContentType     string
	PayloadFormat   int
	ResponseTopic   string
	CorrelationData string
	TopicAlias      uint16
	User            []string
	changed         func(string) bool
}

func addPublishPropFlags(cmd *cobra.Command, f *PublishPropFlags) {
	fs := cmd.Flags()
	fs.Uint32Var(&f.MessageExpiry, "message-expiry", 0, "message expiry interval in seconds")
	fs.StringVar(&f.ContentType, "content-type", "", "content type, e.g. application/json")
	fs.IntVar(&f.PayloadFormat, "payload-format", -1, "payload format indicator: 0 bytes, 1 UTF-8")
	fs.StringVar(&f.ResponseTopic, "response-topic", "", "response topic")
	fs.StringVar(&f.CorrelationData, "correlation-data", "", "correlation data")
	fs.Uint16Var(&f.TopicAlias, "topic-alias", 0, "topic alias")
	fs.StringArrayVar(&f.User, "user-property", nil, "user property k=v or \"k: v\" (repeatable)")
	f.changed = func(n string) bool { return cmd.Flags().Changed(n) }
}

// properties builds the PUBLISH properties from the flags; a flag not
// given takes the value of the profile's publish defaults (prof may be nil).
func (f *PublishPropFlags) properties(prof *profiles.Profile) (packet.Properties, error) {
	var p packet.Properties
	if prof != nil && prof.Publish != nil {
		d := prof.Publish
		if d.MessageExpiry != 0 && !f.changed("message-expiry") {
			p.MessageExpiry = d.MessageExpiry
			p.Present = p.Present.Add(packet.PropMessageExpiry)
		}
		if !f.changed("content-type") {
			f.ContentType = d.ContentType
		}
		if !f.changed("response-topic") {
			f.ResponseTopic = d.ResponseTopic
		}
		if !f.changed("user-property") {
			for _, u := range d.User {
				f.User = append(f.User, u.Key+"="+u.Value)
			}
		}
	}
	if f.changed("message-expiry") {
		p.MessageExpiry = f.MessageExpiry
		p.Present = p.Present.Add(packet.PropMessageExpiry)
	}
	p.ContentType = f.ContentType
	if f.PayloadFormat >= 0 {
		if f.PayloadFormat > 1 {
			return p, usageError(fmt.Errorf("--payload-format %d: use 0 or 1", f.PayloadFormat))
		}
		p.PayloadFormat = byte(f.PayloadFormat)
		p.Present = p.Present.Add(packet.PropPayloadFormat)
	}
	p.ResponseTopic = f.ResponseTopic
	if f.changed("correlation-data") {
		p.CorrelationData = []byte(f.CorrelationData)
	}
	if f.changed("topic-alias") {
		if f.TopicAlias == 0 {
			return p, usageError(errors.New("--topic-alias 0 is not allowed [MQTT-3.3.2-8]: use 1 or more"))
		}
		p.TopicAlias = f.TopicAlias
		p.Present = p.Present.Add(packet.PropTopicAlias)
	}
	var err error
	p.User, err = parseUserProperties("user-property", f.User)
	return p, err
}

// PayloadFlags choose where a published payload comes from.
type PayloadFlags struct {
	Message string
	File    string
	Stdin   bool
	Lines   bool
	Null    bool
	changed func(string) bool
}

func addPayloadFlags(cmd *cobra.Command, f *PayloadFlags, lines bool) {
	fs := cmd.Flags()
	fs.StringVarP(&f.Message, "message", "m", "", "payload")
	fs.StringVarP(&f.File, "file", "f", "", "send this file as the payload")
	fs.StringVar(&f.File, "file-read", "", "alias of --file")
	fs.BoolVarP(&f.Stdin, "stdin", "s", false, "send all of stdin as one payload")
	if lines {
		fs.BoolVarP(&f.Lines, "stdin-line", "l", false, "send each line of stdin as a message")
	}
	fs.BoolVarP(&f.Null, "null-message", "n", false, "send an empty payload")
	f.changed = func(n string) bool { return cmd.Flags().Changed(n) }
}

// payload returns the single payload, or nil with lines true for -l.
func (f *PayloadFlags) payload(in io.Reader) (b []byte, err error) {
	n := 0
	for _, set := range []bool{f.changed("message"), f.File != "", f.Stdin, f.Lines, f.Null} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, usageError(errors.New("give exactly one payload source: -m MESSAGE, -f FILE, -s (stdin), -l (stdin lines) or -n (empty)"))
	}
	switch {
	case f.changed("message"):
		return []byte(f.Message), nil
	case f.File != "":
		b, err := os.ReadFile(f.File)
		if err != nil {
			// A file that is not there is the caller's mistake (exit 2).
			return nil, usageError(fmt.Errorf("-f/--file %s: %w", f.File, unwrapPathErr(err)))
		}
		return b, nil
	case f.Stdin:
		b, err := io.ReadAll(in)
		if err != nil {
			return nil, fmt.Errorf("read stdin: %w", err)
		}
		return b, nil
	}
	return []byte{}, nil
}

// PubOptions are pub's flags and streams.
type PubOptions struct {
	IO          *IOStreams
	Conn        ConnFlags
	Payload     PayloadFlags
	Props       PublishPropFlags
	Topic       string
	QoS         int
	Retain      bool
	Repeat      int
	Interval    time.Duration
	RepeatDelay float64
	Verbose     bool
	Output      string
	Format      string
	D           []string
}

// NewCmdPub builds `mqttboard pub`. runF replaces pubRun in tests.
func NewCmdPub(ios *IOStreams, runF func(context.Context, *PubOptions) error) *cobra.Command {
	o := &PubOptions{IO: ios}
	cmd := &cobra.Command{
		Use:   "pub -t TOPIC (-m MSG | -f FILE | -s | -l | -n) [flags]",
		Short: "Publish a message (in place of mosquitto_pub)",
		Example: `  mqttboard pub -t sensors/1 -m 21.5
  mqttboard pub -L mqtt://token@mqtt.flespi.io/sensors/1 -q 1 -m 21.5 -v
  mqttboard pub -t cmd -q 1 -m on --user-property origin=ci --message-expiry 60
  mqttboard pub -t cmd -m x -D publish user-property origin ci
  tail -f app.log | mqttboard pub -t logs -l`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := applyDFlags(cmd, o.D, args); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return pubRun(cmd.Context(), o)
		},
	}
	addConnFlags(cmd, &o.Conn)
	addPayloadFlags(cmd, &o.Payload, true)
	addPublishPropFlags(cmd, &o.Props)
	addDFlag(cmd, &o.D)
	fs := cmd.Flags()
	fs.StringVarP(&o.Topic, "topic", "t", "", "topic to publish to")
	fs.IntVarP(&o.QoS, "qos", "q", 0, "QoS 0, 1 or 2")
	fs.BoolVarP(&o.Retain, "retain", "r", false, "retain the message")
	fs.IntVar(&o.Repeat, "repeat", 1, "publish the message this many times")
	fs.DurationVar(&o.Interval, "interval", 0, "wait this long between repeats")
	fs.Float64Var(&o.RepeatDelay, "repeat-delay", 0, "wait this many seconds between repeats (mosquitto's flag; --interval takes a duration)")
	fs.BoolVarP(&o.Verbose, "verbose", "v", false, "print each acknowledgement with its reason code and properties")
	fs.StringVar(&o.Output, "output", "text", "acknowledgement output with -v: text or json")
	fs.StringVar(&o.Format, "format", "text", "the payload as given is, as MQTTX: text, json (sent compact), hex, base64 or binary")
	enumCompletion(cmd, "format", payloadFormats...)
	enumCompletion(cmd, "output", "text", "json")
	enumCompletion(cmd, "qos", "0", "1", "2")
	return cmd
}

func pubRun(ctx context.Context, o *PubOptions) error {
	co, urlTopic, err := o.Conn.options(o.IO)
	if err != nil {
		return err
	}
	topic := o.Topic
	if topic == "" {
		topic = urlTopic
	}
	if topic == "" && !o.Props.changed("topic-alias") {
		return usageError(errors.New("no topic: give -t TOPIC (or a path in -L mqtt://host/TOPIC)"))
	}
	if o.QoS < 0 || o.QoS > 2 {
		return usageError(fmt.Errorf("-q %d: QoS is 0, 1 or 2", o.QoS))
	}
	if o.RepeatDelay < 0 || o.RepeatDelay > 1e6 {
		return usageError(fmt.Errorf("--repeat-delay %v: give seconds, 0 or more", o.RepeatDelay))
	}
	if o.RepeatDelay > 0 {
		o.Interval = time.Duration(o.RepeatDelay * float64(time.Second))
	}
	if o.Repeat < 1 {
		return usageError(fmt.Errorf("--repeat %d: give 1 or more", o.Repeat))
	}
	if o.Output != "text" && o.Output != "json" {
		return usageError(fmt.Errorf("--output %q: use text or json", o.Output))
	}
	if !slices.Contains(payloadFormats, o.Format) {
		return usageError(fmt.Errorf("--format %q: use %s", o.Format, strings.Join(payloadFormats, ", ")))
	}
	if o.Payload.Lines && o.Repeat > 1 {
		return usageError(errors.New("-l sends each stdin line once: drop --repeat"))
	}
	props, err := o.Props.properties(o.Conn.profile)
	if err != nil {
		return err
	}
	payload, err := o.Payload.payload(o.IO.In)
	if err != nil {
		return err
	}
	if !o.Payload.Lines {
		if payload, err = decodePayload(payload, o.Format); err != nil {
			return err
		}
	}
	if topic != "" {
		if err := packet.ValidateTopicName(topic); err != nil {
			// flespi deletes every retained message under a wildcard topic
			// on an empty retained publish; other brokers disconnect.
			if !packet.HasWildcard(topic) || len(payload) > 0 || !o.Retain || o.Payload.Lines {
				return usageError(fmt.Errorf("-t %q: %w (a wildcard topic is only allowed with -r -n: flespi's bulk deletion of retained messages)", topic, err))
			}
		}
	}
	c, err := connect(ctx, co)
	if err != nil {
		return err
	}
	defer c.Close()

	send := func(b []byte) error {
		if o.Payload.Lines {
			var err error
			if b, err = decodePayload(b, o.Format); err != nil {
				return err
			}
		}
		m := &client.Message{Topic: topic, Payload: b, QoS: byte(o.QoS), Retain: o.Retain, Props: props}
		a, err := c.Publish(ctx, m)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if a != nil && o.Verbose {
				writeAck(o.IO.Out, o.Output == "json", topic, a)
			}
			return clientExit(err)
		}
		if o.Verbose {
			return writeAck(o.IO.Out, o.Output == "json", topic, a)
		}
		return nil
	}
	if err := sendAll(ctx, o, send, payload); err != nil {
		return err
	}
	// A broker that refused a QoS 0 message can only say so with a
	// DISCONNECT; one that came while we published is reported, not
	// swallowed by a zero exit.
	select {
	case <-c.Done():
		return clientExit(c.Err())
	default:
	}
	return nil
}

// sendAll sends the -l lines, or the payload --repeat times.
func sendAll(ctx context.Context, o *PubOptions, send func([]byte) error, payload []byte) error {
	if o.Payload.Lines {
		sc := bufio.NewScanner(o.IO.In)
		sc.Buffer(make([]byte, 64*1024), 256<<20) // MQTT's payload limit is 256 MB
		for sc.Scan() {
			if err := send(sc.Bytes()); err != nil {
				return err
			}
		}
		return sc.Err()
	}
	for i := 0; i < o.Repeat; i++ {
		if i > 0 && o.Interval > 0 {
			t := time.NewTimer(o.Interval)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		if err := send(payload); err != nil {
			return err
		}
	}
	return nil
}

// decodePayload turns a payload given in MQTTX's --format into the bytes
// to send: hex (spaces allowed) and base64 are decoded, json is checked
// and sent compact, text and binary go as they are.
func decodePayload(p []byte, format string) ([]byte, error) {
	switch format {
	case "hex":
		b, err := hex.DecodeString(strings.Join(strings.Fields(string(p)), ""))
		if err != nil {
			return nil, usageError(fmt.Errorf("--format hex: the payload is not hex: %w", err))
		}
		return b, nil
	case "base64":
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(p)))
		if err != nil {
			return nil, usageError(fmt.Errorf("--format base64: the payload is not base64: %w", err))
		}
		return b, nil
	case "json":
		var buf bytes.Buffer
		if err := json.Compact(&buf, p); err != nil {
			return nil, usageError(fmt.Errorf("--format json: the payload is not JSON: %w", err))
		}
		return buf.Bytes(), nil
	}
	return p, nil
}

// unwrapPathErr drops the *fs.PathError wrapper whose path the message
// already names.
func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
