package broker

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// FuzzLogTopicID: a client id becomes exactly one topic level without
// wildcards, and can be read back.
func FuzzLogTopicID(f *testing.F) {
	for _, s := range []string{"dev1", "a/b", "+", "#", "%", "%2F", "a+b#c/d%e", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		lv := logTopicID(id)
		if strings.ContainsAny(lv, "/+#") || lv == "" {
			t.Fatalf("logTopicID(%q) = %q", id, lv)
		}
		if id == "" {
			return
		}
		if back, err := url.PathUnescape(lv); err != nil || back != id {
			t.Fatalf("logTopicID(%q) = %q reads back as %q (%v)", id, lv, back, err)
		}
	})
}

// TestLogRing: the ring keeps the newest records in order and pages by id.
func TestLogRing(t *testing.T) {
	s := New(Options{LogRecords: 3, NoLogTopics: true})
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		s.logEvent(LogRecord{EventCode: LogConnected, ClientID: id})
	}
	recs, err := s.Logs(LogQuery{})
	if err != nil || len(recs) != 3 || recs[0].ClientID != "c" || recs[2].ClientID != "e" || recs[2].ID != 5 {
		t.Fatalf("%v %v", recs, err)
	}
	recs, _ = s.Logs(LogQuery{Reverse: true, Count: 1})
	if len(recs) != 1 || recs[0].ClientID != "e" {
		t.Fatalf("reverse: %v", recs)
	}
	recs, _ = s.Logs(LogQuery{Count: 2})
	if len(recs) != 2 || recs[0].ClientID != "d" || recs[1].ClientID != "e" {
		t.Fatalf("the newest 2, oldest first: %v", recs)
	}
	recs, _ = s.Logs(LogQuery{AfterID: 3, Count: 1})
	if len(recs) != 1 || recs[0].ClientID != "d" {
		t.Fatalf("paging after 3: %v", recs)
	}
	recs, _ = s.Logs(LogQuery{AfterID: 4})
	if len(recs) != 1 || recs[0].ClientID != "e" {
		t.Fatalf("after 4: %v", recs)
	}
	recs, _ = s.Logs(LogQuery{Filter: `client_id=="d" || event_type=="nothing"`})
	if len(recs) != 1 || recs[0].ClientID != "d" {
		t.Fatalf("filter: %v", recs)
	}
	if _, err := s.Logs(LogQuery{Filter: "=="}); err == nil {
		t.Fatal("a bad filter is an error")
	}
	off := New(Options{LogRecords: -1})
	off.logEvent(LogRecord{EventCode: LogConnected, ClientID: "x"})
	if recs, _ := off.Logs(LogQuery{}); len(recs) != 0 {
		t.Fatalf("disabled log kept %v", recs)
	}
}

// TestLogEntryKeepsEveryField: the ring's compact entries give back every
// field of a record, optional ones absent or present (false and 0
// included).
func TestLogEntryKeepsEveryField(t *testing.T) {
	s := New(Options{NoLogTopics: true})
	no, zero, exp, rc := false, 0, uint32(4294967295), 0x8E
	in := []LogRecord{
		{EventCode: LogDisconnected, ClientID: "a/b", Topic: "t", Published: 1, Received: 2, Rejected: 3, BytesIn: 4, BytesOut: 5,
			Address: "[::1]:1883", Protocol: "5.0", Username: "u", Clean: &no, KeepAlive: &zero, SessionExpiry: &exp,
			Action: "publish", ReasonCode: &rc, Reason: "taken over", Detail: "d"},
		{EventCode: LogSubscribed, ClientID: "c", Topic: "x/#"},
		{EventCode: LogConnected, ClientID: "d", Address: "127.0.0.1:5", Protocol: "3.1.1", Clean: &no, KeepAlive: &zero},
		{EventCode: LogConnected, ClientID: "e", Protocol: "9.9"}, // not one of logProtocols
	}
	for _, r := range in {
		s.logEvent(r)
	}
	got, err := s.Logs(LogQuery{})
	if err != nil || len(got) != len(in) {
		t.Fatalf("%v %v", got, err)
	}
	for i, r := range got {
		want := in[i]
		want.ID, want.Timestamp = uint64(i+1), r.Timestamp
		want.EventType, want.Origin = logEventTypes[want.EventCode], "mqtt/sessions/"+want.ClientID
		if !reflect.DeepEqual(r, want) {
			t.Errorf("record %d:\n got %+v\nwant %+v", i, r, want)
		}
	}
}

// TestLogEventBuildsNothingUnread: with no subscription that could take a
// log record, recording one allocates nothing (before, each record built
// its JSON and message anyway: five allocations, two of them in the
// connection struct's size class and two in the session's, left as
// garbage between the connections' own state by every connect, ~190 B of
// fragmentation per idle connection at 10,000).
func TestLogEventBuildsNothingUnread(t *testing.T) {
	s := New(Options{LogRecords: 4})
	clean, ka := true, 60
	rec := LogRecord{EventCode: LogConnected, ClientID: "dev1", Address: "127.0.0.1:4000", Protocol: "3.1.1",
		Clean: &clean, KeepAlive: &ka}
	for range 4 {
		s.logEvent(rec) // fill the ring: it allocates while growing
	}
	if n := testing.AllocsPerRun(100, func() { s.logEvent(rec) }); n != 0 {
		t.Fatalf("%v allocations per record no one subscribes to", n)
	}
	if got := s.logStats().Published; got != 105 {
		t.Fatalf("%d records counted as published, want 105", got)
	}
}
