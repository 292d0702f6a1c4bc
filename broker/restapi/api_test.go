package restapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/broker/restapi"
)

// apiClient calls the API through httptest and checks every request it
// sends and every response it gets against openapi.json with kin-openapi,
// so the document and the handlers cannot drift apart.
type apiClient struct {
	t    *testing.T
	srv  *broker.Server
	addr string // MQTT address
	api  *restapi.API
	doc  *openapi3.T
	// header is added to every request (platform_test.go: tokens).
	header http.Header
}

func loadDoc(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(restapi.OpenAPI())
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI 3 document: %v", err)
	}
	return doc
}

func newClient(t *testing.T, opts broker.Options) *apiClient {
	t.Helper()
	srv, addr := brokertest.StartServer(t, opts)
	return &apiClient{t: t, srv: srv, addr: addr, api: restapi.New(srv, restapi.Options{}), doc: loadDoc(t)}
}

// response is a decoded answer.
type response struct {
	status int
	body   []byte
	Result []map[string]any `json:"result"`
	Errors []struct {
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	} `json:"errors"`
}

func (r *response) reason() string {
	if len(r.Errors) == 0 {
		return ""
	}
	return r.Errors[0].Reason
}

// do calls method on the OpenAPI path op (e.g. "/mqtt/sessions/{selector}")
// with params filled in, URL-escaped, and query appended. With strict the
// request must conform to the document (bad-input tests send requests that
// do not); the response always must.
func (c *apiClient) do(method, op string, params map[string]string, query string, body string, strict bool) *response {
	c.t.Helper()
	p := op
	for k, v := range params {
		p = strings.ReplaceAll(p, "{"+k+"}", url.PathEscape(v))
	}
	if query != "" {
		p += "?" + query
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, p, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	item := c.doc.Paths.Find(op)
	if item == nil || item.GetOperation(method) == nil {
		c.t.Fatalf("%s %s is not in openapi.json", method, op)
	}
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params,
		Route:   &routers.Route{Spec: c.doc, Path: op, PathItem: item, Method: method, Operation: item.GetOperation(method)},
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	}
	if strict {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			c.t.Fatalf("%s %s: request does not conform to openapi.json: %v", method, p, err)
		}
		if body != "" {
			req.Body = io.NopCloser(strings.NewReader(body)) // validation read it
		}
	}
	rec := httptest.NewRecorder()
	c.api.ServeHTTP(rec, req)
	res := &response{status: rec.Code, body: rec.Body.Bytes()}
	if err := openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: rec.Code, Header: rec.Header(), Body: io.NopCloser(bytes.NewReader(res.body)),
	}); err != nil {
		c.t.Fatalf("%s %s: response %d does not conform to openapi.json: %v\n%s", method, p, rec.Code, err, res.body)
	}
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") && op != "/openapi.json" {
		if err := json.Unmarshal(res.body, res); err != nil {
			c.t.Fatalf("%s %s: %v\n%s", method, p, err, res.body)
		}
	}
	return res
}

func (c *apiClient) ok(method, op string, params map[string]string, query, body string) []map[string]any {
	c.t.Helper()
	r := c.do(method, op, params, query, body, true)
	if r.status != 200 {
		c.t.Fatalf("%s %s %v: status %d: %s", method, op, params, r.status, r.body)
	}
	return r.Result
}

// TestOpenAPIMatchesHandlers: every operation the API serves is in
// openapi.json and every operation there is served.
func TestOpenAPIMatchesHandlers(t *testing.T) {
	doc := loadDoc(t)
	api := restapi.New(broker.New(broker.Options{}), restapi.Options{})
	served := map[[2]string]bool{}
	for _, rt := range api.Routes() {
		served[rt] = true
		item := doc.Paths.Find(rt[1])
		if item == nil || item.GetOperation(rt[0]) == nil {
			t.Errorf("%s %s is served but not in openapi.json", rt[0], rt[1])
		}
	}
	for p, item := range doc.Paths.Map() {
		for m := range item.Operations() {
			if !served[[2]string{m, p}] {
				t.Errorf("%s %s is in openapi.json but not served", m, p)
			}
		}
	}
	// And the document the API serves is that one.
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, httptest.NewRequest("GET", "/openapi.json", nil))
	if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), restapi.OpenAPI()) {
		t.Fatalf("GET /openapi.json: %d", rec.Code)
	}
}

func TestPublishAndRetained(t *testing.T) {
	c := newClient(t, broker.Options{})
	r := c.ok("POST", "/mqtt/messages", nil, "", `[
		{"topic":"a/b","data":"{\"v\":7}","retained":true,"qos":1,"user_properties":{"k":"v"},"content_type":"text/plain"},
		{"topic":"a/c","data":"AAH/","encoding":"base64","retained":true,"correlation_data":"AQI=","payload_format_indicator":0},
		{"topic":"x/y","data":"not retained"}]`)
	if len(r) != 3 || r[0]["topic"] != "a/b" {
		t.Fatalf("result %v", r)
	}
	got := c.ok("GET", "/mqtt/messages/{topic}", map[string]string{"topic": "a/#"}, "", "")
	if len(got) != 2 {
		t.Fatalf("retained under a/#: %v", got)
	}
	m := got[0]
	up, _ := m["user_properties"].(map[string]any)
	if m["topic"] != "a/b" || m["data"] != `{"v":7}` || m["encoding"] != "text" || m["qos"] != 1.0 || up["k"] != "v" || up["timestamp"] == nil || m["content_type"] != "text/plain" {
		t.Fatalf("a/b: %v", m)
	}
	// Binary payloads come back in base64 unless asked otherwise.
	if m := got[1]; m["data"] != "AAH/" || m["encoding"] != "base64" || m["correlation_data"] != "AQI=" || m["payload_format_indicator"] != 0.0 {
		t.Fatalf("a/c: %v", m)
	}
	if got := c.ok("GET", "/mqtt/messages/{topic}", map[string]string{"topic": "a/c"}, "encoding=hex&fields=topic,data", ""); len(got) != 1 || got[0]["data"] != "0001ff" || len(got[0]) != 2 {
		t.Fatalf("hex with fields: %v", got)
	}
	// Selectors and $filter select.
	if got := c.ok("GET", "/mqtt/messages/{topic}", map[string]string{"topic": "a/b,c"}, "fields=topic", ""); len(got) != 2 {
		t.Fatalf("selector a/b,c: %v", got)
	}
	if got := c.ok("GET", "/mqtt/messages/{topic}", map[string]string{"topic": "$filter/payload=" + url.PathEscape(`v==7`) + "/a/+"}, "fields=topic", ""); len(got) != 1 || got[0]["topic"] != "a/b" {
		t.Fatalf("$filter payload: %v", got)
	}
	// Delete with a wildcard, then nothing is left.
	if d := c.ok("DELETE", "/mqtt/messages/{topic}", map[string]string{"topic": "a/+"}, "", ""); d[0]["deleted"] != 2.0 {
		t.Fatalf("delete: %v", d)
	}
	if got := c.ok("GET", "/mqtt/messages/{topic}", map[string]string{"topic": "#"}, "", ""); len(got) != 0 {
		t.Fatalf("after delete: %v", got)
	}
}

// TestBadInput: each bad request gets a 4xx with errors[].reason saying
// what is wrong, and nothing of it is applied.
func TestBadInput(t *testing.T) {
	c := newClient(t, broker.Options{MaxPayload: 1000})
	c.ok("POST", "/mqtt/sessions", nil, "", `{"client_id":"keep","session_expiry":60}`)
	cases := []struct {
		method, op string
		params     map[string]string
		query      string
		body       string
		status     int
		reason     string
	}{
		{"POST", "/mqtt/messages", nil, "", `[{"topic":"ok/1","data":"x","retained":true},{"topic":"ok/2"`, 400, "malformed JSON"},
		{"POST", "/mqtt/messages", nil, "", `[{"topic":"ok/1","data":"x","retained":true},{"topic":"ok/2","colour":"red"}]`, 400, `unknown field "colour"`},
		{"POST", "/mqtt/messages", nil, "", `[{"topic":"ok/1","data":"x","retained":true},{"topic":"bad/#","data":"x"}]`, 400, "wildcard"},
		{"POST", "/mqtt/messages", nil, "", `[{"topic":"ok/1","data":"x","retained":true},{"topic":"flespi/x","data":"x"}]`, 400, "reserved"},
		{"POST", "/mqtt/messages", nil, "", `[{"topic":"ok/1","data":"x","retained":true},{"topic":"ok/2","data":"%%","encoding":"base64"}]`, 400, "base64"},
		{"POST", "/mqtt/messages", nil, "", `[{"topic":"ok/1","data":"x","retained":true},{"topic":"ok/2","qos":3}]`, 400, "qos 3"},
		{"POST", "/mqtt/messages", nil, "", `[{"topic":"ok/1","data":"` + strings.Repeat("x", 1001) + `"}]`, 400, "exceeds the limit"},
		{"POST", "/mqtt/messages", nil, "", `[{"topic":"ok/1","data":"` + strings.Repeat("x", 3<<20) + `"}]`, 413, "larger than the limit"},
		{"POST", "/mqtt/messages", nil, "", `{"topic":"ok/1","qos":"one"}`, 400, `field "qos"`},
		// One object (not an array): errors are about what was sent, not
		// about the brackets once added around it.
		{"POST", "/mqtt/messages", nil, "", `{"topic":"ok/1"`, 400, "ends before the value is complete"},
		{"POST", "/mqtt/messages", nil, "", `{"topic":"ok/1",}`, 400, "at byte 17: invalid character '}'"},
		{"POST", "/mqtt/messages", nil, "", `{"topic":"ok/1"}]`, 400, "trailing data"},
		{"POST", "/mqtt/messages", nil, "", `[{"topic":"ok/1"}]]`, 400, "trailing data"},
		{"POST", "/mqtt/messages", nil, "", ``, 400, "empty"},
		{"GET", "/mqtt/messages/{topic}", map[string]string{"topic": "a/#/b"}, "", "", 400, "#"},
		{"GET", "/mqtt/messages/{topic}", map[string]string{"topic": "a"}, "fields=topic,colour", "", 400, `unknown field "colour"`},
		{"GET", "/mqtt/messages/{topic}", map[string]string{"topic": "$filter/payload=((/a"}, "", "", 400, "payload"},
		{"DELETE", "/mqtt/messages/{topic}", map[string]string{"topic": "$share/g/a"}, "", "", 400, "shared"},
		{"GET", "/mqtt/sessions/{selector}", map[string]string{"selector": "colour=red"}, "", "", 400, `unknown field "colour"`},
		{"GET", "/mqtt/sessions/{selector}", map[string]string{"selector": "nobody"}, "", "", 404, "nobody"},
		{"POST", "/mqtt/sessions", nil, "", `[{"client_id":"new1","session_expiry":60},{"client_id":"keep","session_expiry":60}]`, 409, "exists"},
		{"POST", "/mqtt/sessions", nil, "", `[{"client_id":"new1","session_expiry":60},{"client_id":"new2","session_expiry":0}]`, 400, "session_expiry"},
		{"POST", "/mqtt/sessions", nil, "", `[{"client_id":"new1","session_expiry":60,"subscriptions":[{"filter":"a/#/b"}]}]`, 400, "#"},
		{"POST", "/mqtt/sessions/{selector}/subscriptions", map[string]string{"selector": "keep"}, "", `[{"filter":"ok/+"},{"filter":"+x"}]`, 400, "+"},
		{"POST", "/mqtt/sessions/{selector}/subscriptions", map[string]string{"selector": "keep"}, "", `[{"filter":"ok/+"},{"filter":"ok/2","qos":7}]`, 400, "qos 7"},
		{"POST", "/mqtt/sessions/{selector}/subscriptions", map[string]string{"selector": "keep"}, "", `[{"filter":"ok/+","extra":1}]`, 400, `unknown field "extra"`},
		{"PUT", "/mqtt/sessions/{selector}/subscriptions/{filter}", map[string]string{"selector": "keep", "filter": "none/+"}, "", `{"qos":1}`, 404, "none/+"},
		{"GET", "/mqtt/logs", nil, "data=" + url.QueryEscape(`{"count":5,"colour":1}`), "", 400, `unknown field "colour"`},
		{"GET", "/mqtt/logs", nil, "data=" + url.QueryEscape(`{"filter":"event_code=="}`), "", 400, "filter"},
		{"GET", "/mqtt/logs", nil, "data=" + url.QueryEscape(`{"count":`), "", 400, "malformed JSON"},
	}
	for _, tc := range cases {
		r := c.do(tc.method, tc.op, tc.params, tc.query, tc.body, false)
		if r.status != tc.status || len(r.Errors) != 1 || r.Errors[0].Code != tc.status || !strings.Contains(r.reason(), tc.reason) {
			t.Errorf("%s %s %v %.60s: got %d %s; want %d with %q", tc.method, tc.op, tc.params, tc.body, r.status, r.body, tc.status, tc.reason)
		}
	}
	// Nothing was half-applied: no retained message, no new session, no
	// subscription on "keep".
	if got := c.ok("GET", "/mqtt/messages/{topic}", map[string]string{"topic": "#"}, "", ""); len(got) != 0 {
		t.Errorf("retained after refused requests: %v", got)
	}
	ss := c.ok("GET", "/mqtt/sessions/{selector}", map[string]string{"selector": "all"}, "", "")
	if len(ss) != 1 || ss[0]["client_id"] != "keep" || ss[0]["subscriptions_count"] != 0.0 {
		t.Errorf("sessions after refused requests: %v", ss)
	}
}

// TestPathsAsSent: topic filters with ".", ".." and empty levels reach the
// handlers as sent (http.ServeMux would clean and redirect them; found by
// FuzzAPIBody, input kept in testdata).
func TestPathsAsSent(t *testing.T) {
	c := newClient(t, broker.Options{})
	c.ok("POST", "/mqtt/messages", nil, "", `[{"topic":"a//b","data":"1","retained":true},{"topic":"./..","data":"2","retained":true}]`)
	for topic, data := range map[string]string{"a//b": "1", "./..": "2"} {
		got := c.ok("GET", "/mqtt/messages/{topic}", map[string]string{"topic": topic}, "", "")
		if len(got) != 1 || got[0]["data"] != data {
			t.Errorf("%q: %v", topic, got)
		}
	}
	rec := httptest.NewRecorder()
	c.api.ServeHTTP(rec, httptest.NewRequest("GET", "/mqtt/messages/a//b", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"a//b"`) {
		t.Errorf("unescaped a//b: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	c.api.ServeHTTP(rec, httptest.NewRequest("PUT", "/mqtt/messages/x", nil))
	if rec.Code != 405 || rec.Header().Get("Allow") != "GET, DELETE" {
		t.Errorf("PUT /mqtt/messages/x: %d %q %s", rec.Code, rec.Header().Get("Allow"), rec.Body)
	}
}

func TestUnknownPath(t *testing.T) {
	c := newClient(t, broker.Options{})
	rec := httptest.NewRecorder()
	c.api.ServeHTTP(rec, httptest.NewRequest("GET", "/mqtt/nothing", nil))
	if rec.Code != 404 || !strings.Contains(rec.Body.String(), `"reason"`) {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

// TestAuthorizeHook: the token check slots in before every handler but
// /healthz.
func TestAuthorizeHook(t *testing.T) {
	srv, _ := brokertest.StartServer(t, broker.Options{})
	var asked []restapi.Access
	api := restapi.New(srv, restapi.Options{Authorize: func(r *http.Request, a restapi.Access) error {
		asked = append(asked, a)
		if r.Header.Get("Authorization") != "FlespiToken good" {
			return restapi.ErrUnauthorized
		}
		return nil
	}})
	for _, tc := range []struct {
		method, path, auth string
		status             int
	}{
		{"GET", "/mqtt/sessions/all", "", 401},
		{"GET", "/mqtt/sessions/all", "FlespiToken good", 200},
		{"DELETE", "/mqtt/messages/%23", "", 401},
		{"GET", "/healthz", "", 200},
	} {
		req := httptest.NewRequest(tc.method, tc.path, nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		if rec.Code != tc.status {
			t.Errorf("%s %s (%q): %d %s", tc.method, tc.path, tc.auth, rec.Code, rec.Body)
		}
	}
	if len(asked) != 3 || asked[2] != (restapi.Access{Resource: "messages", Write: true}) {
		t.Fatalf("Authorize saw %v", asked)
	}
}
