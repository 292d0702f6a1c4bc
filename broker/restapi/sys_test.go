package restapi_test

import (
	"fmt"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mqttboard/mqttboard/broker"
)

// scrape reads /metrics and sums each metric over the label values given
// (all of them when none are).
func scrape(t *testing.T, c *apiClient) func(name string, labels ...string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	c.api.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return func(name string, labels ...string) float64 {
		f := fams[name]
		if f == nil {
			t.Fatalf("%s missing from /metrics", name)
		}
		sum := 0.0
	next:
		for _, m := range f.Metric {
			for i := 0; i+1 < len(labels); i += 2 {
				ok := false
				for _, lp := range m.Label {
					ok = ok || (lp.GetName() == labels[i] && lp.GetValue() == labels[i+1])
				}
				if !ok {
					continue next
				}
			}
			sum += m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
		return sum
	}
}

// TestSysAgreesWithMetrics: what a client subscribed to $SYS/broker/#
// receives in one round and what /metrics reports afterwards on a quiet
// broker are the same figures: gauges equal, counters no lower in the
// later scrape (the round's own deliveries to the watcher count as sent).
func TestSysAgreesWithMetrics(t *testing.T) {
	c := newClient(t, broker.Options{SysInterval: 20 * time.Millisecond})
	a := dial(t, c.addr, "a", true, 0)
	a.sub(t, "q/#", 0) // QoS 0: nothing stays in flight
	a.sub(t, "$share/g/s/#", 0)
	c.ok("POST", "/mqtt/sessions", nil, "", `{"client_id":"off","session_expiry":300,"subscriptions":[{"filter":"q/#","qos":1}]}`)
	c.ok("POST", "/mqtt/messages", nil, "", `[{"topic":"q/1","data":"one","qos":1},{"topic":"q/2","data":"two","qos":1},{"topic":"r/1","data":"kept","retained":true}]`)
	a.recv(t)
	a.recv(t)

	// One whole round, published after the state above was made: live
	// deliveries (retain flag 0) from "version" to the round's last topic.
	w := dial(t, c.addr, "watcher", true, 0)
	w.sub(t, "$SYS/broker/#", 0)
	topics := (&broker.Metrics{}).SysTopics()
	first, last := "$SYS/broker/"+topics[0][0], "$SYS/broker/"+topics[len(topics)-1][0]
	// The first round the watcher sees whole may still report figures
	// taken before its own subscription (the snapshot precedes the
	// publishing). A gauge such as messages/queued also counts the $SYS messages queued
	// for the watcher itself at the snapshot (a round's worth when it is
	// slow to read, under load): compare a round with a scrape made right
	// after it, again on the next round (bounded) until they agree.
	var sys map[string]float64
	for round := 0; ; round++ {
		sys = readRound(t, w, first, last)
		if round == 0 {
			continue // may hold figures from before the watcher subscribed
		}
		diffs := sysDiffs(sys, scrape(t, c))
		if len(diffs) == 0 {
			break
		}
		if round == 20 {
			for _, d := range diffs {
				t.Error(d)
			}
			break
		}
	}
	// The state the test made, as both report it.
	if sys["clients/connected"] != 2 || sys["clients/disconnected"] != 1 || sys["messages/queued"] != 2 || sys["shared groups/count"] != 1 || sys["messages/received"] != 3 {
		t.Errorf("$SYS round: %v", sys)
	}
}

// sysDiffs compares a $SYS round with the /metrics values scraped after it
// (val): a gauge must be equal, a counter at most the later scrape's.
func sysDiffs(sys map[string]float64, val func(name string, labels ...string) float64) []string {
	var diffs []string
	for _, tc := range []struct {
		sys, metric string
		labels      []string
		counter     bool
	}{
		{"clients/connected", "mqttboard_connections", nil, false},
		{"clients/connected", "mqttboard_sessions", []string{"state", "online"}, false},
		{"clients/disconnected", "mqttboard_sessions", []string{"state", "offline"}, false},
		{"clients/total", "mqttboard_sessions", nil, false},
		{"messages/queued", "mqttboard_queued_messages", nil, false},
		{"messages/inflight", "mqttboard_inflight_messages", nil, false},
		{"subscriptions/count", "mqttboard_subscriptions", nil, false},
		{"shared groups/count", "mqttboard_shared_groups", nil, false},
		{"retained messages/count", "mqttboard_retained_messages", nil, false},
		{"connections/total", "mqttboard_connections_total", nil, true},
		{"connections/open", "mqttboard_network_connections", nil, false},
		{"messages/received", "mqttboard_messages_received_total", nil, true},
		{"messages/sent", "mqttboard_messages_sent_total", nil, true},
		{"messages/dropped", "mqttboard_messages_dropped_total", nil, true},
		{"bytes/received", "mqttboard_bytes_received_total", nil, true},
		{"bytes/sent", "mqttboard_bytes_sent_total", nil, true},
	} {
		s, ok := sys[tc.sys]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("$SYS/broker/%s was not in the round: %v", tc.sys, sys))
			continue
		}
		m := val(tc.metric, tc.labels...)
		if s != m && !(tc.counter && s <= m) {
			diffs = append(diffs, fmt.Sprintf("$SYS/broker/%s = %v, %s%v = %v", tc.sys, s, tc.metric, tc.labels, m))
		}
	}
	return diffs
}

// readRound returns one whole $SYS round as w receives it: live
// deliveries from the topic first to the topic last, as numbers.
func readRound(t *testing.T, w *peer, first, last string) map[string]float64 {
	t.Helper()
	sys := map[string]float64{}
	for started, done := false, false; !done; {
		m := w.recv(t)
		if m.Retain {
			continue
		}
		started = started || m.Topic == first
		if !started {
			continue
		}
		v, _, _ := strings.Cut(string(m.Payload), " ")
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			sys[strings.TrimPrefix(m.Topic, "$SYS/broker/")] = f
		}
		done = m.Topic == last
	}
	return sys
}
