package filter

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/mqttboard/mqttboard/packet"
)

func TestIsFilter(t *testing.T) {
	for s, want := range map[string]bool{
		"$filter/cid=1/a": true, "$filter/": true, "$filter": false, "$share/g/a": false, "a/$filter/x": false,
	} {
		if got := IsFilter(s); got != want {
			t.Errorf("IsFilter(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		topic   string
		cid     int64 // -1: absent
		since   float64
		hasSnc  bool
		payload string
		message string
	}{
		{"$filter/cid=1/a/b", "a/b", 1, 0, false, "", ""},
		{"$filter/modified_since=1490347944.5/#", "#", -1, 1490347944.5, true, "", ""},
		// flespi documents modified_since with '>' too, the same test.
		{"$filter/modified_since>1490347944.5/#", "#", -1, 1490347944.5, true, "", ""},
		{"$filter/modified_since%3E10&cid=2/a", "a", 2, 10, true, "", ""},
		{"$filter/payload=speed>10/t/+/x", "t/+/x", -1, 0, false, "speed>10", ""},
		{"$filter/message=topic==%22a*%22/a,b/c", "a,b/c", -1, 0, false, "", `topic=="a*"`},
		// All four, in any order; topic keeps wildcards and selectors.
		{"$filter/message=cid==7&payload=x&cid=7&modified_since=10/t/a,b/#", "t/a,b/#", 7, 10, true, "x", "cid==7"},
		// Percent-decoding: %26 is '&', %2F is '/', %25 is '%', '+' stays a plus.
		{"$filter/payload=(din%260x1)%20%26%26%20speed%2F2+1>3/x", "x", -1, 0, false, "(din&0x1) && speed/2+1>3", ""},
		{"$filter/payload=a%3D%3Db/x", "x", -1, 0, false, "a==b", ""},
		{"$filter/payload=a==b/x", "x", -1, 0, false, "a==b", ""}, // '=' after the first belongs to the value
		{"$filter/payload=%22100%25%22==s/x", "x", -1, 0, false, `"100%"==s`, ""},
		{"$filter/cid=18446744073709551615/x", "x", 1<<63 - 1, 0, false, "", ""}, // cid checked below
	}
	for _, tt := range tests {
		f, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if f.Topic != tt.topic {
			t.Errorf("Parse(%q).Topic = %q, want %q", tt.in, f.Topic, tt.topic)
		}
		if tt.cid >= 0 && tt.cid != 1<<63-1 && (!f.HasCID || f.CID != uint64(tt.cid)) || tt.cid < 0 && f.HasCID {
			t.Errorf("Parse(%q).CID = %d,%v, want %d", tt.in, f.CID, f.HasCID, tt.cid)
		}
		if f.HasModifiedSince != tt.hasSnc || f.ModifiedSince != tt.since {
			t.Errorf("Parse(%q).ModifiedSince = %v,%v, want %v", tt.in, f.ModifiedSince, f.HasModifiedSince, tt.since)
		}
		if got := exprSrc(f.Payload); got != tt.payload {
			t.Errorf("Parse(%q).Payload = %q, want %q", tt.in, got, tt.payload)
		}
		if got := exprSrc(f.Message); got != tt.message {
			t.Errorf("Parse(%q).Message = %q, want %q", tt.in, got, tt.message)
		}
	}
	if f, _ := Parse("$filter/cid=18446744073709551615/x"); f == nil || f.CID != 1<<64-1 {
		t.Errorf("largest cid not kept: %+v", f)
	}
}

func exprSrc(e *Expr) string {
	if e == nil {
		return ""
	}
	return e.String()
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a/b", "$filter: does not begin with $filter/"},
		{"$filter/cid=1", "$filter: no topic filter after the parameters (want $filter/{parameters}/{topic filter})"},
		{"$filter/cid=1/", "$filter: empty topic filter after the parameters"},
		{"$filter//a", "$filter: no parameters (want cid, modified_since, payload or message)"},
		{"$filter/cid/a", `$filter: parameter "cid" has no '=value'`},
		{"$filter/cid=1&/a", `$filter: parameter "" has no '=value'`},
		{"$filter/qos=1/a", `$filter: unknown parameter "qos" (want cid, modified_since, payload or message)`},
		{"$filter/CID=1/a", `$filter: unknown parameter "CID" (want cid, modified_since, payload or message)`},
		{"$filter/cid=1&cid=2/a", "cid given twice"},
		{"$filter/payload=1&payload=1/a", "payload given twice"},
		{"$filter/cid=/a", "cid empty value"},
		{"$filter/payload=/a", "payload empty value"},
		{"$filter/cid=-1/a", `cid not an account id: "-1"`},
		{"$filter/cid=1.5/a", `cid not an account id: "1.5"`},
		{"$filter/cid=99999999999999999999/a", `cid not an account id: "99999999999999999999"`},
		{"$filter/modified_since=yesterday/a", `modified_since not a UNIX time in seconds: "yesterday"`},
		{"$filter/modified_since=inf/a", `modified_since not a UNIX time in seconds: "inf"`},
		{"$filter/modified_since=1e400/a", `modified_since not a UNIX time in seconds: "1e400"`},
		{"$filter/payload=%zz/a", `payload bad percent-encoding in "%zz"`},
		{"$filter/payload=speed>1)/a", "payload expression at 7: unexpected ')'"},
		{"$filter/message=topic==%22a/a", "message expression at 7: unterminated string"},
		{"$filter/payload=%C3%A9%20x/a", "payload expression at 0: unexpected character 'é'"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Parse(%q): error %v, want %s", tt.in, err, tt.want)
		}
		var pe *ParamError
		if err != nil && !errors.As(err, &pe) {
			t.Errorf("Parse(%q): error %T, want *ParamError", tt.in, err)
		}
	}
	_, err := Parse("$filter/payload=speed>1)/a")
	var se *SyntaxError
	if !errors.As(err, &se) || se.Offset != 7 {
		t.Errorf("expression error %v does not unwrap to *SyntaxError at 7", err)
	}
}

func mustParse(t testing.TB, s string) *Filter {
	t.Helper()
	f, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return f
}

func TestMatch(t *testing.T) {
	msg := func(payload string) *Message {
		return &Message{
			Topic: "fleet/7/telemetry", Payload: []byte(payload), Timestamp: 1700000000.5, CID: 7,
			User: []packet.UserProperty{{Key: "source", Value: "gps"}, {Key: "source", Value: "second"}, {Key: "timestamp", Value: "1"}},
		}
	}
	tests := []struct {
		filter, payload string
		want            bool
	}{
		// cid and modified_since.
		{"$filter/cid=7/#", "x", true},
		{"$filter/cid=8/#", "x", false},
		{"$filter/modified_since=1700000000/#", "x", true},
		{"$filter/modified_since=1700000000.5/#", "x", false}, // strictly after
		// JSON objects: fields, nested paths, payload as the whole object.
		{"$filter/payload=speed>10/#", `{"speed": 20}`, true},
		{"$filter/payload=speed>10/#", `{"speed": 5}`, false},
		{"$filter/payload=speed>10/#", `{"rpm": 5}`, false}, // missing field: no match
		{"$filter/payload=$speed==null/#", `{"rpm": 5}`, true},
		{"$filter/payload=position.speed>10/#", `{"position": {"speed": 11}}`, true},
		{"$filter/payload=isnull(payload)==false/#", `{"a": 1}`, true},
		{"$filter/payload=payload==3/#", `{"payload": 3}`, true}, // a payload field shadows the whole value
		{"$filter/payload=speed/#", `{"speed": 0}`, false},       // zero denies
		{"$filter/payload=speed/#", `{"speed": 3}`, true},        // non-zero number passes
		{"$filter/payload=name/#", `{"name": "x"}`, true},
		{"$filter/payload=name/#", `{"name": ""}`, false},
		{"$filter/payload=tags/#", `{"tags": [1]}`, false}, // an array value fails
		// Arrays, strings, numbers, booleans, null: the value is payload.
		{"$filter/payload=isnumber(payload.0)/#", `[1, 2]`, true},
		{"$filter/payload=payload.1==2/#", `[1, 2]`, true},
		{"$filter/payload=payload/#", `[1, 2]`, false},
		{"$filter/payload=payload==%22on*%22/#", `"online"`, true},
		{"$filter/payload=payload==%22on*%22/#", `"offline"`, false},
		{"$filter/payload=payload>41/#", `42`, true},
		{"$filter/payload=payload>41/#", ` 40 `, false},
		{"$filter/payload=payload/#", `true`, true},
		{"$filter/payload=payload/#", `false`, false},
		{"$filter/payload=isnull(payload)/#", `null`, true},
		{"$filter/payload=speed>1/#", `42`, false}, // no fields in a non-object
		// Not JSON: payload is the raw text.
		{"$filter/payload=payload==%22hello*%22/#", `hello world`, true},
		{"$filter/payload=payload==%22%22/#", ``, true},
		{"$filter/payload=payload>1/#", `{bad json`, false},
		{"$filter/payload=strlen(payload)==9/#", `{bad json`, true},
		// message=: timestamp, topic, cid, payload as text, user properties.
		{"$filter/message=topic==%22fleet%2F*%2Ftelemetry%22/#", "x", true},
		{"$filter/message=timestamp>1700000000%26%26cid==7/#", "x", true},
		{"$filter/message=payload==%22%7B*%22/#", `{"a":1}`, true},
		{"$filter/message=source==%22gps%22/#", "x", true}, // the first of repeated properties wins
		{"$filter/message=timestamp==1/#", "x", false},     // the builtin wins over the user property
		{"$filter/message=missing==1/#", "x", false},
		{"$filter/message=isnull($missing)/#", "x", true},
		// Everything at once.
		{"$filter/cid=7&modified_since=1&message=source==%22gps%22&payload=speed>=10/#", `{"speed": 10}`, true},
		{"$filter/cid=7&modified_since=1&message=source==%22gps%22&payload=speed>=10/#", `{"speed": 9}`, false},
	}
	for _, tt := range tests {
		f := mustParse(t, tt.filter)
		if got := f.Match(msg(tt.payload)); got != tt.want {
			t.Errorf("%s on %q = %v, want %v", tt.filter, tt.payload, got, tt.want)
		}
	}
}

// TestMatchSharedMessage runs many filters over one Message from several
// goroutines, as the broker may: the payload is decoded once, race-free.
func TestMatchSharedMessage(t *testing.T) {
	m := &Message{Topic: "a", Payload: []byte(sample), Timestamp: 2, CID: 1}
	filters := []*Filter{
		mustParse(t, "$filter/payload=speed==10/a"),
		mustParse(t, "$filter/payload=device.name==%2212*%22/a"),
		mustParse(t, "$filter/message=strlen(payload)>10/a"),
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for _, f := range filters {
				if !f.Match(m) {
					t.Errorf("%s did not match", f.Payload)
				}
			}
		})
	}
	wg.Wait()
}

func TestDecodePayload(t *testing.T) {
	s := `{"a\"b": "x\u0041", "nested": {"k": [true, null, {"z": -1.5e2}]}, "dup": 1, "dup": 2}`
	d := decodePayload([]byte(s), s)
	for name, want := range map[string]string{
		`a"b`: "xA", "nested.k.0": "true", "nested.k.1": "null", "nested.k.2.z": "-150", "dup": "1",
	} {
		v, ok := d.Lookup(name)
		if !ok || v.String() != want {
			t.Errorf("Lookup(%q) = %v,%v, want %s", name, v, ok, want)
		}
	}
	for _, name := range []string{"nested.k.3", "nested.k.-1", "nested.x", "a", "nested.k.2.z.y"} {
		if v, ok := d.Lookup(name); ok {
			t.Errorf("Lookup(%q) = %v, want missing", name, v)
		}
	}
	if strings.Contains(s, "payload") {
		t.Fatal("bad fixture")
	}
}
