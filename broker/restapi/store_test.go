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
	// The store's file and its journal. The journal grows with every
	// commit, and a large frame grows it while it is being written, so
	// compare when a $SYS round, /metrics and the files agree at once
	// (a bounded number of rounds).
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
	for round := 0; ; round++ {
		m := w.recv(t)
		sys, _ := strconv.ParseInt(string(m.Payload), 10, 64)
		files := size()
		if sys >= 256<<10 && sys == files { // a round after the retained message was stored
			val := scrape(t, c)
			if got := val("mqttboard_store_bytes"); got == float64(files) && size() == files {
				break
			}
		}
		if round == 250 {
			t.Fatalf("$SYS/broker/store/bytes %d, /metrics and the files (%d) never agreed in %d rounds", sys, files, round)
		}
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
