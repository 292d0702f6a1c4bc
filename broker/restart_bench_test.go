package broker_test

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/storage"
)

// TestRestartTime measures how long a broker takes to recover a store of
// MQTTBOARD_RESTART_MESSAGES queued messages (over 1,000 sessions) and a
// tenth as many retained messages, and the heap and disk they take. It
// runs only when the variable is set (it writes gigabytes at 1 M):
//
//	MQTTBOARD_RESTART_MESSAGES=1000000 go test -run TestRestartTime -v ./broker/
func TestRestartTime(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("MQTTBOARD_RESTART_MESSAGES"))
	if n <= 0 {
		t.Skip("set MQTTBOARD_RESTART_MESSAGES to measure recovery time")
	}
	const sessions = 1000
	dir := t.TempDir()
	st, err := storage.Open(dir, storage.Options{Fsync: storage.FsyncNever})
	if err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 64)
	now := time.Now()
	fill := time.Now()
	var b storage.Batch
	flush := func() {
		if err := st.Apply(&b).Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		b = storage.Batch{}
	}
	for i := range sessions {
		id := "s" + strconv.Itoa(i)
		b.PutSession(storage.Session{ClientID: id, Protocol: 5, ExpiryInterval: 86400, DisconnectedAt: now,
			Subscriptions: []storage.Subscription{{Filter: "t/" + id + "/#", QoS: 1}}})
	}
	flush()
	for i := range n {
		id := "s" + strconv.Itoa(i%sessions)
		b.PutMessage(id, storage.Message{Seq: uint64(i/sessions + 1), QoS: 1, Topic: "t/" + id + "/x", Payload: payload, Created: now})
		if i%4096 == 4095 {
			flush()
		}
	}
	for i := range n / 10 {
		b.PutRetained(storage.Retained{Topic: "r/" + strconv.Itoa(i), Payload: payload, QoS: 1, Created: now})
		if i%4096 == 4095 {
			flush()
		}
	}
	flush()
	st.Close()
	t.Logf("filled %d messages, %d retained in %v", n, n/10, time.Since(fill).Round(time.Millisecond))
	fi, _ := os.Stat(dir + "/" + storage.FileName)

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	st, err = storage.Open(dir, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := broker.Open(broker.Options{Listen: "127.0.0.1:0", Store: st})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	t.Logf("recovered %d queued messages in %d sessions and %d retained in %v; heap %+.0f MB (%.0f B per message); file %.0f MB (%.0f B per message)",
		n, sessions, n/10, took.Round(time.Millisecond), float64(after.HeapAlloc-before.HeapAlloc)/1e6,
		float64(after.HeapAlloc-before.HeapAlloc)/float64(n+n/10), float64(fi.Size())/1e6, float64(fi.Size())/float64(n+n/10))
	s.Close()
}
