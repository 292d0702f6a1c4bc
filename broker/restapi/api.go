// Package restapi is the bundled broker's HTTP API in flespi's shapes:
// /mqtt/messages (publish, read and delete retained messages),
// /mqtt/sessions (sessions online and offline, their subscriptions),
// /mqtt/logs, plus /metrics (Prometheus), /healthz and /openapi.json.
//
// Every response is JSON: {"result":[...]} on success, {"errors":[{"code":N,
// "reason":"..."}]} with a 4xx/5xx status otherwise (code is the HTTP
// status). The handlers only call the broker's public inspection and
// management methods ([broker.Server.Sessions], [broker.Server.Publish],
// ...), the same model the board's broker pane reads.
//
// Authorization: every request except /healthz passes [Options.Authorize]
// with the [Access] it needs before its handler runs. nil (the broker's
// "--auth none") leaves the API open, which is why `mqttboard broker
// --http` binds to loopback unless told otherwise. Token authentication
// (Authorization: FlespiToken <key>) slots in there.
package restapi

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/auth"
)

// Access is what a request wants to do, for [Options.Authorize].
type Access struct {
	// Resource is "messages", "sessions", "logs", "metrics", "openapi" or
	// "platform" (tokens and subaccounts).
	Resource string
	// Write is true for POST, PUT and DELETE.
	Write bool
}

// ErrUnauthorized is returned by an Authorize function for a request
// without valid credentials (401); any other error means forbidden (403).
var ErrUnauthorized = errors.New("unauthorized")

// Options configure the API handler. The zero value serves an open API.
type Options struct {
	// Authorize, when set, decides every request but /healthz before its
	// handler runs; its error's text is the reason returned to the client.
	Authorize func(r *http.Request, a Access) error
	// Tokens, with the broker's --auth token, serves /platform/tokens and
	// /platform/subaccounts and, unless Authorize is set, authorizes every
	// request by its "Authorization: FlespiToken <key>" (platform.go).
	Tokens *auth.Registry
	// MaxBodyBytes bounds a POST /mqtt/messages body; default: room for the
	// broker's largest payload in base64 plus 1 MiB. Other bodies are
	// bounded by 1 MiB.
	MaxBodyBytes int64
	// Listeners are the URLs of the broker's MQTT listeners
	// ("mqtt://127.0.0.1:1883", "ws://[::]:8080/mqtt"), reported by
	// /healthz so that a client of the API (the board's --broker-http)
	// can connect to the broker it watches.
	Listeners []string
}

// smallBody bounds every body but a publish's: sessions and subscriptions
// are small.
const smallBody = 1 << 20

// API is the HTTP handler; create it with [New].
type API struct {
	srv  *broker.Server
	opts Options
	rts  []compiledRoute
}

// route is one operation: the method and the ServeMux pattern, which is
// also how it appears in openapi.json ("{name...}" becomes "{name}").
type route struct {
	method, pattern string
	access          Access
	h               http.HandlerFunc
}

// New returns the API of srv.
func New(srv *broker.Server, opts Options) *API {
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = int64(srv.Limits().MaxPayload)*4/3 + smallBody
	}
	a := &API{srv: srv, opts: opts}
	if opts.Tokens != nil && opts.Authorize == nil {
		a.opts.Authorize = a.authorizeToken
	}
	for _, rt := range a.routes() {
		a.rts = append(a.rts, compiledRoute{method: rt.method, segs: strings.Split(strings.TrimPrefix(rt.pattern, "/"), "/"), h: a.guard(rt)})
	}
	return a
}

func (a *API) routes() []route {
	msgs := Access{Resource: "messages"}
	msgsW := Access{Resource: "messages", Write: true}
	sess := Access{Resource: "sessions"}
	sessW := Access{Resource: "sessions", Write: true}
	return append([]route{
		{"POST", "/mqtt/messages", msgsW, a.postMessages},
		{"GET", "/mqtt/messages/{topic...}", msgs, a.getMessages},
		{"DELETE", "/mqtt/messages/{topic...}", msgsW, a.deleteMessages},
		{"POST", "/mqtt/sessions", sessW, a.postSessions},
		{"GET", "/mqtt/sessions/{selector}", sess, a.getSessions},
		{"DELETE", "/mqtt/sessions/{selector}", sessW, a.deleteSessions},
		{"GET", "/mqtt/sessions/{selector}/subscriptions", sess, a.getSubscriptions},
		{"POST", "/mqtt/sessions/{selector}/subscriptions", sessW, a.postSubscriptions},
		{"GET", "/mqtt/sessions/{selector}/subscriptions/{filter...}", sess, a.getSubscriptions},
		{"PUT", "/mqtt/sessions/{selector}/subscriptions/{filter...}", sessW, a.putSubscription},
		{"DELETE", "/mqtt/sessions/{selector}/subscriptions/{filter...}", sessW, a.deleteSubscriptions},
		{"GET", "/mqtt/logs", Access{Resource: "logs"}, a.getLogs},
		{"GET", "/metrics", Access{Resource: "metrics"}, a.metricsHandler()},
		{"GET", "/healthz", Access{}, a.healthz},
		{"GET", "/openapi.json", Access{Resource: "openapi"}, serveOpenAPI},
	}, a.platformRoutes()...)
}

// Routes lists the API's operations as method and OpenAPI path
// ("/mqtt/messages/{topic}"), in the order they are registered; a test
// checks that openapi.json describes exactly these.
func (a *API) Routes() [][2]string {
	var out [][2]string
	for _, rt := range a.routes() {
		out = append(out, [2]string{rt.method, strings.ReplaceAll(rt.pattern, "...}", "}")})
	}
	return out
}

// compiledRoute is a route split into path segments for matching.
type compiledRoute struct {
	method string
	segs   []string // literal, "{name}" or a last "{name...}"
	h      http.HandlerFunc
}

// match reports whether the escaped path segments ps fit the route, and
// sets its path values on r. A "{name}" takes one segment, unescaped (so
// %2F is a '/' inside it); "{name...}" takes the rest, unescaped.
func (rt *compiledRoute) match(ps []string, r *http.Request) bool {
	vals := map[string]string{}
	for i, seg := range rt.segs {
		if name, ok := strings.CutSuffix(strings.TrimPrefix(seg, "{"), "...}"); ok && seg[0] == '{' {
			v, err := url.PathUnescape(strings.Join(ps[min(i, len(ps)):], "/"))
			if err != nil || v == "" {
				return false
			}
			vals[name] = v
			break
		}
		if i >= len(ps) {
			return false
		}
		if seg[0] == '{' {
			v, err := url.PathUnescape(ps[i])
			if err != nil || v == "" {
				return false
			}
			vals[seg[1:len(seg)-1]] = v
		} else if ps[i] != seg {
			return false
		}
		if i == len(rt.segs)-1 && len(ps) != len(rt.segs) {
			return false
		}
	}
	for k, v := range vals {
		r.SetPathValue(k, v)
	}
	return true
}

// ServeHTTP implements http.Handler. It routes on the escaped path itself
// rather than through http.ServeMux, which "cleans" paths: topic filters
// and client ids may hold ".", ".." and empty levels ("a//b") that must
// reach the handler as sent, not be redirected.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ps := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	var allowed []string
	for i := range a.rts {
		rt := &a.rts[i]
		if !rt.match(ps, r) {
			continue
		}
		if rt.method == r.Method || (rt.method == "GET" && r.Method == "HEAD") {
			rt.h(w, r)
			return
		}
		allowed = append(allowed, rt.method)
	}
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeError(w, http.StatusMethodNotAllowed, r.Method+" is not an API method of "+r.URL.Path+"; use "+strings.Join(allowed, ", "))
		return
	}
	writeError(w, http.StatusNotFound, "no API method "+r.Method+" "+r.URL.Path+"; see /openapi.json")
}

// guard runs the authorization check of rt, then its handler, and turns a
// panic into a 500 rather than a dropped connection.
func (a *API) guard(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.opts.Authorize != nil && rt.access.Resource != "" {
			if err := a.opts.Authorize(r, rt.access); err != nil {
				code := http.StatusForbidden
				if errors.Is(err, ErrUnauthorized) {
					code = http.StatusUnauthorized
				}
				writeError(w, code, err.Error())
				return
			}
		}
		defer func() {
			if p := recover(); p != nil {
				writeError(w, http.StatusInternalServerError, fmt.Sprintf("internal error: %v", p))
			}
		}()
		rt.h(w, r)
	}
}

// apiError is one entry of {"errors":[...]}.
type apiError struct {
	Code   int    `json:"code"`
	Reason string `json:"reason"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(map[string]any{"errors": []apiError{{status, "encoding the response: " + err.Error()}}})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// writeResult answers {"result": result}; result must be a slice (nil
// becomes []).
func writeResult[T any](w http.ResponseWriter, result []T) {
	if result == nil {
		result = []T{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"result": result})
}

func writeError(w http.ResponseWriter, status int, reason string) {
	writeJSON(w, status, map[string]any{"errors": []apiError{{status, reason}}})
}

// writeBrokerError maps the broker's errors to statuses.
func writeBrokerError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, broker.ErrInvalid):
		writeError(w, http.StatusBadRequest, strings.TrimPrefix(err.Error(), broker.ErrInvalid.Error()+": "))
	case errors.Is(err, broker.ErrNoSession):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, broker.ErrSessionExists):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, broker.ErrServerClosed):
		writeError(w, http.StatusServiceUnavailable, err.Error())
	default:
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}

// decodeBody reads a JSON body of at most limit bytes into v, refusing
// unknown fields and trailing data. A body holding one object where v is a
// slice is read as a one-element array. It writes the 4xx itself and
// reports false on any problem.
func decodeBody[T any](w http.ResponseWriter, r *http.Request, limit int64, v *[]T) bool {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body: larger than the limit of %d bytes", mbe.Limit))
			return false
		}
		writeError(w, http.StatusBadRequest, "body: "+err.Error())
		return false
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		writeError(w, http.StatusBadRequest, "body: empty; send a JSON array of objects")
		return false
	}
	if b[0] == '{' {
		// Decoded as sent, so an error's byte offset and characters are
		// the body's own and trailing data after the object is refused.
		var one T
		if err := strictJSON(b, &one); err != nil {
			writeError(w, http.StatusBadRequest, "body: "+err.Error())
			return false
		}
		*v = []T{one}
		return true
	}
	if err := strictJSON(b, v); err != nil {
		writeError(w, http.StatusBadRequest, "body: "+err.Error())
		return false
	}
	if len(*v) == 0 {
		writeError(w, http.StatusBadRequest, "body: an empty array: nothing to do")
		return false
	}
	return true
}

// strictJSON decodes b into v, refusing unknown fields and trailing data,
// with errors that say where.
func strictJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return fmt.Errorf("malformed JSON at byte %d: %v", se.Offset, err)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return errors.New("malformed JSON: it ends before the value is complete")
		case errors.As(err, &te):
			return fmt.Errorf("field %q: a JSON %s cannot be %s", te.Field, te.Value, te.Type)
		}
		return errors.New(strings.TrimPrefix(err.Error(), "json: "))
	}
	// d.More is false before a stray ']' or '}': look at what is left.
	if rest := bytes.TrimSpace(b[d.InputOffset():]); len(rest) > 0 {
		return fmt.Errorf("trailing data after the JSON value at byte %d", d.InputOffset())
	}
	return nil
}

// fieldSet parses the fields= query parameter against the known names.
func fieldSet(r *http.Request, known []string) (map[string]bool, error) {
	v := r.URL.Query().Get("fields")
	if v == "" {
		return nil, nil
	}
	set := map[string]bool{}
	for f := range strings.SplitSeq(v, ",") {
		f = strings.TrimSpace(f)
		ok := false
		for _, k := range known {
			ok = ok || k == f
		}
		if !ok {
			return nil, fmt.Errorf("fields: unknown field %q; known: %s", f, strings.Join(known, ","))
		}
		set[f] = true
	}
	return set, nil
}

// pick keeps the fields of m that set names (all when set is nil).
func pick(m map[string]any, set map[string]bool) map[string]any {
	if set == nil {
		return m
	}
	for k := range m {
		if !set[k] {
			delete(m, k)
		}
	}
	return m
}

func (a *API) healthz(w http.ResponseWriter, r *http.Request) {
	if err := a.srv.Healthy(); err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	m := a.srv.Stats()
	res := map[string]any{"status": "ok", "clients_connected": m.ClientsConnected, "sessions": m.Sessions}
	if len(a.opts.Listeners) > 0 {
		res["listeners"] = a.opts.Listeners
	}
	if members := a.srv.ClusterMembers(); len(members) > 0 { // cluster mode (docs/cluster.md)
		res["node"], res["cluster_members"] = members[0], slices.Sorted(slices.Values(members))
	}
	writeResult(w, []map[string]any{res})
}

//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the API's OpenAPI 3 document.
func OpenAPI() []byte { return openAPI }

func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPI)
}
