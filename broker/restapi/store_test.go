package restapi_test

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/restapi"
	"github.com/mqttboard/mqttboard/broker/storage"
)

// TestStoreSizeMetric: with a persistent store, /metrics, $SYS and the
// API's client report its size on disk, its file's and journal's; without one
// (or with the in-memory engine) there is no such figure rather than a 0.
func TestStoreSizeMetric(t *testing.T) {
	dir := t.TempDir()
	st, err := storage.Open(dir, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, broker.Options{Store: st, SysInterval: 20 * time.Millisecond})
	c.ok("POST", "/mqtt/messages", nil, "", `{"topic":"big/1","data":"`+strings.Repeat("x", 256<<10)+`","retained":true,"qos":1}`)
	w := dial(t, c.addr, "watcher", true, 0)
	w.sub(t, "$SYS/broker/store/bytes", 0)
	// The store's file and its journal; the journal grows with every
	// commit, so wait for a round that saw the sizes as they are now
	// (the watcher's session writes may come after the retained message's).
	size := func() int64 {
		var n int64
		for _, name := range []string{storage.FileName, storage.JournalFileName} {
			fi, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			n += fi.Size()
		}
		return n
	}
	var sys int64
	for sys < 256<<10 || sys != size() { // the round after the retained message was stored
		m := w.recv(t)
		sys, _ = strconv.ParseInt(string(m.Payload), 10, 64)
	}
	val := scrape(t, c)
	if got, files := val("mqttboard_store_bytes"), size(); got != float64(files) || sys != files {
		t.Fatalf("mqttboard_store_bytes %v, $SYS/broker/store/bytes %d; the files have %d", got, sys, files)
	}

	for _, opts := range []broker.Options{{}, {Store: storage.NewMem()}} {
		c := newClient(t, opts)
		m := c.srv.Metrics()
		hs := httptest.NewServer(c.api)
		gm, err := (&restapi.Client{Base: hs.URL}).Metrics(context.Background())
		hs.Close()
		if err != nil || m.HasStore || gm.HasStore {
			t.Fatalf("store %T: HasStore %v, over HTTP %v (%v)", opts.Store, m.HasStore, gm.HasStore, err)
		}
		for _, kv := range m.SysTopics() {
			if strings.HasPrefix(kv[0], "store/") {
				t.Fatalf("store %T: $SYS has %s", opts.Store, kv[0])
			}
		}
	}
}
