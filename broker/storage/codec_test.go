package storage

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func seedRecords() [][2]any {
	s := sampleSession("fuzz")
	bare := Session{ClientID: "", Protocol: 4}
	// The fields after the token id, written only when set.
	extra := sampleSession("extra")
	extra.Will.MessageExpiry = 90
	extra.Subscriptions[1].CID, extra.Subscriptions[1].HasCID = 1<<64-1, true
	extra.Subscriptions[2].HasCID = true // cid 0
	m := sampleMessage(7, AwaitingPubrec)
	m.Expires = t0.Add(time.Hour)
	r := Retained{Topic: "a/b", Payload: []byte("v"), QoS: 1, Props: sampleProps(), Created: t0}
	return [][2]any{
		{byte(0), encodeSession(&s)},
		{byte(0), encodeSession(&bare)},
		{byte(0), encodeSession(&extra)},
		{byte(1), encodeMessage(&m)},
		{byte(1), encodeMessage(&Message{})},
		{byte(2), encodeRetained(&r)},
		{byte(2), []byte{1, 3, 'a'}}, // truncated
	}
}

// decodeAny decodes data as the record kind%3 and, when it decodes,
// re-encodes it.
func decodeAny(kind byte, data []byte) (any, []byte, error) {
	switch kind % 3 {
	case 0:
		v, err := decodeSession(data)
		return v, encodeSession(&v), err
	case 1:
		v, err := decodeMessage(data)
		return v, encodeMessage(&v), err
	default:
		v, err := decodeRetained(data)
		return v, encodeRetained(&v), err
	}
}

// FuzzDecodeRecord: no input panics a decoder, and whatever decodes
// encodes back to bytes that decode to the same record. Seeds are in
// testdata/fuzz/FuzzDecodeRecord and below.
func FuzzDecodeRecord(f *testing.F) {
	for _, s := range seedRecords() {
		f.Add(s[0].(byte), s[1].([]byte))
	}
	f.Fuzz(func(t *testing.T, kind byte, data []byte) {
		v, again, err := decodeAny(kind, data)
		if err != nil {
			return
		}
		v2, _, err := decodeAny(kind, again)
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if !reflect.DeepEqual(v, v2) {
			t.Fatalf("round trip changed the record:\n%#v\n%#v", v, v2)
		}
	})
}

func TestCodecRoundTrip(t *testing.T) {
	seeds := seedRecords()
	for i, s := range seeds[:len(seeds)-1] { // all but the truncated one
		v, again, err := decodeAny(s[0].(byte), s[1].([]byte))
		if err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
		if !reflect.DeepEqual(again, s[1]) {
			t.Fatalf("seed %d: re-encoding differs for %#v", i, v)
		}
	}
}

func TestCodecErrorsNameFieldAndOffset(t *testing.T) {
	m := sampleMessage(1, Queued)
	b := encodeMessage(&m)
	_, err := decodeMessage(b[:len(b)-3])
	if err == nil || !strings.Contains(err.Error(), "at byte") {
		t.Fatalf("truncated message: %v", err)
	}
	b[1+1] = 9 // state after version and seq
	if _, err := decodeMessage(encodeMessage(&m)); err != nil {
		t.Fatal(err)
	}
	if _, err := decodeMessage(b); err == nil || !strings.Contains(err.Error(), "state at byte") {
		t.Fatalf("bad state: %v", err)
	}
}

// TestSessionExtrasRoundTrip: a will's message expiry and the SUBSCRIBE
// cid options come back; without them the record is byte for byte what
// the code before them wrote (so that code still reads it).
func TestSessionExtrasRoundTrip(t *testing.T) {
	s := sampleSession("x")
	plain := encodeSession(&s)
	s.Will.MessageExpiry = 60
	s.Subscriptions[0].CID, s.Subscriptions[0].HasCID = 42, true
	got, err := decodeSession(encodeSession(&s))
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "session", got, s)
	s.Will.MessageExpiry, s.Subscriptions[0].CID, s.Subscriptions[0].HasCID = 0, 0, false
	if again := encodeSession(&s); !reflect.DeepEqual(again, plain) {
		t.Fatal("a record without the extras changed")
	}
	bad := append(plain[:len(plain):len(plain)], 0, 5) // 5 cids for 3 subscriptions
	if _, err := decodeSession(bad); err == nil || !strings.Contains(err.Error(), "cid count") {
		t.Fatalf("bad cid count: %v", err)
	}
}
