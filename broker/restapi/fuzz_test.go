package restapi

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mqttboard/mqttboard/broker"
)

// FuzzGlob checks the selector wildcard against a regexp oracle.
func FuzzGlob(f *testing.F) {
	for _, s := range [][2]string{{"*", ""}, {"a*b", "axxb"}, {"*a*a*a*b", strings.Repeat("a", 40)}, {"s*-*", "sensor-1"}, {"**", "x"}, {"a", "ab"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		parts := strings.Split(pattern, "*")
		for i, p := range parts {
			parts[i] = regexp.QuoteMeta(p)
		}
		re, err := regexp.Compile(`(?s)\A` + strings.Join(parts, ".*") + `\z`)
		if err != nil {
			t.Skip()
		}
		if got, want := glob(pattern, s), re.MatchString(s); got != want {
			t.Fatalf("glob(%q, %q) = %v; want %v", pattern, s, got, want)
		}
	})
}

// FuzzSelector: any selector parses or is refused with a reason, and
// selecting never panics.
func FuzzSelector(f *testing.F) {
	for _, s := range []string{"all", "a", "a,b", "connected=false", "client_id=s*", "colour=red", ",", "a,,b", "=x", "client_id=", "clean=true,x"} {
		f.Add(s)
	}
	info := &broker.SessionInfo{ClientID: "a", Protocol: "5.0", Address: "127.0.0.1:1"}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := parseSelector(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a reason")
			}
			return
		}
		sel.selects(info)
	})
}

// FuzzAPIBody sends arbitrary bodies to every POST and PUT and arbitrary
// path values to the GETs: the API answers a 2xx or a 4xx with a reason,
// never a 5xx or a panic, and always JSON in its shape.
func FuzzAPIBody(f *testing.F) {
	for _, s := range []string{
		`[{"topic":"a/b","data":"x","qos":1,"retained":true}]`,
		`{"topic":"a","data":"AAE=","encoding":"base64","user_properties":{"k":"v"},"correlation_data":"AQ==","payload_format_indicator":1}`,
		`{"client_id":"c","session_expiry":60,"subscriptions":[{"filter":"$share/g/a/+","qos":2}]}`,
		`[{"filter":"$filter/payload=v%3E1/a/#","qos":1,"retain_handling":2}]`,
		`[`, `{}`, `[]`, `null`, `[{"topic":"` + "\xff" + `"}]`, `{"topic":"a","qos":-1}`, `{"filter":"#","subscription_id":268435456}`,
	} {
		f.Add(s, "a/#")
	}
	srv := broker.New(broker.Options{MaxPayload: 4096})
	f.Cleanup(func() { srv.Close() })
	api := New(srv, Options{})
	f.Fuzz(func(t *testing.T, body, param string) {
		p := url.PathEscape(param)
		for _, rq := range [][2]string{
			{"POST", "/mqtt/messages"}, {"POST", "/mqtt/sessions"}, {"POST", "/mqtt/sessions/all/subscriptions"},
			{"PUT", "/mqtt/sessions/all/subscriptions/" + p}, {"GET", "/mqtt/messages/" + p}, {"DELETE", "/mqtt/messages/" + p},
			{"GET", "/mqtt/sessions/" + p}, {"GET", "/mqtt/logs?data=" + url.QueryEscape(body)},
		} {
			req := httptest.NewRequest(rq[0], "/", strings.NewReader(body))
			req.URL, _ = url.Parse(rq[1])
			rec := httptest.NewRecorder()
			api.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("%s %s %q: %d %s", rq[0], rq[1], body, rec.Code, rec.Body)
			}
			var out struct {
				Result []json.RawMessage `json:"result"`
				Errors []apiError        `json:"errors"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
				t.Fatalf("%s %s: not JSON: %v %s", rq[0], rq[1], err, rec.Body)
			}
			if rec.Code >= 400 && (len(out.Errors) != 1 || out.Errors[0].Reason == "") {
				t.Fatalf("%s %s: %d without a reason: %s", rq[0], rq[1], rec.Code, rec.Body)
			}
		}
		// Sessions made by the fuzzer are removed so the store stays small.
		for _, s := range srv.Sessions() {
			srv.RemoveSession(s.ClientID)
		}
		srv.DeleteRetained("#")
	})
}

// FuzzMetricsFrom: whatever a server answers on /metrics (the board's
// remote broker pane reads it), reading it back never panics, and counts
// never wrap around.
func FuzzMetricsFrom(f *testing.F) {
	srv := broker.New(broker.Options{Listen: "127.0.0.1:0", SysInterval: -1})
	defer srv.Close()
	rec := httptest.NewRecorder()
	New(srv, Options{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	f.Add(rec.Body.String())
	f.Add("# TYPE mqttboard_route_latency_seconds histogram\nmqttboard_route_latency_seconds_bucket{le=\"1e-06\"} 5\nmqttboard_route_latency_seconds_bucket{le=\"2.5e-06\"} 2\nmqttboard_route_latency_seconds_bucket{le=\"+Inf\"} 1\nmqttboard_route_latency_seconds_sum -1\nmqttboard_route_latency_seconds_count 0\n")
	f.Add("mqttboard_sessions{state=\"online\"} -3\nmqttboard_connections{protocol=\"\\u001b\"} 1e300\nmqttboard_uptime_seconds NaN\n")
	f.Fuzz(func(t *testing.T, text string) {
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(strings.NewReader(text))
		if err != nil {
			return
		}
		m := metricsFrom(fams)
		for i, c := range m.RouteLatency.Counts {
			if c > 1<<62 {
				t.Fatalf("bucket %d count %d: wrapped around", i, c)
			}
		}
	})
}
