package broker

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/mqttboard/mqttboard/broker/filter"
	"github.com/mqttboard/mqttboard/broker/message"
	"github.com/mqttboard/mqttboard/broker/topics"
	"github.com/mqttboard/mqttboard/packet"
)

// The broker's logs, as flespi keeps them for its MQTT broker: a bounded
// ring of records (read with [Server.Logs], the REST API's /mqtt/logs) and
// the same records published as JSON to
// flespi/log/mqtt/sessions/{client id}/{event type}, so that a client may
// subscribe to them (the ACL applies as to any subscription). Records are
// made on connect, disconnect, subscribe, unsubscribe, session creation and
// end, access denials and protocol errors: never per message.

// Log event codes. flespi's own codes for MQTT events are not public; these
// are mqttboard's, listed in README.
const (
	LogConnected      = 300 // a client connected
	LogDisconnected   = 301 // a connection ended: reason and counters
	LogSubscribed     = 302 // a subscription was added
	LogUnsubscribed   = 303 // a subscription was removed
	LogSessionCreated = 304 // a session was created
	LogSessionUpdated = 305 // a session was resumed by a new connection
	LogSessionDeleted = 306 // a session ended (clean disconnect, expiry, API)
	LogDenied         = 307 // the ACL denied a connect, publish or subscribe
	LogProtocolError  = 308 // a client broke the protocol and was disconnected
)

// logEventTypes names each code; the name is the last topic level of the
// record published over MQTT and its event_type field.
var logEventTypes = map[int]string{
	LogConnected:      "connected",
	LogDisconnected:   "disconnected",
	LogSubscribed:     "subscribed",
	LogUnsubscribed:   "unsubscribed",
	LogSessionCreated: "created",
	LogSessionUpdated: "updated",
	LogSessionDeleted: "deleted",
	LogDenied:         "denied",
	LogProtocolError:  "error",
}

// LogRecord is one log event. timestamp, event_code, event_type,
// event_origin, client_id, topic, published, received and rejected are
// always present in its JSON; the rest when they apply.
type LogRecord struct {
	// ID increases by one per record since the broker started: a reader
	// pages with it.
	ID        uint64  `json:"id"`
	Timestamp float64 `json:"timestamp"` // UNIX seconds
	EventCode int     `json:"event_code"`
	EventType string  `json:"event_type"`
	// Origin is "mqtt/sessions/{client id}", as flespi names log origins.
	Origin   string `json:"event_origin"`
	ClientID string `json:"client_id"`
	Topic    string `json:"topic"`
	// Published, Received and Rejected count the connection's messages
	// (from the client, to the client, refused with an error code); set
	// on disconnect.
	Published uint64 `json:"published"`
	Received  uint64 `json:"received"`
	Rejected  uint64 `json:"rejected"`
	// BytesIn and BytesOut are the connection's bytes read and written;
	// set on disconnect.
	BytesIn  uint64 `json:"bytes_in,omitempty"`
	BytesOut uint64 `json:"bytes_out,omitempty"`

	Address       string  `json:"address,omitempty"`
	Protocol      string  `json:"protocol,omitempty"`
	Username      string  `json:"username,omitempty"`
	Clean         *bool   `json:"clean,omitempty"`
	KeepAlive     *int    `json:"keep_alive,omitempty"`
	SessionExpiry *uint32 `json:"session_expiry,omitempty"`
	// Action is what was denied: "connect", "publish" or "subscribe".
	Action     string `json:"action,omitempty"`
	ReasonCode *int   `json:"reason_code,omitempty"`
	Reason     string `json:"reason,omitempty"`
	Detail     string `json:"detail,omitempty"`
}

// logEntry is a record as the ring keeps it: a [LogRecord] without its
// pointer fields and the strings derived from others (event type, origin),
// which would be small allocations each, and with what only some records
// have (a disconnect's counters, topic, action, reason, detail) behind
// one pointer, nil for the rest. 88 bytes instead of about 340: the
// ring's 4096 records are a fixed cost of every broker, however idle
// (360 KB; 820 KB when every record held every field).
type logEntry struct {
	id                          uint64
	ts                          float64
	clientID, address, username string
	more                        *logMore // nil when all its fields are zero
	expiry                      uint32
	keepAlive                   int32
	reasonCode                  int16
	code                        int16
	has                         uint8 // the logHas bits
	protocol                    uint8 // an index into logProtocols
}

// logMore is the part of a logEntry most records leave empty.
type logMore struct {
	published, received, rejected, bytesIn, bytesOut uint64
	topic, action, reason, detail, protocol          string // protocol: one not in logProtocols
}

// logProtocols are the protocol names a logEntry keeps as an index (see
// protocolName); 0 is none.
var logProtocols = [...]string{"", "3.1", "3.1.1", "5.0"}

// The optional fields a logEntry holds.
const (
	logHasClean uint8 = 1 << iota
	logCleanTrue
	logHasKeepAlive
	logHasExpiry
	logHasReasonCode
)

func entryOf(r *LogRecord) logEntry {
	e := logEntry{id: r.ID, ts: r.Timestamp, clientID: r.ClientID, address: r.Address, username: r.Username,
		code: int16(r.EventCode)}
	more := logMore{published: r.Published, received: r.Received, rejected: r.Rejected,
		bytesIn: r.BytesIn, bytesOut: r.BytesOut, topic: r.Topic, action: r.Action, reason: r.Reason, detail: r.Detail}
	if i := slices.Index(logProtocols[:], r.Protocol); i >= 0 {
		e.protocol = uint8(i)
	} else {
		more.protocol = r.Protocol
	}
	if more != (logMore{}) {
		m := more // made only here: most records need none
		e.more = &m
	}
	return e
}

// logOptionals are a LogRecord's optional numbers (its pointer fields) as
// a logEntry keeps them. A caller that has them in local variables passes
// them this way ([Server.logWith]): entryOf leaks what a record points to
// (its strings go into logMore), so a record holding &local moves those
// locals to the heap, garbage at every call.
type logOptionals struct {
	has        uint8 // the logHas bits
	keepAlive  int32
	expiry     uint32
	reasonCode int16
}

// optionalsOf reads r's optional numbers.
func optionalsOf(r *LogRecord) logOptionals {
	var o logOptionals
	if r.Clean != nil {
		o.has |= logHasClean
		if *r.Clean {
			o.has |= logCleanTrue
		}
	}
	if r.KeepAlive != nil {
		o.has |= logHasKeepAlive
		o.keepAlive = int32(*r.KeepAlive)
	}
	if r.SessionExpiry != nil {
		o.has |= logHasExpiry
		o.expiry = *r.SessionExpiry
	}
	if r.ReasonCode != nil {
		o.has |= logHasReasonCode
		o.reasonCode = int16(*r.ReasonCode)
	}
	return o
}

// record returns the LogRecord e keeps.
func (e *logEntry) record() LogRecord {
	r := LogRecord{ID: e.id, Timestamp: e.ts, EventCode: int(e.code), EventType: logEventTypes[int(e.code)],
		Origin: "mqtt/sessions/" + e.clientID, ClientID: e.clientID,
		Address: e.address, Protocol: logProtocols[e.protocol], Username: e.username}
	if m := e.more; m != nil {
		r.Published, r.Received, r.Rejected, r.BytesIn, r.BytesOut = m.published, m.received, m.rejected, m.bytesIn, m.bytesOut
		r.Topic, r.Action, r.Reason, r.Detail = m.topic, m.action, m.reason, m.detail
		if m.protocol != "" {
			r.Protocol = m.protocol
		}
	}
	if e.has&logHasClean != 0 {
		clean := e.has&logCleanTrue != 0
		r.Clean = &clean
	}
	if e.has&logHasKeepAlive != 0 {
		ka := int(e.keepAlive)
		r.KeepAlive = &ka
	}
	if e.has&logHasExpiry != 0 {
		exp := e.expiry
		r.SessionExpiry = &exp
	}
	if e.has&logHasReasonCode != 0 {
		rc := int(e.reasonCode)
		r.ReasonCode = &rc
	}
	return r
}

// logRing is a bounded ring of records, oldest overwritten first.
type logRing struct {
	buf    []logEntry
	next   int // where the next record goes once buf is full
	lastID uint64
}

// add numbers e and keeps a copy.
func (r *logRing) add(e *logEntry, size int) {
	r.lastID++
	e.id = r.lastID
	if len(r.buf) < size {
		r.buf = append(r.buf, *e)
		return
	}
	r.buf[r.next] = *e
	r.next = (r.next + 1) % size
}

// ordered calls fn for each record, oldest first, until fn returns false.
func (r *logRing) ordered(reverse bool, fn func(*logEntry) bool) {
	n := len(r.buf)
	for i := range n {
		j := i
		if reverse {
			j = n - 1 - i
		}
		if !fn(&r.buf[(r.next+j)%n]) {
			return
		}
	}
}

// logTopicID escapes a client id for one topic level: '/', '+', '#' and
// '%' are percent-encoded (%2F, %2B, %23, %25), so a client id never adds
// levels or wildcards; an empty id (never a session's) is "%00".
func logTopicID(id string) string {
	if id == "" {
		return "%00"
	}
	if !strings.ContainsAny(id, "/+#%") {
		return id
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		switch c := id[i]; c {
		case '/', '+', '#', '%':
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// logEvent records rec (filling id and timestamp) and publishes it to
// flespi/log/mqtt/..., building the message only when a subscription may
// take it (it counts as published either way). It must be called with no
// broker lock held: publishing routes a message.
func (s *Server) logEvent(rec LogRecord) { s.logWith(rec, optionalsOf(&rec)) }

// logWith is logEvent for a record whose optional numbers are in o (its
// pointer fields are ignored).
func (s *Server) logWith(rec LogRecord, o logOptionals) {
	size := s.opts.LogRecords
	if size < 0 {
		return
	}
	if rec.Timestamp == 0 {
		rec.Timestamp = float64(time.Now().UnixNano()) / 1e9
	}
	e := entryOf(&rec)
	e.has, e.keepAlive, e.expiry, e.reasonCode = o.has, o.keepAlive, o.expiry, o.reasonCode
	s.insp.mu.Lock()
	s.insp.logs.add(&e, size)
	s.insp.mu.Unlock()
	if s.opts.NoLogTopics {
		return
	}
	if s.index.HasFirstLevel("flespi") {
		s.publishLog(&e)
	} // else no subscription can take it (routeLog skips wildcard-rooted filters): nothing to build
	s.insp.published.Add(1)
}

// publishLog publishes e as JSON to flespi/log/mqtt/sessions/... The
// record for it is made here from the entry, so that logEvent's record
// (and what its fields point to) stays on the stack: a record and its JSON
// are made only when a subscription may take them, and connecting clients
// do not leave that garbage in the heap among the connections' own state.
func (s *Server) publishLog(e *logEntry) {
	rec := e.record()
	b, err := json.Marshal(&rec)
	if err != nil {
		return
	}
	m := &message.Message{Topic: "flespi/log/mqtt/sessions/" + logTopicID(rec.ClientID) + "/" + rec.EventType, Payload: b}
	m.Props.ContentType = "application/json"
	m.Props.PayloadFormat = 1
	m.Props.Present = m.Props.Present.Add(packet.PropPayloadFormat)
	m.Props.User = m.UserRoom(2)
	m.CID = s.logAccount(rec.ClientID) // tokens.go: the session's account sees its own logs
	s.stamp(m, time.Now())
	s.routeLog(m)
}

// routeLog routes a log record like [Server.route], except to filters that
// begin with a wildcard: as with $SYS [MQTT-4.7.2-1], a subscription to
// '#' or '+/...' does not receive the broker's logs; one that names the
// "flespi" level does. Without this, every `sub -t '#'` would see its own
// connect and subscribe records.
func (s *Server) routeLog(m *message.Message) {
	r := routerPool.Get().(*router)
	defer routerPool.Put(r)
	r.matches = r.matches[:0]
	r.msg, r.fm = m, nil
	s.index.Match(m.Topic, func(sub *topics.Subscription) {
		if sub.Topic != "" && (sub.Topic[0] == '#' || sub.Topic[0] == '+') {
			return
		}
		r.add(sub)
	})
	ms := r.matches
	slices.SortFunc(ms, func(a, b match) int { return cmp.Compare(a.seq, b.seq) })
	for i := 0; i < len(ms); {
		j := i + 1
		if ms[i].seq != 0 {
			for j < len(ms) && ms[j].seq == ms[i].seq {
				j++
			}
		}
		s.deliver(m, ms[i:j], r)
		i = j
	}
	clear(ms)
	r.msg, r.fm = nil, nil
}

// LogQuery selects records for [Server.Logs].
type LogQuery struct {
	// Count bounds the result; 0 means every selected record. Without
	// Reverse and AfterID, the result is the newest Count records, oldest
	// first (as tail prints them); with AfterID, the first Count records
	// after it (paging forward).
	Count int
	// Reverse returns the newest records first.
	Reverse bool
	// From and To bound the timestamps (UNIX seconds, inclusive); 0 is
	// unbounded.
	From, To float64
	// AfterID returns only records with a greater ID (paging).
	AfterID uint64
	// Filter is an expression in flespi's dialect over the record's JSON
	// fields, e.g. `event_code==301 && client_id=="dev1"`.
	Filter string
}

// Logs returns the records that q selects. A Filter that does not compile
// is an error wrapping [ErrInvalid] that says where it is wrong.
func (s *Server) Logs(q LogQuery) ([]LogRecord, error) {
	var expr *filter.Expr
	if q.Filter != "" {
		var err error
		if expr, err = filter.Compile(q.Filter); err != nil {
			return nil, invalid("filter %q: %v", q.Filter, err)
		}
	}
	if q.Count < 0 {
		return nil, invalid("count %d is negative", q.Count)
	}
	out := []LogRecord{}
	tail := !q.Reverse && q.Count > 0 && q.AfterID == 0
	s.insp.mu.Lock()
	defer s.insp.mu.Unlock()
	defer func() {
		if tail {
			slices.Reverse(out)
		}
	}()
	s.insp.logs.ordered(q.Reverse || tail, func(e *logEntry) bool {
		switch {
		case e.id <= q.AfterID:
		case q.From != 0 && e.ts < q.From:
		case q.To != 0 && e.ts > q.To:
		default:
			if r := e.record(); expr == nil || expr.Test(logEnv{&r}) {
				out = append(out, r)
			}
		}
		return q.Count == 0 || len(out) < q.Count
	})
	return out, nil
}

// logEnv lets a filter expression read a record's fields by their JSON
// names.
type logEnv struct{ r *LogRecord }

func (e logEnv) Lookup(name string) (filter.Value, bool) {
	r := e.r
	num := func(f float64) (filter.Value, bool) { return filter.NumberValue(f), true }
	str := func(s string) (filter.Value, bool) { return filter.StringValue(s), true }
	switch name {
	case "id":
		return num(float64(r.ID))
	case "timestamp":
		return num(r.Timestamp)
	case "event_code":
		return num(float64(r.EventCode))
	case "event_type":
		return str(r.EventType)
	case "event_origin":
		return str(r.Origin)
	case "client_id":
		return str(r.ClientID)
	case "topic":
		return str(r.Topic)
	case "published":
		return num(float64(r.Published))
	case "received":
		return num(float64(r.Received))
	case "rejected":
		return num(float64(r.Rejected))
	case "bytes_in":
		return num(float64(r.BytesIn))
	case "bytes_out":
		return num(float64(r.BytesOut))
	case "address", "protocol", "username", "action", "reason", "detail":
		v := map[string]string{"address": r.Address, "protocol": r.Protocol, "username": r.Username,
			"action": r.Action, "reason": r.Reason, "detail": r.Detail}[name]
		if v == "" {
			return filter.Value{}, false
		}
		return str(v)
	case "clean":
		if r.Clean == nil {
			return filter.Value{}, false
		}
		return filter.BoolValue(*r.Clean), true
	case "keep_alive":
		if r.KeepAlive == nil {
			return filter.Value{}, false
		}
		return num(float64(*r.KeepAlive))
	case "session_expiry":
		if r.SessionExpiry == nil {
			return filter.Value{}, false
		}
		return num(float64(*r.SessionExpiry))
	case "reason_code":
		if r.ReasonCode == nil {
			return filter.Value{}, false
		}
		return num(float64(*r.ReasonCode))
	}
	return filter.Value{}, false
}

// LogStats are the log's own figures.
type LogStats struct {
	Records   int    // records in the ring now
	LastID    uint64 // ID of the newest record
	Published uint64 // records published over MQTT
}

func (s *Server) logStats() LogStats {
	s.insp.mu.Lock()
	defer s.insp.mu.Unlock()
	return LogStats{Records: len(s.insp.logs.buf), LastID: s.insp.logs.lastID, Published: s.insp.published.Load()}
}

// The hooks below are called by the connection code; each is one line at
// its call site.

// onConnect records a connection that was accepted (after CONNACK was
// queued and the session attached).
func (s *Server) onConnect(c *conn, present, clean bool) {
	s.dropMeta(c.clientID) // the connection answers for the session now
	addr := c.remoteAddr()
	proto := protocolName(c.v)
	if present {
		s.logEvent(LogRecord{EventCode: LogSessionUpdated, ClientID: c.clientID, Detail: "resumed by a new connection"})
	} else {
		s.logWith(LogRecord{EventCode: LogSessionCreated, ClientID: c.clientID}, logOptionals{has: logHasExpiry, expiry: c.expiry})
	}
	o := logOptionals{has: logHasClean | logHasKeepAlive | logHasExpiry, keepAlive: int32(c.keepAlive), expiry: c.expiry}
	if clean {
		o.has |= logCleanTrue
	}
	s.logWith(LogRecord{EventCode: LogConnected, ClientID: c.clientID, Address: addr, Protocol: proto, Username: c.auth.username}, o)
}

// protocolErrors are the disconnect reasons that mean the client broke the
// protocol (logged as LogProtocolError besides the disconnect).
var protocolErrors = map[packet.ReasonCode]bool{
	packet.MalformedPacket: true, packet.ProtocolError: true, packet.ReceiveMaximumExceeded: true,
	packet.TopicAliasInvalid: true, packet.PacketTooLarge: true, packet.PayloadFormatInvalid: true,
}

// onDisconnect records the end of an accepted connection; it runs once
// both its loops ended, so the connection's counters are final.
func (s *Server) onDisconnect(c *conn, code packet.ReasonCode, reason string) {
	rc := int(code)
	if protocolErrors[code] {
		s.logEvent(LogRecord{EventCode: LogProtocolError, ClientID: c.clientID, ReasonCode: &rc, Reason: reason})
	}
	published, rejected := c.rxCounts()
	s.logEvent(LogRecord{EventCode: LogDisconnected, ClientID: c.clientID, Address: c.remoteAddr(),
		Published: published, Received: c.stats.delivered.Load(), Rejected: rejected,
		BytesIn: c.in.read.Load(), BytesOut: c.stats.bytesOut.Load(), ReasonCode: &rc, Reason: reason})
	s.mu.Lock()
	current := s.sessions[c.clientID] == c.sess
	ends := current && (c.expiry == 0 || s.closing)
	s.mu.Unlock()
	switch {
	case ends:
		s.forgetMeta(c.sess)
		s.logEvent(LogRecord{EventCode: LogSessionDeleted, ClientID: c.clientID, Detail: "ended with its connection"})
	case current:
		s.keepMeta(c) // the session stays offline: remember its last connection
	}
}

// onRefused records a CONNECT that was refused.
func (s *Server) onRefused(c *conn, code packet.ReasonCode, reason string) {
	rc := int(code)
	ev := LogProtocolError
	if code == packet.NotAuthorized || code == packet.BadUserNameOrPassword {
		ev = LogDenied
	}
	s.logEvent(LogRecord{EventCode: ev, ClientID: c.clientID, Action: "connect", Address: c.remoteAddr(),
		Username: c.auth.username, ReasonCode: &rc, Reason: reason})
}

// onDenied records a publish or subscribe the ACL refused.
func (s *Server) onDenied(c *conn, action, topic string) {
	s.logEvent(LogRecord{EventCode: LogDenied, ClientID: c.clientID, Action: action, Topic: topic, Username: c.auth.username})
}

// logFromEvent turns the events that have no hook of their own into
// records.
func (s *Server) logFromEvent(e *Event) {
	switch e.Kind {
	case EventSubscribed:
		s.logEvent(LogRecord{EventCode: LogSubscribed, ClientID: e.ClientID, Topic: e.Topic, Detail: e.Detail})
	case EventUnsubscribed:
		s.logEvent(LogRecord{EventCode: LogUnsubscribed, ClientID: e.ClientID, Topic: e.Topic, Detail: e.Detail})
	case EventExpired:
		s.mu.Lock()
		cur := s.sessions[e.ClientID]
		s.mu.Unlock()
		s.insp.mu.Lock()
		if m := s.insp.meta[e.ClientID]; m != nil && m.sess != cur {
			delete(s.insp.meta, e.ClientID)
		}
		s.insp.mu.Unlock()
		s.logEvent(LogRecord{EventCode: LogSessionDeleted, ClientID: e.ClientID, Detail: "expired"})
	}
}
