package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/mqttboard/mqttboard/client"
	"github.com/mqttboard/mqttboard/packet"
	"github.com/mqttboard/mqttboard/tui/common"
)

// OutputFlags choose how received messages are printed (sub, rr,
// retained list).
type OutputFlags struct {
	Verbose bool
	// Template is mosquitto_sub's -F (see format.go).
	Template string
	// Format is MQTTX's --format: how the payload is shown.
	Format    string
	Pretty    bool
	Output    string
	NoNewline bool
	FileWrite string
	// Raw writes messages to a terminal byte for byte (--raw).
	Raw bool

	tmpl *formatTemplate
	// escape: the output is a terminal and not Raw (set by open), so the
	// control characters and invalid UTF-8 a message carries are escaped.
	escape bool
	warn   func(string) // %J's complaints, to stderr
}

// payloadFormats are MQTTX's --format values.
var payloadFormats = []string{"text", "json", "hex", "base64", "binary"}

func addOutputFlags(cmd *cobra.Command, f *OutputFlags) {
	fs := cmd.Flags()
	fs.BoolVarP(&f.Verbose, "verbose", "v", false, "print the topic, a space, then the payload")
	fs.StringVarP(&f.Template, "format-string", "F", "", "print each message with mosquitto_sub's -F template (%t topic, %p payload, %j JSON, @H date, ...; see README)")
	fs.StringVar(&f.Format, "format", "text", "payload display, as MQTTX: text, json (indented), hex, base64 or binary")
	fs.BoolVar(&f.Pretty, "pretty", false, "indent the JSON of -F %j and %J, as mosquitto_sub --pretty")
	fs.StringVar(&f.Output, "output", "text", "output: text or json (one JSON object per line)")
	fs.BoolVarP(&f.NoNewline, "no-newline", "N", false, "do not end each message with a newline")
	fs.StringVar(&f.FileWrite, "file-write", "", "append the output to this file instead of stdout (MQTTX's flag)")
	fs.BoolVar(&f.Raw, "raw", false, "write topics and payloads to a terminal byte for byte (by default, on a terminal, control characters and invalid UTF-8 are escaped so a message cannot drive the terminal; pipes and files always get the bytes unchanged)")
	enumCompletion(cmd, "output", "text", "json")
	enumCompletion(cmd, "format", payloadFormats...)
}

func (f *OutputFlags) validate(ios *IOStreams) error {
	f.warn = func(s string) { fmt.Fprintln(ios.ErrOut, terminalSafe(s)) }
	switch f.Output {
	case "", "text", "json":
	default:
		return usageError(fmt.Errorf("--output %q: use text or json", f.Output))
	}
	if f.Format == "" {
		f.Format = "text"
	}
	if !slices.Contains(payloadFormats, f.Format) {
		return usageError(fmt.Errorf("--format %q: use %s (-F is mosquitto's template)", f.Format, strings.Join(payloadFormats, ", ")))
	}
	if f.Output == "json" && f.Template != "" {
		return usageError(errors.New("--output json and -F both choose the output: give one"))
	}
	if f.Template != "" {
		t, err := parseFormat(f.Template)
		if err != nil {
			return err
		}
		t.pretty = f.Pretty
		f.tmpl = t
	}
	return nil
}

// needsPropertyOrder reports whether the output lists MQTT 5 properties
// in wire order (-F with %j or %J), which the client then has to keep.
func (f *OutputFlags) needsPropertyOrder() bool {
	if f.tmpl == nil {
		return false
	}
	for _, p := range f.tmpl.parts {
		if p.spec == 'j' || p.spec == 'J' {
			return true
		}
	}
	return false
}

// open returns where messages go: stdout, or the --file-write file
// (appended to, created 0600 since messages may be private). Messages
// written to a terminal are escaped (see [terminalBytes]) unless --raw.
func (f *OutputFlags) open(ios *IOStreams) (io.Writer, func() error, error) {
	if f.FileWrite == "" {
		f.escape = ios.IsTerminal && !f.Raw
		return ios.Out, func() error { return nil }, nil
	}
	file, err := os.OpenFile(f.FileWrite, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, usageError(fmt.Errorf("--file-write: %w", err))
	}
	return file, file.Close, nil
}

// writeMessage prints one message as f says. Without -F, --output json or
// --format it prints as mosquitto_sub: the payload, or the topic and the
// payload with -v; an empty payload prints nothing, or "TOPIC (null)" with
// -v.
func (f *OutputFlags) writeMessage(w io.Writer, m *client.MessageEvent) error {
	var b []byte
	switch {
	case f.tmpl != nil:
		warn := f.warn
		if warn == nil {
			warn = func(string) {}
		}
		b = f.tmpl.appendMessage(nil, m, warn)
	case f.Output == "json":
		b = jsonLine(m)
	case f.Format != "text" && f.Format != "":
		b = mqttxPayload(m.Payload, f.Format)
		if f.Verbose {
			b = append([]byte(m.Topic+" "), b...)
		}
	case len(m.Payload) == 0:
		if !f.Verbose || f.NoNewline {
			return nil
		}
		b = []byte(m.Topic + " (null)")
	case f.Verbose:
		b = append([]byte(m.Topic+" "), m.Payload...)
	default:
		b = m.Payload
	}
	if f.escape {
		b = terminalBytes(b)
	}
	if !f.NoNewline {
		b = append(b[:len(b):len(b)], '\n')
	}
	_, err := w.Write(b)
	return err
}

// terminalBytes is b for a terminal: escaped as the board escapes
// (common.Safe: control characters, C1 codes, bidi overrides and invalid
// UTF-8 show visibly, so an escape sequence in a topic or payload cannot
// recolour the terminal, retitle it or move its cursor), with its line
// breaks and tabs kept. b is returned unchanged, without copying, when it
// needs no escape.
func terminalBytes(b []byte) []byte {
	safe := true
	for _, c := range b {
		if (c < 0x20 && c != '\n' && c != '\t') || c >= 0x7f {
			safe = false
			break
		}
	}
	if safe {
		return b
	}
	var out []byte
	for i, line := range strings.Split(string(b), "\n") {
		if i > 0 {
			out = append(out, '\n')
		}
		for j, field := range strings.Split(line, "\t") {
			if j > 0 {
				out = append(out, '\t')
			}
			out = append(out, common.Safe(field)...)
		}
	}
	return out
}

// jsonMessage is one line of --output json. The field names are part of
// mqttboard's interface to scripts (README lists them); only add fields.
type jsonMessage struct {
	Topic           string     `json:"topic"`
	QoS             byte       `json:"qos"`
	Retain          bool       `json:"retain"`
	Dup             bool       `json:"dup"`
	Properties      *jsonProps `json:"properties,omitempty"`
	Payload         string     `json:"payload"`
	PayloadEncoding string     `json:"payload_encoding,omitempty"`
}

type jsonProps struct {
	PayloadFormat           *byte          `json:"payload_format_indicator,omitempty"`
	MessageExpiry           *uint32        `json:"message_expiry_interval,omitempty"`
	ContentType             string         `json:"content_type,omitempty"`
	ResponseTopic           string         `json:"response_topic,omitempty"`
	CorrelationData         string         `json:"correlation_data,omitempty"`
	CorrelationDataEncoding string         `json:"correlation_data_encoding,omitempty"`
	TopicAlias              *uint16        `json:"topic_alias,omitempty"`
	SubscriptionIDs         []uint32       `json:"subscription_identifiers,omitempty"`
	User                    []jsonUserProp `json:"user_properties,omitempty"`
}

// jsonUserProp keeps user properties a list: their order and repeats are
// significant in MQTT 5 [MQTT-3.3.2-18], which a JSON object would lose.
type jsonUserProp struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// textOrBase64 returns b as text when it is UTF-8, else base64 and the
// encoding's name.
func textOrBase64(b []byte) (string, string) {
	if utf8.Valid(b) {
		return string(b), ""
	}
	return base64.StdEncoding.EncodeToString(b), "base64"
}

func jsonProperties(p *packet.Properties) *jsonProps {
	var j jsonProps
	empty := true
	if p.Has(packet.PropPayloadFormat) {
		v := p.PayloadFormat
		j.PayloadFormat, empty = &v, false
	}
	if p.Has(packet.PropMessageExpiry) {
		v := p.MessageExpiry
		j.MessageExpiry, empty = &v, false
	}
	if p.Has(packet.PropTopicAlias) {
		v := p.TopicAlias
		j.TopicAlias, empty = &v, false
	}
	if p.ContentType != "" || p.ResponseTopic != "" || p.CorrelationData != nil || len(p.SubscriptionIDs) > 0 || len(p.User) > 0 {
		empty = false
	}
	if empty {
		return nil
	}
	j.ContentType = p.ContentType
	j.ResponseTopic = p.ResponseTopic
	if p.CorrelationData != nil {
		j.CorrelationData, j.CorrelationDataEncoding = textOrBase64(p.CorrelationData)
	}
	j.SubscriptionIDs = p.SubscriptionIDs
	for _, u := range p.User {
		j.User = append(j.User, jsonUserProp{u.Key, u.Value})
	}
	return &j
}

func marshalLine(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Payloads are data, not HTML: keep <, > and & as they are.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return []byte(fmt.Sprintf(`{"error":%q}`, err.Error()))
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func jsonLine(m *client.MessageEvent) []byte {
	j := jsonMessage{Topic: m.Topic, QoS: m.QoS, Retain: m.Retain, Dup: m.Dup, Properties: jsonProperties(&m.Props)}
	j.Payload, j.PayloadEncoding = textOrBase64(m.Payload)
	return marshalLine(j)
}

// mqttxPayload shows a payload as MQTTX CLI's --format does: json
// indented by two spaces (or the parse error), hex in groups of four
// digits each followed by a space, base64, or the bytes as they are.
func mqttxPayload(p []byte, format string) []byte {
	switch format {
	case "json":
		var buf bytes.Buffer
		if err := json.Indent(&buf, p, "", "  "); err != nil {
			return []byte("SyntaxError: " + err.Error())
		}
		return buf.Bytes()
	case "hex":
		h := hex.EncodeToString(p)
		var b []byte
		for len(h) >= 4 {
			b = append(append(b, h[:4]...), ' ')
			h = h[4:]
		}
		return append(b, h...)
	case "base64":
		return []byte(base64.StdEncoding.EncodeToString(p))
	}
	return p
}

func appendBit(b []byte, v bool) []byte {
	if v {
		return append(b, '1')
	}
	return append(b, '0')
}

// writeAck prints a broker acknowledgement for pub -v and rr -v.
func writeAck(w io.Writer, asJSON bool, topic string, a *client.Ack) error {
	if asJSON {
		type jsonAck struct {
			Topic        string         `json:"topic"`
			Ack          string         `json:"ack"`
			ReasonCode   byte           `json:"reason_code"`
			Reason       string         `json:"reason"`
			ReasonString string         `json:"reason_string,omitempty"`
			User         []jsonUserProp `json:"user_properties,omitempty"`
		}
		j := jsonAck{Topic: topic, Ack: ackName(a), ReasonString: a.ReasonString}
		if len(a.Codes) > 0 {
			j.ReasonCode, j.Reason = byte(a.Codes[0]), reasonName(a.Codes[0])
		}
		for _, u := range a.User {
			j.User = append(j.User, jsonUserProp{u.Key, u.Value})
		}
		_, err := fmt.Fprintf(w, "%s\n", marshalLine(j))
		return err
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s %s", topic, ackName(a))
	if len(a.Codes) > 0 {
		fmt.Fprintf(&sb, " %v", a.Codes[0])
	}
	if a.ReasonString != "" {
		fmt.Fprintf(&sb, " reason=%q", a.ReasonString)
	}
	for _, u := range a.User {
		fmt.Fprintf(&sb, " %s=%s", terminalSafe(u.Key), terminalSafe(u.Value)) // the broker's bytes
	}
	sb.WriteByte('\n')
	_, err := io.WriteString(w, sb.String())
	return err
}

// reasonName is the reason code's name without the "(0x..)" that
// ReasonCode.String appends.
func reasonName(c packet.ReasonCode) string {
	name, _, _ := strings.Cut(c.String(), " (0x")
	return name
}

func ackName(a *client.Ack) string {
	if a.Type == 0 {
		return "sent" // QoS 0: nothing comes back
	}
	return a.Type.String()
}

// parseTimeout reads -W: seconds as in mosquitto_sub (-W 5), or a Go
// duration (-W 500ms).
func parseTimeout(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil && n >= 0 {
		// A time.Duration holds about 292 years; beyond that (or Inf) the
		// conversion would wrap to a negative timeout (found by FuzzFlagValues).
		if n > float64(math.MaxInt64)/float64(time.Second) {
			return 0, usageError(fmt.Errorf("-W/--timeout %q: longer than a timeout can be (292 years)", s))
		}
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, usageError(fmt.Errorf("-W/--timeout %q: give seconds (5) or a duration (500ms, 2m)", s))
	}
	return d, nil
}
