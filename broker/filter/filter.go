package filter

import (
	"errors"
	"math"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/mqttboard/mqttboard/packet"
)

// Prefix starts every $filter subscription.
const Prefix = "$filter/"

// IsFilter reports whether the topic filter s is a $filter subscription.
func IsFilter(s string) bool { return strings.HasPrefix(s, Prefix) }

// Filter is a parsed $filter subscription. It is immutable and safe for
// concurrent use; the broker parses it once per SUBSCRIBE.
type Filter struct {
	// Topic is the topic filter after the parameters. It may contain +, # and
	// flespi selectors (a,b); matching topics is the topic index's job.
	Topic string
	// CID restricts delivery to messages published by that account.
	CID    uint64
	HasCID bool
	// ModifiedSince lets through only messages with a timestamp after it
	// (UNIX seconds, fractional).
	ModifiedSince    float64
	HasModifiedSince bool
	// Payload and Message are the compiled payload= and message=
	// expressions, nil when absent.
	Payload *Expr
	Message *Expr
}

// ParamError is a $filter that cannot be parsed: Param names the parameter
// (empty for the filter's shape) and Err says what is wrong with it. For a
// bad expression Err is a [*SyntaxError] with the character offset inside
// the decoded expression.
type ParamError struct {
	Param string
	Err   error
}

// Error names the parameter, e.g. "payload expression at 7: unexpected ')'".
func (e *ParamError) Error() string {
	if e.Param == "" {
		return "$filter: " + e.Err.Error()
	}
	return e.Param + " " + e.Err.Error()
}

// Unwrap returns the cause, a [*SyntaxError] for a bad expression.
func (e *ParamError) Unwrap() error { return e.Err }

// Parse parses a topic filter that begins with [Prefix]:
//
//	$filter/cid={id}&modified_since={time}&payload={expr}&message={expr}/{topic filter}
//
// with any subset of the parameters in any order; modified_since>{time}
// is accepted as well (flespi documents both). The parameters level ends
// at the first '/', so an expression writes '/' as %2F and '&' as %26; each
// value is then percent-decoded as by [url.PathUnescape] ('+' stays a plus).
// An error is a [*ParamError] saying which parameter is wrong and why, e.g.
// "payload expression at 7: unexpected ')'".
func Parse(filter string) (*Filter, error) {
	if !IsFilter(filter) {
		return nil, &ParamError{Err: errors.New("does not begin with " + Prefix)}
	}
	rest := filter[len(Prefix):]
	slash := strings.IndexByte(rest, '/')
	if slash < 0 {
		return nil, &ParamError{Err: errors.New("no topic filter after the parameters (want $filter/{parameters}/{topic filter})")}
	}
	params, topic := rest[:slash], rest[slash+1:]
	if topic == "" {
		return nil, &ParamError{Err: errors.New("empty topic filter after the parameters")}
	}
	if params == "" {
		return nil, &ParamError{Err: errors.New("no parameters (want cid, modified_since, payload or message)")}
	}
	f := &Filter{Topic: topic}
	seen := map[string]bool{}
	for _, kv := range strings.Split(params, "&") {
		key, raw, ok := cutParam(kv)
		if !ok {
			return nil, &ParamError{Err: errors.New("parameter " + strconv.Quote(kv) + " has no '=value'")}
		}
		switch key {
		case "cid", "modified_since", "payload", "message":
		default:
			return nil, &ParamError{Err: errors.New("unknown parameter " + strconv.Quote(key) + " (want cid, modified_since, payload or message)")}
		}
		if seen[key] {
			return nil, &ParamError{Param: key, Err: errors.New("given twice")}
		}
		seen[key] = true
		val, err := url.PathUnescape(raw)
		if err != nil {
			return nil, &ParamError{Param: key, Err: errors.New("bad percent-encoding in " + strconv.Quote(raw))}
		}
		if val == "" {
			return nil, &ParamError{Param: key, Err: errors.New("empty value")}
		}
		switch key {
		case "cid":
			n, err := strconv.ParseUint(val, 10, 64)
			if err != nil {
				return nil, &ParamError{Param: key, Err: errors.New("not an account id: " + strconv.Quote(val))}
			}
			f.CID, f.HasCID = n, true
		case "modified_since":
			t, err := strconv.ParseFloat(val, 64)
			if err != nil || math.IsInf(t, 0) || math.IsNaN(t) || strings.ContainsAny(val, "_xX") {
				return nil, &ParamError{Param: key, Err: errors.New("not a UNIX time in seconds: " + strconv.Quote(val))}
			}
			f.ModifiedSince, f.HasModifiedSince = t, true
		case "payload", "message":
			e, err := Compile(val)
			if err != nil {
				return nil, &ParamError{Param: key, Err: err}
			}
			if key == "payload" {
				f.Payload = e
			} else {
				f.Message = e
			}
		}
	}
	return f, nil
}

// cutParam splits one parameter into its key and still percent-encoded
// value at the first '='. flespi also documents modified_since with '>'
// ("modified_since>1700000000", the '>' possibly written %3E): the same
// test, timestamp strictly above the value, so it is read as
// modified_since=1700000000.
func cutParam(kv string) (key, raw string, ok bool) {
	for _, gt := range []string{"modified_since>", "modified_since%3E", "modified_since%3e"} {
		if rest, found := strings.CutPrefix(kv, gt); found && !strings.HasPrefix(rest, "=") {
			return "modified_since", rest, true
		}
	}
	return strings.Cut(kv, "=")
}

// Message is what a filter sees of one publish. Build one per publish and
// pass the same *Message to every filter that may match it: the payload is
// decoded as JSON at most once, on the first payload= expression, and the
// decoded form is kept in the Message. Match may be called on one Message
// from several goroutines. Payload must not change while the Message is in
// use.
type Message struct {
	Topic     string
	Payload   []byte
	Timestamp float64 // UNIX seconds, fractional: the timestamp user property
	CID       uint64  // the publisher's account
	User      []packet.UserProperty

	textOnce sync.Once
	text     string // Payload as a string, converted once
	docOnce  sync.Once
	doc      *document
}

// payloadText converts the payload to a string once per Message; both
// environments and all filters share the copy.
func (m *Message) payloadText() string {
	m.textOnce.Do(func() { m.text = string(m.Payload) })
	return m.text
}

// Match reports whether m passes every condition of f: cid equal,
// timestamp after modified_since, and both expressions true (see
// [Expr.Test]). The topic is not checked: that is the topic index's job.
func (f *Filter) Match(m *Message) bool {
	if f.HasCID && m.CID != f.CID {
		return false
	}
	if f.HasModifiedSince && !(m.Timestamp > f.ModifiedSince) {
		return false
	}
	if f.Message != nil && !f.Message.Test(messageEnv{m}) {
		return false
	}
	if f.Payload != nil {
		if !f.Payload.Test(m.payloadEnv()) {
			return false
		}
	}
	return true
}

// payloadEnv decodes the payload once per Message; it is the [Env] of
// payload= expressions.
func (m *Message) payloadEnv() *document {
	m.docOnce.Do(func() { m.doc = decodePayload(m.Payload, m.payloadText()) })
	return m.doc
}

// messageEnv is the [Env] of message= expressions: timestamp, topic, cid,
// payload as a string, and each user property by name. The built-in names
// win over user properties of the same name (the broker stamps timestamp
// and cid as user properties anyway); of repeated user properties the first
// wins.
type messageEnv struct{ m *Message }

// Lookup implements [Env].
func (e messageEnv) Lookup(name string) (Value, bool) {
	switch name {
	case "timestamp":
		return NumberValue(e.m.Timestamp), true
	case "topic":
		return StringValue(e.m.Topic), true
	case "cid":
		return NumberValue(float64(e.m.CID)), true
	case "payload":
		return StringValue(e.m.payloadText()), true
	}
	for _, p := range e.m.User {
		if p.Key == name {
			return StringValue(p.Value), true
		}
	}
	return Value{}, false
}
