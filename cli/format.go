package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/mqttboard/mqttboard/client"
	"github.com/mqttboard/mqttboard/packet"
)

// This file is -F: mosquitto_sub's output template, byte for byte as
// mosquitto_sub 2.0 prints it (the differential test runs both over the
// same messages). Where mosquitto has a quirk (a field width truncates a
// payload, "%10x" prints five bytes), the quirk is kept: scripts written
// against mosquitto_sub must read the same bytes. mqttboard's own extras
// take letters mosquitto does not use: %d (dup flag) and %u (Unix time in
// whole seconds).
//
// %j/%J list MQTT 5 properties in the order they came on the wire, as
// mosquitto does; the client keeps that order only when asked
// (client.Options.KeepPropertyOrder, set when the template has %j or %J).

// mosquittoSpecs are the % conversions mosquitto_sub accepts; ourSpecs
// are mqttboard's additions.
const (
	mosquittoSpecs = "%ACDEFIjJlmPpqRrStUxX"
	ourSpecs       = "du"
)

// fmtPart is a literal run or one conversion of a -F template.
type fmtPart struct {
	lit   []byte
	spec  byte // '%' conversion letter, or 0 for a literal
	date  byte // '@' conversion letter
	align byte // '-' or 0
	pad   byte // ' ' or '0'
	width int
	prec  int // -1: none
}

// formatTemplate is a parsed -F template.
type formatTemplate struct {
	parts  []fmtPart
	pretty bool // --pretty: %j and %J print indented JSON as mosquitto does
}

// parseFormat checks and parses a -F template as mosquitto_sub does:
// an unknown conversion, escape or a template ending in the middle of one
// is a usage error.
func parseFormat(s string) (*formatTemplate, error) {
	t := &formatTemplate{}
	var lit []byte
	flush := func() {
		if len(lit) > 0 {
			t.parts = append(t.parts, fmtPart{lit: lit})
			lit = nil
		}
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '%':
			p := fmtPart{pad: ' ', prec: -1}
			i++
			if i < len(s) && s[i] == '-' {
				p.align = '-'
				i++
			}
			if i < len(s) && s[i] == '0' {
				p.pad = '0'
				i++
			}
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				p.width = min(p.width*10+int(s[i]-'0'), 1<<16)
				i++
			}
			if i < len(s) && s[i] == '.' {
				i++
				p.prec = 0
				for i < len(s) && s[i] >= '0' && s[i] <= '9' {
					p.prec = min(p.prec*10+int(s[i]-'0'), 1<<16)
					i++
				}
			}
			if i >= len(s) {
				return nil, usageError(fmt.Errorf("-F %q: incomplete format specifier at the end", s))
			}
			if bytes.IndexByte([]byte(mosquittoSpecs+ourSpecs), s[i]) < 0 {
				return nil, usageError(fmt.Errorf("-F %q: invalid format specifier '%c' (see README: -F)", s, s[i]))
			}
			p.spec = s[i]
			flush()
			t.parts = append(t.parts, p)
		case '@':
			if i == len(s)-1 {
				return nil, usageError(fmt.Errorf("-F %q: incomplete date specifier at the end (@@ prints @)", s))
			}
			i++
			if s[i] == '@' {
				lit = append(lit, '@')
				continue
			}
			flush()
			t.parts = append(t.parts, fmtPart{date: s[i]})
		case '\\':
			if i == len(s)-1 {
				return nil, usageError(fmt.Errorf("-F %q: incomplete escape at the end (\\\\ prints \\)", s))
			}
			i++
			c, ok := map[byte]byte{'\\': '\\', '0': 0, 'a': '\a', 'e': 0x1b, 'n': '\n', 'r': '\r', 't': '\t', 'v': '\v'}[s[i]]
			if !ok {
				return nil, usageError(fmt.Errorf("-F %q: invalid escape '\\%c' (use \\\\ \\0 \\a \\e \\n \\r \\t \\v)", s, s[i]))
			}
			lit = append(lit, c)
		default:
			lit = append(lit, s[i])
		}
	}
	flush()
	return t, nil
}

// appendMessage appends m printed with the template. A %J whose payload is
// not JSON prints nothing and is reported through warn, as mosquitto does
// on stderr.
func (t *formatTemplate) appendMessage(b []byte, m *client.MessageEvent, warn func(string)) []byte {
	for i := range t.parts {
		p := &t.parts[i]
		switch {
		case p.lit != nil:
			b = append(b, p.lit...)
		case p.date != 0:
			if p.date == 'N' {
				b = fmt.Appendf(b, "%09d", m.Time.Nanosecond())
			} else {
				b = appendStrftime(b, p.date, m.Time)
			}
		default:
			b = t.appendSpec(b, p, m, warn)
		}
	}
	return b
}

func (t *formatTemplate) appendSpec(b []byte, p *fmtPart, m *client.MessageEvent, warn func(string)) []byte {
	pr := &m.Props
	intOr := func(has bool, v int64) []byte {
		if has {
			return appendFmtInt(b, v, p)
		}
		return append(b, bytes.Repeat([]byte{p.pad}, p.width)...)
	}
	switch p.spec {
	case '%':
		return append(b, '%')
	case 'A':
		return intOr(pr.Has(packet.PropTopicAlias), int64(pr.TopicAlias))
	case 'C':
		if pr.ContentType != "" {
			return appendFmtStr(b, []byte(pr.ContentType), p)
		}
		return append(b, bytes.Repeat([]byte{' '}, p.width)...)
	case 'D':
		return append(b, pr.CorrelationData...)
	case 'E':
		return intOr(pr.Has(packet.PropMessageExpiry), int64(int32(pr.MessageExpiry)))
	case 'F':
		return intOr(pr.Has(packet.PropPayloadFormat), int64(pr.PayloadFormat))
	case 'I':
		return appendFmtStr(b, m.Time.AppendFormat(nil, "2006-01-02T15:04:05-0700"), p)
	case 'j', 'J':
		j, err := mosquittoJSON(m, p.spec == 'j', t.pretty)
		if err != nil {
			warn(fmt.Sprintf("Error: Message payload is not valid JSON on topic %s.", m.Topic))
			return b
		}
		return append(b, j...)
	case 'l':
		return appendFmtInt(b, int64(len(m.Payload)), p)
	case 'm':
		return appendFmtInt(b, int64(m.PacketID), p)
	case 'P':
		for k, u := range pr.User {
			if k > 0 {
				b = append(b, ' ')
			}
			b = append(b, u.Key...)
			b = append(b, ':')
			b = append(b, u.Value...)
		}
		return b
	case 'p':
		return appendPayload(b, m.Payload, 0, p)
	case 'x':
		return appendPayload(b, m.Payload, 1, p)
	case 'X':
		return appendPayload(b, m.Payload, 2, p)
	case 'q':
		return append(b, '0'+m.QoS)
	case 'R':
		if pr.ResponseTopic != "" {
			return appendFmtStr(b, []byte(pr.ResponseTopic), p)
		}
		return b
	case 'r':
		return appendBit(b, m.Retain)
	case 'd':
		return appendBit(b, m.Dup)
	case 'S':
		if len(pr.SubscriptionIDs) > 0 {
			return appendFmtInt(b, int64(int32(pr.SubscriptionIDs[0])), p)
		}
		return intOr(false, 0)
	case 't':
		return appendFmtStr(b, []byte(m.Topic), p)
	case 'U':
		return fmt.Appendf(b, "%d.%09d", m.Time.Unix(), m.Time.Nanosecond())
	case 'u':
		return strconv.AppendInt(b, m.Time.Unix(), 10)
	}
	return b
}

// appendFmtInt is printf's %d, %-Nd, %0Nd or %Nd, as mosquitto chooses.
func appendFmtInt(b []byte, v int64, p *fmtPart) []byte {
	switch {
	case p.width == 0:
		return strconv.AppendInt(b, v, 10)
	case p.align == '-':
		return fmt.Appendf(b, "%-*d", p.width, v)
	case p.pad == '0':
		return fmt.Appendf(b, "%0*d", p.width, v)
	}
	return fmt.Appendf(b, "%*d", p.width, v)
}

// appendFmtStr is printf's %s with width and precision in bytes (C
// counts bytes; Go's fmt would count runes).
func appendFmtStr(b, s []byte, p *fmtPart) []byte {
	if p.prec >= 0 && len(s) > p.prec {
		s = s[:p.prec]
	}
	pad := bytes.Repeat([]byte{' '}, max(p.width-len(s), 0))
	if p.align == '-' {
		return append(append(b, s...), pad...)
	}
	return append(append(b, pad...), s...)
}

// appendPayload is mosquitto's write_payload: a field width caps the
// bytes printed (for hex at half the width, rounded down), the pad comes
// before unless '-', and with '-' the padding after is printf("%*s") of a
// possibly negative width, i.e. its absolute value in spaces.
func appendPayload(b, payload []byte, hex int, p *fmtPart) []byte {
	n := len(payload)
	var padlen int
	if p.width > 0 {
		n = min(n, p.width)
		if hex > 0 {
			n /= 2
			padlen = p.width - n*2
		} else {
			padlen = p.width - n
		}
	} else {
		padlen = p.width - n
	}
	if p.align != '-' {
		for range max(padlen, 0) {
			b = append(b, p.pad)
		}
	}
	switch hex {
	case 0:
		b = append(b, payload[:n]...)
	case 1:
		for _, c := range payload[:n] {
			b = fmt.Appendf(b, "%02x", c)
		}
	case 2:
		for _, c := range payload[:n] {
			b = fmt.Appendf(b, "%02X", c)
		}
	}
	if p.align == '-' {
		b = append(b, bytes.Repeat([]byte{' '}, abs(padlen))...)
	}
	return b
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// cString is what C sees of bytes handed over as a NUL-terminated string:
// everything before the first NUL.
func cString(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

// jsonNode is a JSON value kept in document order (objects may repeat
// keys, as mosquitto's "user-properties" does), printed as cJSON prints.
type jsonNode struct {
	kind  byte // 's' string, 'n' number, 'b' bool, 'z' null, 'o' object, 'a' array
	str   []byte
	num   float64
	bool  bool
	keys  [][]byte
	items []*jsonNode
}

func jStr(s []byte) *jsonNode  { return &jsonNode{kind: 's', str: s} }
func jNum(n float64) *jsonNode { return &jsonNode{kind: 'n', num: n} }

func (n *jsonNode) add(key string, v *jsonNode) {
	n.keys = append(n.keys, []byte(key))
	n.items = append(n.items, v)
}

// mosquittoJSON is %j (escaped true: the payload as a JSON string) or %J
// (the payload parsed as JSON), in mosquitto_sub's shape.
func mosquittoJSON(m *client.MessageEvent, escaped, pretty bool) ([]byte, error) {
	root := &jsonNode{kind: 'o'}
	// mosquitto's "tst": local time with microseconds, a literal Z, then
	// the numeric offset.
	root.add("tst", jStr(fmt.Appendf(m.Time.AppendFormat(nil, "2006-01-02T15:04:05."), "%06dZ%s", m.Time.Nanosecond()/1000, m.Time.Format("-0700"))))
	root.add("topic", jStr([]byte(m.Topic)))
	root.add("qos", jNum(float64(m.QoS)))
	root.add("retain", jNum(float64(b2i(m.Retain))))
	root.add("payloadlen", jNum(float64(len(m.Payload))))
	if m.QoS > 0 {
		root.add("mid", jNum(float64(m.PacketID)))
	}
	if props := mosquittoJSONProps(&m.Props, m.PropOrder); props != nil {
		root.add("properties", props)
	}
	switch {
	case len(m.Payload) == 0:
		root.add("payload", &jsonNode{kind: 'z'})
	case escaped:
		root.add("payload", jStr(cString(m.Payload)))
	default:
		v, err := parseJSONOrdered(m.Payload)
		if err != nil {
			return nil, err
		}
		root.add("payload", v)
	}
	var b []byte
	return root.appendCJSON(b, pretty, 0), nil
}

func b2i(v bool) int {
	if v {
		return 1
	}
	return 0
}

// mosquittoJSONProps is %j's "properties" object: in wire order when the
// client kept it (order), else in the order a mosquitto broker forwards a
// paho or mosquitto_pub message.
func mosquittoJSONProps(p *packet.Properties, order []packet.PropID) *jsonNode {
	if len(order) > 0 {
		return orderedJSONProps(p, order)
	}
	n := &jsonNode{kind: 'o'}
	if len(p.SubscriptionIDs) > 0 {
		n.add("subscription-identifier", jNum(float64(p.SubscriptionIDs[0])))
	}
	if p.Has(packet.PropPayloadFormat) {
		n.add("payload-format-indicator", jNum(float64(p.PayloadFormat)))
	}
	if p.ContentType != "" {
		n.add("content-type", jStr([]byte(p.ContentType)))
	}
	if p.ResponseTopic != "" {
		n.add("response-topic", jStr([]byte(p.ResponseTopic)))
	}
	if p.CorrelationData != nil {
		n.add("correlation-data", jStr(cString(p.CorrelationData)))
	}
	if p.Has(packet.PropTopicAlias) {
		n.add("topic-alias", jNum(float64(p.TopicAlias)))
	}
	if len(p.User) > 0 {
		u := &jsonNode{kind: 'o'}
		for _, kv := range p.User {
			u.add(kv.Key, jStr([]byte(kv.Value)))
		}
		n.add("user-properties", u)
	}
	if p.Has(packet.PropMessageExpiry) {
		n.add("message-expiry-interval", jNum(float64(p.MessageExpiry)))
	}
	if len(n.items) == 0 {
		return nil
	}
	return n
}

func orderedJSONProps(p *packet.Properties, order []packet.PropID) *jsonNode {
	n := &jsonNode{kind: 'o'}
	sub := 0
	var user *jsonNode
	for _, id := range order {
		switch id {
		case packet.PropSubscriptionID:
			if sub < len(p.SubscriptionIDs) {
				n.add("subscription-identifier", jNum(float64(p.SubscriptionIDs[sub])))
				sub++
			}
		case packet.PropPayloadFormat:
			n.add("payload-format-indicator", jNum(float64(p.PayloadFormat)))
		case packet.PropContentType:
			n.add("content-type", jStr([]byte(p.ContentType)))
		case packet.PropResponseTopic:
			n.add("response-topic", jStr([]byte(p.ResponseTopic)))
		case packet.PropCorrelationData:
			n.add("correlation-data", jStr(cString(p.CorrelationData)))
		case packet.PropTopicAlias:
			n.add("topic-alias", jNum(float64(p.TopicAlias)))
		case packet.PropMessageExpiry:
			n.add("message-expiry-interval", jNum(float64(p.MessageExpiry)))
		case packet.PropUser:
			if user == nil {
				user = &jsonNode{kind: 'o'}
				for _, kv := range p.User {
					user.add(kv.Key, jStr([]byte(kv.Value)))
				}
				n.add("user-properties", user)
			}
		}
	}
	if len(n.items) == 0 {
		return nil
	}
	return n
}

// appendCJSON prints n as cJSON_PrintUnformatted (or cJSON_Print when
// pretty) does.
func (n *jsonNode) appendCJSON(b []byte, pretty bool, depth int) []byte {
	switch n.kind {
	case 'z':
		return append(b, "null"...)
	case 'b':
		if n.bool {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	case 'n':
		return appendCJSONNumber(b, n.num)
	case 's':
		return appendCJSONString(b, n.str)
	case 'a':
		b = append(b, '[')
		for i, it := range n.items {
			if i > 0 {
				b = append(b, ',')
				if pretty {
					b = append(b, ' ')
				}
			}
			b = it.appendCJSON(b, pretty, depth+1)
		}
		return append(b, ']')
	}
	b = append(b, '{')
	if pretty {
		b = append(b, '\n')
	}
	for i, it := range n.items {
		if pretty {
			b = append(b, bytes.Repeat([]byte{'\t'}, depth+1)...)
		}
		b = appendCJSONString(b, n.keys[i])
		b = append(b, ':')
		if pretty {
			b = append(b, '\t')
		}
		b = it.appendCJSON(b, pretty, depth+1)
		if i < len(n.items)-1 {
			b = append(b, ',')
		}
		if pretty {
			b = append(b, '\n')
		}
	}
	if pretty {
		b = append(b, bytes.Repeat([]byte{'\t'}, depth)...)
	}
	return append(b, '}')
}

// appendCJSONString escapes as cJSON: quote, backslash and the control
// characters, \u00XX in lower case for those without a short form; every
// other byte as it is.
func appendCJSONString(b, s []byte) []byte {
	b = append(b, '"')
	for _, c := range s {
		switch c {
		case '"':
			b = append(b, '\\', '"')
		case '\\':
			b = append(b, '\\', '\\')
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			if c < 32 {
				b = fmt.Appendf(b, "\\u%04x", c)
			} else {
				b = append(b, c)
			}
		}
	}
	return append(b, '"')
}

// appendCJSONNumber prints a number as cJSON: an integer when the value
// is one that fits a C int, else %1.15g, or %1.17g when 15 digits do not
// read back as the same value.
func appendCJSONNumber(b []byte, d float64) []byte {
	if math.IsNaN(d) || math.IsInf(d, 0) {
		return append(b, "null"...)
	}
	vi := d
	switch {
	case d >= math.MaxInt32:
		vi = math.MaxInt32
	case d <= math.MinInt32:
		vi = math.MinInt32
	default:
		vi = math.Trunc(d)
	}
	if d == vi {
		return strconv.AppendInt(b, int64(vi), 10)
	}
	s := cG(d, 15)
	if back, err := strconv.ParseFloat(s, 64); err != nil || math.Abs(back-d) > math.Max(math.Abs(back), math.Abs(d))*2.220446049250313e-16 {
		s = cG(d, 17)
	}
	return append(b, s...)
}

// cG is C's %1.<prec>g.
func cG(d float64, prec int) string {
	s := fmt.Sprintf("%.*g", prec, d)
	return s
}

// parseJSONOrdered parses a JSON document keeping object keys in order
// and repeated, as cJSON does; anything after the value but white space
// is an error, as mosquitto requires.
func parseJSONOrdered(b []byte) (*jsonNode, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	v, err := decodeNode(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON value")
	}
	return v, nil
}

func decodeNode(dec *json.Decoder) (*jsonNode, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '{':
			n := &jsonNode{kind: 'o'}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				item, err := decodeNode(dec)
				if err != nil {
					return nil, err
				}
				n.add(kt.(string), item)
			}
			_, err := dec.Token()
			return n, err
		case '[':
			n := &jsonNode{kind: 'a'}
			for dec.More() {
				item, err := decodeNode(dec)
				if err != nil {
					return nil, err
				}
				n.items = append(n.items, item)
			}
			_, err := dec.Token()
			return n, err
		}
	case string:
		return jStr([]byte(v)), nil
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, err
		}
		return jNum(f), nil
	case bool:
		return &jsonNode{kind: 'b', bool: v}, nil
	case nil:
		return &jsonNode{kind: 'z'}, nil
	}
	return nil, fmt.Errorf("unexpected JSON token %v", tok)
}

var (
	cDays   = [...]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
	cMonths = [...]string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
)

// appendStrftime is C strftime of one conversion in the C locale, for
// mosquitto's @ date specifiers.
func appendStrftime(b []byte, c byte, t time.Time) []byte {
	hour12 := t.Hour() % 12
	if hour12 == 0 {
		hour12 = 12
	}
	switch c {
	case 'a':
		return append(b, cDays[t.Weekday()][:3]...)
	case 'A':
		return append(b, cDays[t.Weekday()]...)
	case 'b', 'h':
		return append(b, cMonths[t.Month()-1][:3]...)
	case 'B':
		return append(b, cMonths[t.Month()-1]...)
	case 'c':
		b = appendStrftime(b, 'a', t)
		b = append(b, ' ')
		b = appendStrftime(b, 'b', t)
		b = append(b, ' ')
		b = appendStrftime(b, 'e', t)
		b = append(b, ' ')
		b = appendStrftime(b, 'T', t)
		b = append(b, ' ')
		return appendStrftime(b, 'Y', t)
	case 'C':
		return fmt.Appendf(b, "%02d", t.Year()/100)
	case 'd':
		return fmt.Appendf(b, "%02d", t.Day())
	case 'D':
		return t.AppendFormat(b, "01/02/06")
	case 'e':
		return fmt.Appendf(b, "%2d", t.Day())
	case 'F':
		return t.AppendFormat(b, "2006-01-02")
	case 'G':
		y, _ := t.ISOWeek()
		return strconv.AppendInt(b, int64(y), 10)
	case 'g':
		y, _ := t.ISOWeek()
		return fmt.Appendf(b, "%02d", y%100)
	case 'H':
		return fmt.Appendf(b, "%02d", t.Hour())
	case 'I':
		return fmt.Appendf(b, "%02d", hour12)
	case 'j':
		return fmt.Appendf(b, "%03d", t.YearDay())
	case 'k':
		return fmt.Appendf(b, "%2d", t.Hour())
	case 'l':
		return fmt.Appendf(b, "%2d", hour12)
	case 'm':
		return fmt.Appendf(b, "%02d", t.Month())
	case 'M':
		return fmt.Appendf(b, "%02d", t.Minute())
	case 'n':
		return append(b, '\n')
	case 'p':
		if t.Hour() < 12 {
			return append(b, "AM"...)
		}
		return append(b, "PM"...)
	case 'P':
		if t.Hour() < 12 {
			return append(b, "am"...)
		}
		return append(b, "pm"...)
	case 'r':
		b = appendStrftime(b, 'I', t)
		return append(t.AppendFormat(append(b, ':'), "04:05 "), appendStrftime(nil, 'p', t)...)
	case 'R':
		return t.AppendFormat(b, "15:04")
	case 's':
		return strconv.AppendInt(b, t.Unix(), 10)
	case 'S':
		return fmt.Appendf(b, "%02d", t.Second())
	case 't':
		return append(b, '\t')
	case 'T', 'X':
		return t.AppendFormat(b, "15:04:05")
	case 'u':
		return strconv.AppendInt(b, int64((int(t.Weekday())+6)%7+1), 10)
	case 'U':
		return fmt.Appendf(b, "%02d", (t.YearDay()+6-int(t.Weekday()))/7)
	case 'V':
		_, w := t.ISOWeek()
		return fmt.Appendf(b, "%02d", w)
	case 'w':
		return strconv.AppendInt(b, int64(t.Weekday()), 10)
	case 'W':
		return fmt.Appendf(b, "%02d", (t.YearDay()+6-(int(t.Weekday())+6)%7)/7)
	case 'x':
		return t.AppendFormat(b, "01/02/06")
	case 'y':
		return fmt.Appendf(b, "%02d", t.Year()%100)
	case 'Y':
		return strconv.AppendInt(b, int64(t.Year()), 10)
	case 'z':
		return t.AppendFormat(b, "-0700")
	case 'Z':
		name, _ := t.Zone()
		return append(b, name...)
	case '%':
		return append(b, '%')
	}
	return b
}
