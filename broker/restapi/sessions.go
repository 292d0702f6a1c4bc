package restapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/packet"
)

func unwrapInvalid(err error) string {
	return strings.TrimPrefix(err.Error(), broker.ErrInvalid.Error()+": ")
}

// sessionFields are the selector fields and the JSON fields of a session.
var sessionFields = []string{"client_id", "connected", "protocol", "address", "username", "clean", "keep_alive",
	"session_expiry", "created", "connected_at", "disconnected_at", "subscriptions", "subscriptions_count",
	"queued", "queued_bytes", "inflight", "inflight_bytes", "incoming_qos2", "dropped", "will_pending",
	"published", "received", "rejected", "bytes_in", "bytes_out", "node"}

// selectorFields may appear in a field=value selector.
var selectorFields = []string{"client_id", "connected", "protocol", "address", "username", "clean", "node"}

func unixOrZero(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

func subscriptionOut(clientID string, s broker.SubscriptionInfo) map[string]any {
	return map[string]any{
		"client_id": clientID, "filter": s.Filter, "qos": int(s.QoS), "no_local": s.NoLocal,
		"retain_as_published": s.RetainAsPublished, "retain_handling": int(s.RetainHandling),
		"subscription_id": s.ID,
	}
}

func sessionOut(s *broker.SessionInfo) map[string]any {
	subs := make([]map[string]any, 0, len(s.Subscriptions))
	for _, sub := range s.Subscriptions {
		m := subscriptionOut(s.ClientID, sub)
		delete(m, "client_id")
		subs = append(subs, m)
	}
	out := map[string]any{
		"client_id": s.ClientID, "connected": s.Connected, "protocol": s.Protocol, "address": s.Address,
		"username": s.Username, "clean": s.Clean, "keep_alive": s.KeepAlive, "session_expiry": s.Expiry,
		"created": unixOrZero(s.CreatedAt), "connected_at": unixOrZero(s.ConnectedAt),
		"disconnected_at": unixOrZero(s.DisconnectedAt),
		"subscriptions":   subs, "subscriptions_count": len(s.Subscriptions),
		"queued": s.Queued, "queued_bytes": s.QueuedBytes, "inflight": s.Inflight, "inflight_bytes": s.InflightBytes,
		"incoming_qos2": s.IncomingQoS2, "dropped": s.Dropped, "will_pending": s.WillPending,
		"published": s.Published, "received": s.Received, "rejected": s.Rejected, "bytes_in": s.BytesIn, "bytes_out": s.BytesOut,
	}
	if s.Node != "" {
		out["node"] = s.Node // in a cluster only: the node holding the session
	}
	return out
}

// selector is a parsed session selector: "all", or a comma-separated list
// whose items are client ids or field=value matches ('*' matches any run of
// characters), any item selecting.
type selector struct {
	all     bool
	ids     []string
	matches [][2]string // field, pattern
}

func parseSelector(s string) (selector, error) {
	if s == "" {
		return selector{}, errors.New("empty session selector: use all, a client id, id1,id2 or field=value")
	}
	if s == "all" {
		return selector{all: true}, nil
	}
	var sel selector
	for item := range strings.SplitSeq(s, ",") {
		field, value, ok := strings.Cut(item, "=")
		if !ok {
			if item == "" {
				return sel, fmt.Errorf("selector %q has an empty item", s)
			}
			sel.ids = append(sel.ids, item)
			continue
		}
		known := false
		for _, f := range selectorFields {
			known = known || f == field
		}
		if !known {
			return sel, fmt.Errorf("selector %q: unknown field %q; fields: %s", s, field, strings.Join(selectorFields, ", "))
		}
		sel.matches = append(sel.matches, [2]string{field, value})
	}
	return sel, nil
}

func (sel selector) selects(s *broker.SessionInfo) bool {
	if sel.all {
		return true
	}
	for _, id := range sel.ids {
		if id == s.ClientID {
			return true
		}
	}
	for _, m := range sel.matches {
		var v string
		switch m[0] {
		case "client_id":
			v = s.ClientID
		case "connected":
			v = strconv.FormatBool(s.Connected)
		case "protocol":
			v = s.Protocol
		case "address":
			v = s.Address
		case "username":
			v = s.Username
		case "clean":
			v = strconv.FormatBool(s.Clean)
		case "node":
			v = s.Node
		}
		if glob(m[1], v) {
			return true
		}
	}
	return false
}

// selectSessions returns the sessions the {selector} path value picks, or
// writes a 400 (bad selector) or 404 (client ids named, none found).
func (a *API) selectSessions(w http.ResponseWriter, r *http.Request) ([]broker.SessionInfo, bool) {
	sel, err := parseSelector(r.PathValue("selector"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return nil, false
	}
	var out []broker.SessionInfo
	if len(sel.ids) == 1 && len(sel.matches) == 0 {
		if s, ok := a.srv.Session(sel.ids[0]); ok {
			out = append(out, s)
		}
	} else {
		for _, s := range a.srv.Sessions() {
			if sel.selects(&s) {
				out = append(out, s)
			}
		}
	}
	if len(out) == 0 && len(sel.ids) > 0 && len(sel.matches) == 0 {
		writeError(w, http.StatusNotFound, "no session with client id "+strings.Join(sel.ids, " or "))
		return nil, false
	}
	return out, true
}

// GET /mqtt/sessions/{selector}
func (a *API) getSessions(w http.ResponseWriter, r *http.Request) {
	fields, err := fieldSet(r, sessionFields)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ss, ok := a.selectSessions(w, r)
	if !ok {
		return
	}
	out := make([]map[string]any, 0, len(ss))
	for i := range ss {
		out = append(out, pick(sessionOut(&ss[i]), fields))
	}
	writeResult(w, out)
}

// DELETE /mqtt/sessions/{selector}: disconnect and remove.
func (a *API) deleteSessions(w http.ResponseWriter, r *http.Request) {
	ss, ok := a.selectSessions(w, r)
	if !ok {
		return
	}
	var out []map[string]any
	for _, s := range ss {
		err := a.srv.RemoveSession(s.ClientID)
		if errors.Is(err, broker.ErrNoSession) {
			continue // ended meanwhile
		}
		if err != nil {
			writeBrokerError(w, err)
			return
		}
		out = append(out, map[string]any{"client_id": s.ClientID, "connected": s.Connected})
	}
	writeResult(w, out)
}

// subscriptionIn is a subscription in a request body.
type subscriptionIn struct {
	Filter            string `json:"filter"`
	QoS               int    `json:"qos"`
	NoLocal           bool   `json:"no_local"`
	RetainAsPublished bool   `json:"retain_as_published"`
	RetainHandling    int    `json:"retain_handling"`
	SubscriptionID    uint32 `json:"subscription_id"`
}

func (in subscriptionIn) info() (broker.SubscriptionInfo, error) {
	if in.QoS < 0 || in.QoS > 2 {
		return broker.SubscriptionInfo{}, fmt.Errorf("filter %q: qos %d is not 0, 1 or 2", in.Filter, in.QoS)
	}
	if in.RetainHandling < 0 || in.RetainHandling > 2 {
		return broker.SubscriptionInfo{}, fmt.Errorf("filter %q: retain_handling %d is not 0, 1 or 2", in.Filter, in.RetainHandling)
	}
	return broker.SubscriptionInfo{Filter: in.Filter, QoS: packet.QoS(in.QoS), NoLocal: in.NoLocal,
		RetainAsPublished: in.RetainAsPublished, RetainHandling: byte(in.RetainHandling), ID: in.SubscriptionID}, nil
}

// sessionIn is one session of POST /mqtt/sessions.
type sessionIn struct {
	ClientID      string           `json:"client_id"`
	SessionExpiry *uint32          `json:"session_expiry"`
	Subscriptions []subscriptionIn `json:"subscriptions"`
}

// POST /mqtt/sessions: create offline persistent sessions, optionally with
// subscriptions. Everything is checked before anything is created.
func (a *API) postSessions(w http.ResponseWriter, r *http.Request) {
	var in []sessionIn
	if !decodeBody(w, r, smallBody, &in) {
		return
	}
	subs := make([][]broker.SubscriptionInfo, len(in))
	seen := map[string]bool{}
	for i, s := range in {
		where := fmt.Sprintf("session %d (client_id %q)", i, s.ClientID)
		if s.ClientID == "" {
			writeError(w, http.StatusBadRequest, where+": client_id is required")
			return
		}
		if seen[s.ClientID] {
			writeError(w, http.StatusBadRequest, where+": client_id given twice")
			return
		}
		seen[s.ClientID] = true
		if s.SessionExpiry == nil || *s.SessionExpiry == 0 {
			writeError(w, http.StatusBadRequest, where+": session_expiry is required and must not be 0 (seconds; 4294967295: never)")
			return
		}
		if _, ok := a.srv.Session(s.ClientID); ok {
			writeError(w, http.StatusConflict, where+": a session with this client id exists")
			return
		}
		for _, sub := range s.Subscriptions {
			si, err := sub.info()
			if err == nil {
				err = a.srv.ValidateSubscription(si)
			}
			if err != nil {
				writeError(w, http.StatusBadRequest, where+": "+unwrapInvalid(err))
				return
			}
			subs[i] = append(subs[i], si)
		}
	}
	var created []string
	undo := func() {
		for _, id := range created {
			a.srv.RemoveSession(id)
		}
	}
	var out []map[string]any
	for i, s := range in {
		if err := a.srv.CreateSession(s.ClientID, *s.SessionExpiry); err != nil {
			undo()
			writeBrokerError(w, err)
			return
		}
		created = append(created, s.ClientID)
		if len(subs[i]) > 0 {
			if err := a.srv.Subscribe(s.ClientID, subs[i]); err != nil {
				undo()
				writeBrokerError(w, err)
				return
			}
		}
		if info, ok := a.srv.Session(s.ClientID); ok {
			out = append(out, sessionOut(&info))
		}
	}
	writeResult(w, out)
}

// GET /mqtt/sessions/{selector}/subscriptions[/{filter}]: "all" or no
// filter lists every subscription; otherwise the one with that exact
// filter.
func (a *API) getSubscriptions(w http.ResponseWriter, r *http.Request) {
	ss, ok := a.selectSessions(w, r)
	if !ok {
		return
	}
	filter := r.PathValue("filter")
	var out []map[string]any
	for _, s := range ss {
		for _, sub := range s.Subscriptions {
			if filter == "" || filter == "all" || filter == sub.Filter {
				out = append(out, subscriptionOut(s.ClientID, sub))
			}
		}
	}
	writeResult(w, out)
}

// POST /mqtt/sessions/{selector}/subscriptions: add subscriptions to each
// selected session, online or offline.
func (a *API) postSubscriptions(w http.ResponseWriter, r *http.Request) {
	var in []subscriptionIn
	if !decodeBody(w, r, smallBody, &in) {
		return
	}
	subs := make([]broker.SubscriptionInfo, len(in))
	for i, sub := range in {
		si, err := sub.info()
		if err == nil {
			err = a.srv.ValidateSubscription(si)
		}
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("subscription %d: %s", i, unwrapInvalid(err)))
			return
		}
		subs[i] = si
	}
	ss, ok := a.selectSessions(w, r)
	if !ok {
		return
	}
	var out []map[string]any
	for _, s := range ss {
		if err := a.srv.Subscribe(s.ClientID, subs); err != nil {
			if errors.Is(err, broker.ErrNoSession) {
				continue // ended meanwhile
			}
			writeBrokerError(w, err)
			return
		}
		for _, sub := range subs {
			out = append(out, subscriptionOut(s.ClientID, sub))
		}
	}
	writeResult(w, out)
}

// PUT /mqtt/sessions/{selector}/subscriptions/{filter}: change the options
// of an existing subscription (the body's filter, if given, must be the
// same).
func (a *API) putSubscription(w http.ResponseWriter, r *http.Request) {
	filter := r.PathValue("filter")
	var in []subscriptionIn
	if !decodeBody(w, r, smallBody, &in) {
		return
	}
	if len(in) != 1 {
		writeError(w, http.StatusBadRequest, "body: one subscription object expected")
		return
	}
	if in[0].Filter == "" {
		in[0].Filter = filter
	}
	if in[0].Filter != filter {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("body: filter %q is not the filter %q of the URL", in[0].Filter, filter))
		return
	}
	si, err := in[0].info()
	if err == nil {
		err = a.srv.ValidateSubscription(si)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, unwrapInvalid(err))
		return
	}
	ss, ok := a.selectSessions(w, r)
	if !ok {
		return
	}
	var out []map[string]any
	for _, s := range ss {
		has := false
		for _, sub := range s.Subscriptions {
			has = has || sub.Filter == filter
		}
		if !has {
			continue
		}
		if err := a.srv.Subscribe(s.ClientID, []broker.SubscriptionInfo{si}); err != nil {
			if errors.Is(err, broker.ErrNoSession) {
				continue
			}
			writeBrokerError(w, err)
			return
		}
		out = append(out, subscriptionOut(s.ClientID, si))
	}
	if len(out) == 0 {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no selected session has a subscription %q", filter))
		return
	}
	writeResult(w, out)
}

// DELETE /mqtt/sessions/{selector}/subscriptions/{filter}: remove the
// subscription with that filter ("all": every one) from each selected
// session.
func (a *API) deleteSubscriptions(w http.ResponseWriter, r *http.Request) {
	filter := r.PathValue("filter")
	ss, ok := a.selectSessions(w, r)
	if !ok {
		return
	}
	var out []map[string]any
	for _, s := range ss {
		var filters []string
		for _, sub := range s.Subscriptions {
			if filter == "all" || filter == sub.Filter {
				filters = append(filters, sub.Filter)
			}
		}
		if len(filters) == 0 {
			continue
		}
		removed, err := a.srv.Unsubscribe(s.ClientID, filters)
		if err != nil && !errors.Is(err, broker.ErrNoSession) {
			writeBrokerError(w, err)
			return
		}
		for _, f := range removed {
			out = append(out, map[string]any{"client_id": s.ClientID, "filter": f})
		}
	}
	writeResult(w, out)
}

// glob reports whether s matches pattern, where '*' matches any run of
// characters (including none) and every other character itself. It is
// linear in len(pattern)*len(s) at worst, never exponential: a selector
// like *a*a*a*b cannot stall the API.
func glob(pattern, s string) bool {
	px, sx := 0, 0
	nextPx, nextSx := 0, 0
	for px < len(pattern) || sx < len(s) {
		if px < len(pattern) {
			if c := pattern[px]; c == '*' {
				nextPx, nextSx = px, sx+1
				px++
				continue
			} else if sx < len(s) && s[sx] == c {
				px++
				sx++
				continue
			}
		}
		if 0 < nextSx && nextSx <= len(s) {
			px, sx = nextPx, nextSx
			continue
		}
		return false
	}
	return true
}
