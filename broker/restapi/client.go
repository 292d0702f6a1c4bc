package restapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/packet"
)

// Client reads a running broker's state through its API (`mqttboard
// broker --http`) into the same types the broker's inspection methods
// return, so that a view of a remote broker (the board's broker pane) is
// the view of an in-process one: [Client.Sessions] is
// [broker.Server.Sessions], [Client.Logs] is [broker.Server.Logs] and
// [Client.Metrics] is [broker.Server.Metrics], read back from /metrics.
type Client struct {
	// Base is the API's URL, e.g. "http://127.0.0.1:9080".
	Base string
	// Token, when set, is sent as "Authorization: FlespiToken <Token>".
	Token string
	// HTTP is the client to use; nil: one with a 10 s timeout.
	HTTP *http.Client
}

// BaseURL turns an address as users give it (host:port, a bare port meaning
// 127.0.0.1, or an http:// or https:// URL) into a base URL. Anything
// else (another scheme, a port that is not 1 to 65535, a host with spaces)
// is an error saying what to give, so a typo fails where it is typed
// instead of later, as a request that cannot be made.
func BaseURL(addr string) (string, error) {
	var base string
	switch {
	case addr == "":
		return "", errors.New("no address: give host:port, a port or an http(s):// URL")
	case strings.HasPrefix(addr, "http://") || strings.HasPrefix(addr, "https://"):
		base = strings.TrimSuffix(addr, "/")
	case strings.Contains(addr, "://"):
		return "", fmt.Errorf("%q: give host:port, a port or an http:// or https:// URL", addr)
	case !strings.Contains(addr, ":"):
		base = "http://127.0.0.1:" + addr
	default:
		base = "http://" + addr
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || u.Hostname() == "" && u.Port() == "" {
		return "", fmt.Errorf("%q: not host:port, a port or an http(s):// URL with a host", addr)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("%q: the port is 1 to 65535", addr)
		}
	}
	return base, nil
}

// APIError is an {"errors":[...]} answer.
type APIError struct {
	Status int
	Reason string
}

func (e *APIError) Error() string { return fmt.Sprintf("%d: %s", e.Status, e.Reason) }

// get fetches path and returns the body of a 200 answer.
func (c *Client) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.Base+path, nil)
	if err != nil {
		return nil, err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "FlespiToken "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	// A broker's answer is bounded by what it holds; 256 MiB guards against
	// something else answering on that port.
	b, err := io.ReadAll(io.LimitReader(res.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: reading the answer: %w", path, err)
	}
	if res.StatusCode != http.StatusOK {
		var e struct {
			Errors []apiError `json:"errors"`
		}
		reason := res.Status
		if json.Unmarshal(b, &e) == nil && len(e.Errors) > 0 {
			reason = e.Errors[0].Reason
		}
		return nil, fmt.Errorf("GET %s: %w", path, &APIError{res.StatusCode, reason})
	}
	return b, nil
}

// result decodes {"result":[...]} of path into out.
func (c *Client) result(ctx context.Context, path string, out any) error {
	b, err := c.get(ctx, path)
	if err != nil {
		return err
	}
	var r struct {
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(b, &r); err != nil || r.Result == nil {
		return fmt.Errorf("GET %s: not the broker's API (no JSON result)", path)
	}
	if err := json.Unmarshal(r.Result, out); err != nil {
		return fmt.Errorf("GET %s: %v", path, err)
	}
	return nil
}

// sessionWire is a session as GET /mqtt/sessions returns it (sessionOut).
type sessionWire struct {
	ClientID       string  `json:"client_id"`
	Connected      bool    `json:"connected"`
	Protocol       string  `json:"protocol"`
	Address        string  `json:"address"`
	Username       string  `json:"username"`
	Clean          bool    `json:"clean"`
	KeepAlive      int     `json:"keep_alive"`
	SessionExpiry  uint32  `json:"session_expiry"`
	Created        float64 `json:"created"`
	ConnectedAt    float64 `json:"connected_at"`
	DisconnectedAt float64 `json:"disconnected_at"`
	Subscriptions  []struct {
		Filter            string `json:"filter"`
		QoS               byte   `json:"qos"`
		NoLocal           bool   `json:"no_local"`
		RetainAsPublished bool   `json:"retain_as_published"`
		RetainHandling    byte   `json:"retain_handling"`
		SubscriptionID    uint32 `json:"subscription_id"`
	} `json:"subscriptions"`
	Queued        int    `json:"queued"`
	QueuedBytes   int    `json:"queued_bytes"`
	Inflight      int    `json:"inflight"`
	InflightBytes int    `json:"inflight_bytes"`
	IncomingQoS2  int    `json:"incoming_qos2"`
	Dropped       uint64 `json:"dropped"`
	WillPending   bool   `json:"will_pending"`
	Published     uint64 `json:"published"`
	Received      uint64 `json:"received"`
	Rejected      uint64 `json:"rejected"`
	BytesIn       uint64 `json:"bytes_in"`
	BytesOut      uint64 `json:"bytes_out"`
	Node          string `json:"node"`
}

// timeOf is the inverse of unixOrZero.
func timeOf(f float64) time.Time {
	if f == 0 {
		return time.Time{}
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9))
}

// Sessions returns the sessions selector selects ("all": every one), as
// [broker.Server.Sessions] does.
func (c *Client) Sessions(ctx context.Context, selector string) ([]broker.SessionInfo, error) {
	var ws []sessionWire
	if err := c.result(ctx, "/mqtt/sessions/"+url.PathEscape(selector), &ws); err != nil {
		return nil, err
	}
	out := make([]broker.SessionInfo, len(ws))
	for i, w := range ws {
		s := broker.SessionInfo{
			ClientID: w.ClientID, Connected: w.Connected, Protocol: w.Protocol, Address: w.Address, Username: w.Username,
			Clean: w.Clean, KeepAlive: w.KeepAlive, Expiry: w.SessionExpiry,
			CreatedAt: timeOf(w.Created), ConnectedAt: timeOf(w.ConnectedAt), DisconnectedAt: timeOf(w.DisconnectedAt),
			Queued: w.Queued, QueuedBytes: w.QueuedBytes, Inflight: w.Inflight, InflightBytes: w.InflightBytes,
			IncomingQoS2: w.IncomingQoS2, Dropped: w.Dropped, WillPending: w.WillPending,
			Published: w.Published, Received: w.Received, Rejected: w.Rejected, BytesIn: w.BytesIn, BytesOut: w.BytesOut,
			Node: w.Node,
		}
		for _, sub := range w.Subscriptions {
			s.Subscriptions = append(s.Subscriptions, broker.SubscriptionInfo{Filter: sub.Filter, QoS: packet.QoS(sub.QoS),
				NoLocal: sub.NoLocal, RetainAsPublished: sub.RetainAsPublished, RetainHandling: sub.RetainHandling, ID: sub.SubscriptionID})
		}
		out[i] = s
	}
	return out, nil
}

// Health is the answer of /healthz.
type Health struct {
	Status           string   `json:"status"`
	ClientsConnected int      `json:"clients_connected"`
	Sessions         int      `json:"sessions"`
	Node             string   `json:"node"`            // cluster mode: this node's name
	ClusterMembers   []string `json:"cluster_members"` // cluster mode
	// Listeners are the broker's MQTT listener URLs, when its API was
	// told them (`mqttboard broker --http` does).
	Listeners []string `json:"listeners"`
}

// Health asks /healthz; an error for a broker that is shutting down (503)
// or for something that is not the broker's API.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var hs []Health
	if err := c.result(ctx, "/healthz", &hs); err != nil {
		return Health{}, err
	}
	if len(hs) != 1 {
		return Health{}, fmt.Errorf("GET /healthz: %d results, want 1", len(hs))
	}
	return hs[0], nil
}

// Logs returns the records q selects, as [broker.Server.Logs] does.
func (c *Client) Logs(ctx context.Context, q broker.LogQuery) ([]broker.LogRecord, error) {
	d, _ := json.Marshal(logsQuery{Count: &q.Count, Reverse: q.Reverse, From: q.From, To: q.To, AfterID: q.AfterID, Filter: q.Filter})
	var recs []broker.LogRecord
	err := c.result(ctx, "/mqtt/logs?data="+url.QueryEscape(string(d)), &recs)
	return recs, err
}

// Metrics scrapes /metrics and reads it back into [broker.Metrics]: the
// figures a Prometheus server sees are the ones shown.
func (c *Client) Metrics(ctx context.Context) (broker.Metrics, error) {
	var m broker.Metrics
	b, err := c.get(ctx, "/metrics")
	if err != nil {
		return m, err
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(b)))
	if err != nil {
		return m, fmt.Errorf("GET /metrics: %v", err)
	}
	return metricsFrom(fams), nil
}
