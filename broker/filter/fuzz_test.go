package filter

import (
	"errors"
	"testing"
	"unicode/utf8"
)

// FuzzCompile compiles arbitrary source and evaluates it against an
// arbitrary payload: never a panic, every compile error a *SyntaxError
// pointing inside the source. Seeds are in testdata/fuzz/FuzzCompile.
func FuzzCompile(f *testing.F) {
	f.Add(`(hdop < 1 && (din & 0x1)) || speed == 0`, []byte(sample))
	f.Fuzz(func(t *testing.T, src string, payload []byte) {
		e, err := Compile(src)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Compile(%q): error %T %v, want *SyntaxError", src, err, err)
			}
			if se.Offset < 0 || se.Offset > utf8.RuneCountInString(src) {
				t.Fatalf("Compile(%q): offset %d outside the source", src, se.Offset)
			}
			return
		}
		m := &Message{Topic: "a/b", Payload: payload, Timestamp: 1, CID: 1}
		e.Test(m.payloadEnv())
		e.Test(messageEnv{m})
	})
}

// FuzzParse parses arbitrary $filter subscriptions and matches the ones
// that parse against a JSON and a non-JSON message. Seeds are in
// testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add("$filter/cid=7&modified_since=1&message=source==%22gps%22&payload=speed>=10/#")
	f.Add("$filter/modified_since>1.5&cid=2/a/+")
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := Parse(s)
		if err != nil {
			var pe *ParamError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q): error %T, want *ParamError", s, err)
			}
			return
		}
		if flt.Topic == "" {
			t.Fatalf("Parse(%q): empty topic", s)
		}
		flt.Match(&Message{Topic: "a", Payload: []byte(sample), Timestamp: 2, CID: 7})
		flt.Match(&Message{Topic: "a", Payload: []byte("not json"), Timestamp: 2, CID: 7})
	})
}
