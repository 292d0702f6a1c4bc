package cluster

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/broker/message"
	"github.com/mqttboard/mqttboard/packet"
)

func TestSubject(t *testing.T) {
	for _, c := range []struct{ topic, want string }{
		{"a/b", "m.a.b"},
		{"a//b.c", "m.a.%.b%2Ec"},
		{"/", "m.%.%"},
		{"$SYS/x", "m.$SYS.x"},
		{"*/>", "m.%2A.%3E"},
		{"100%", "m.100%25"},
		{"sp ace", "m.sp%20ace"},
		{"é", "m.%C3%A9"},
		{"a,b", "m.a,b"}, // a topic level with a comma is one word
	} {
		if got := subject("m.", c.topic); got != c.want {
			t.Errorf("subject(%q) = %q, want %q", c.topic, got, c.want)
		}
	}
}

func TestFilterSubjects(t *testing.T) {
	for _, c := range []struct {
		filter string
		want   []string
	}{
		{"a/b", []string{"m.a.b"}},
		{"a/+/c", []string{"m.a.*.c"}},
		{"a/#", []string{"m.a", "m.a.>"}},
		{"#", []string{"m.>"}},
		{"+", []string{"m.*"}},
		{"a/x,y/c", []string{"m.a.*.c"}},
		{"/#", []string{"m.%", "m.%.>"}},
		{"a.b/#", []string{"m.a%2Eb", "m.a%2Eb.>"}},
	} {
		if got := filterSubjects("m.", c.filter); !slices.Equal(got, c.want) {
			t.Errorf("filterSubjects(%q) = %q, want %q", c.filter, got, c.want)
		}
	}
}

// unescape inverts subject for the injectivity fuzz.
func unescape(subj string) string {
	var levels []string
	for _, tok := range strings.Split(subj, ".") {
		if tok == "%" {
			levels = append(levels, "")
			continue
		}
		var b []byte
		for i := 0; i < len(tok); i++ {
			if tok[i] == '%' && i+2 < len(tok) {
				v, _ := strconv.ParseUint(tok[i+1:i+3], 16, 8)
				b = append(b, byte(v))
				i += 2
				continue
			}
			b = append(b, tok[i])
		}
		levels = append(levels, string(b))
	}
	return strings.Join(levels, "/")
}

// FuzzSubject: every subject is a valid NATS literal subject (no empty
// token, no wildcard token, no space or control byte) and maps back to its
// topic, so no two topics share one.
func FuzzSubject(f *testing.F) {
	for _, s := range []string{"a/b", "/", "a//b", "%", "%25", "a.b", "*", ">", " ", "é/ü", "$SYS/#"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		subj := subject("", topic)
		for _, tok := range strings.Split(subj, ".") {
			if tok == "" || tok == "*" || tok == ">" {
				t.Fatalf("%q -> %q has token %q", topic, subj, tok)
			}
		}
		for i := 0; i < len(subj); i++ {
			if subj[i] <= ' ' || subj[i] >= 0x7F {
				t.Fatalf("%q -> %q has byte %#x", topic, subj, subj[i])
			}
		}
		if back := unescape(subj); back != topic {
			t.Fatalf("%q -> %q -> %q", topic, subj, back)
		}
	})
}

func TestEnvelopeRoundTrip(t *testing.T) {
	m := &message.Message{
		Topic: "a/b", Payload: []byte("payload"), QoS: 2, Retain: true, Origin: "cli",
		Timestamp: 1764547200.125, CID: 42, Expires: time.Unix(1764547260, 5),
		Props: packet.Properties{
			PayloadFormat: 1, ContentType: "text/plain", ResponseTopic: "re/ply",
			CorrelationData: []byte{}, // present but empty
			User:            []packet.UserProperty{{Key: "k", Value: "v"}, {Key: "k", Value: "w"}},
		},
	}
	m.Props.Present = m.Props.Present.Add(packet.PropPayloadFormat).Add(packet.PropCorrelationData)
	got, err := decodeEnvelope(appendEnvelope(nil, m))
	if err != nil {
		t.Fatal(err)
	}
	if got.Topic != m.Topic || string(got.Payload) != "payload" || got.QoS != 2 || !got.Retain || got.Origin != "cli" ||
		got.Timestamp != m.Timestamp || got.CID != 42 || !got.Expires.Equal(m.Expires) ||
		got.Props.PayloadFormat != 1 || !got.Props.Has(packet.PropPayloadFormat) || !got.Props.Has(packet.PropCorrelationData) ||
		got.Props.ContentType != "text/plain" || got.Props.ResponseTopic != "re/ply" || len(got.Props.CorrelationData) != 0 ||
		!slices.Equal(got.Props.User, m.Props.User) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, m)
	}
	plain, err := decodeEnvelope(appendEnvelope(nil, &message.Message{Topic: "t"}))
	if err != nil || plain.Props.Has(packet.PropCorrelationData) || !plain.Expires.IsZero() || plain.Props.User != nil {
		t.Fatalf("plain: %+v %v", plain, err)
	}
}

// FuzzDecodeEnvelope: any bytes decode to a message or an error, never a
// panic; what decodes re-encodes to the same bytes.
func FuzzDecodeEnvelope(f *testing.F) {
	f.Add(appendEnvelope(nil, &message.Message{Topic: "a/b", Payload: []byte("x"), QoS: 1}))
	f.Add(appendEnvelope(nil, &message.Message{Topic: "t", Origin: "o", Expires: time.Unix(1, 0),
		Props: packet.Properties{User: []packet.UserProperty{{Key: "a", Value: "b"}}}}))
	f.Add([]byte{1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeEnvelope(b)
		if err != nil {
			return
		}
		again, err := decodeEnvelope(appendEnvelope(nil, m))
		if err != nil {
			t.Fatal(err)
		}
		if again.Topic != m.Topic || string(again.Payload) != string(m.Payload) || len(again.Props.User) != len(m.Props.User) {
			t.Fatalf("re-encoding changed the message")
		}
	})
}
