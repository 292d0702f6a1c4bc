package restapi

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/message"
	"github.com/mqttboard/mqttboard/packet"
)

// messageIn is one message of POST /mqtt/messages.
type messageIn struct {
	Topic string `json:"topic"`
	// Data is the payload; Encoding says how it is written ("text", the
	// default: the string's UTF-8 bytes; "base64"; "hex"). Absent or null:
	// an empty payload.
	Data     *string `json:"data"`
	Encoding string  `json:"encoding"`
	QoS      int     `json:"qos"`
	Retained bool    `json:"retained"`
	// UserProperties are sent in key order (a JSON object has none).
	UserProperties         map[string]string `json:"user_properties"`
	MessageExpiryInterval  *uint32           `json:"message_expiry_interval"`
	ContentType            string            `json:"content_type"`
	ResponseTopic          string            `json:"response_topic"`
	CorrelationData        *string           `json:"correlation_data"` // in Encoding too
	PayloadFormatIndicator *int              `json:"payload_format_indicator"`
}

func decodeData(s, enc string) ([]byte, error) {
	switch enc {
	case "", "text":
		return []byte(s), nil
	case "base64":
		return base64.StdEncoding.DecodeString(s)
	case "hex":
		return hex.DecodeString(s)
	}
	return nil, fmt.Errorf("encoding %q: use text, base64 or hex", enc)
}

// toPublish converts and checks one message; i is its index for errors.
func (a *API) toPublish(i int, in *messageIn) (broker.PublishMessage, error) {
	m := broker.PublishMessage{Topic: in.Topic, Retain: in.Retained}
	where := fmt.Sprintf("message %d (topic %q)", i, in.Topic)
	if in.QoS < 0 || in.QoS > 2 {
		return m, fmt.Errorf("%s: qos %d is not 0, 1 or 2", where, in.QoS)
	}
	m.QoS = packet.QoS(in.QoS)
	if in.Data != nil {
		b, err := decodeData(*in.Data, in.Encoding)
		if err != nil {
			return m, fmt.Errorf("%s: data: %v", where, err)
		}
		m.Payload = b
	} else if in.Encoding != "" {
		if _, err := decodeData("", in.Encoding); err != nil {
			return m, fmt.Errorf("%s: %v", where, err)
		}
	}
	p := &m.Props
	if in.CorrelationData != nil {
		b, err := decodeData(*in.CorrelationData, in.Encoding)
		if err != nil {
			return m, fmt.Errorf("%s: correlation_data: %v", where, err)
		}
		p.CorrelationData = b
		p.Present = p.Present.Add(packet.PropCorrelationData)
	}
	if in.PayloadFormatIndicator != nil {
		if v := *in.PayloadFormatIndicator; v != 0 && v != 1 {
			return m, fmt.Errorf("%s: payload_format_indicator %d is not 0 or 1", where, v)
		}
		p.PayloadFormat = byte(*in.PayloadFormatIndicator)
		p.Present = p.Present.Add(packet.PropPayloadFormat)
	}
	if in.MessageExpiryInterval != nil {
		p.MessageExpiry = *in.MessageExpiryInterval
	}
	if in.ResponseTopic != "" {
		if err := packet.ValidateTopicName(in.ResponseTopic); err != nil {
			return m, fmt.Errorf("%s: response_topic: %v", where, err)
		}
	}
	p.ContentType, p.ResponseTopic = in.ContentType, in.ResponseTopic
	for _, k := range slices.Sorted(maps.Keys(in.UserProperties)) {
		p.User = append(p.User, packet.UserProperty{Key: k, Value: in.UserProperties[k]})
	}
	if err := a.srv.ValidatePublish(&m); err != nil {
		return m, fmt.Errorf("%s: %v", where, unwrapInvalid(err))
	}
	return m, nil
}

// POST /mqtt/messages: publish. Every message is checked before any is
// published: one bad message refuses the whole request.
func (a *API) postMessages(w http.ResponseWriter, r *http.Request) {
	var in []messageIn
	if !decodeBody(w, r, a.opts.MaxBodyBytes, &in) {
		return
	}
	ms := make([]broker.PublishMessage, len(in))
	for i := range in {
		m, err := a.toPublish(i, &in[i])
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		ms[i] = m
		ms[i].TokenID, ms[i].CID = a.publisher(r) // platform.go: the token and its account
	}
	type published struct {
		Topic       string `json:"topic"`
		Subscribers int    `json:"subscribers"`
	}
	out := make([]published, len(ms))
	for i, m := range ms {
		n, err := a.srv.Publish(m)
		if err != nil {
			writeBrokerError(w, err)
			return
		}
		out[i] = published{m.Topic, n}
	}
	writeResult(w, out)
}

var messageFields = []string{"topic", "data", "encoding", "qos", "retained", "timestamp", "user_properties",
	"message_expiry_interval", "content_type", "response_topic", "correlation_data", "payload_format_indicator", "size"}

// messageOut renders a retained message. enc is "auto" (text when the
// payload and correlation data are UTF-8, else base64), "text", "base64"
// or "hex".
func messageOut(m *message.Message, enc string, now time.Time) map[string]any {
	if enc == "auto" {
		enc = "text"
		if !utf8.Valid(m.Payload) || !utf8.Valid(m.Props.CorrelationData) {
			enc = "base64"
		}
	}
	encode := func(b []byte) string {
		switch enc {
		case "base64":
			return base64.StdEncoding.EncodeToString(b)
		case "hex":
			return hex.EncodeToString(b)
		}
		return string(b) // text: invalid UTF-8 becomes U+FFFD in JSON; ask for base64
	}
	out := map[string]any{
		"topic": m.Topic, "data": encode(m.Payload), "encoding": enc, "qos": int(m.QoS),
		"retained": true, "timestamp": m.Timestamp, "size": len(m.Payload),
	}
	if len(m.Props.User) > 0 {
		up := map[string]string{}
		for _, u := range m.Props.User {
			up[u.Key] = u.Value // a repeated key: the last value
		}
		out["user_properties"] = up
	}
	if !m.Expires.IsZero() {
		out["message_expiry_interval"] = m.RemainingExpiry(now)
	}
	if m.Props.ContentType != "" {
		out["content_type"] = m.Props.ContentType
	}
	if m.Props.ResponseTopic != "" {
		out["response_topic"] = m.Props.ResponseTopic
	}
	if m.Props.Has(packet.PropCorrelationData) {
		out["correlation_data"] = encode(m.Props.CorrelationData)
	}
	if m.Props.Has(packet.PropPayloadFormat) {
		out["payload_format_indicator"] = int(m.Props.PayloadFormat)
	}
	return out
}

func topicParam(w http.ResponseWriter, r *http.Request) (string, bool) {
	t := r.PathValue("topic")
	if t == "" {
		writeError(w, http.StatusBadRequest, "no topic filter: give one URL-encoded, e.g. /mqtt/messages/%23 for every retained message")
		return "", false
	}
	return t, true
}

// GET /mqtt/messages/{topic filter}: the retained messages under it.
func (a *API) getMessages(w http.ResponseWriter, r *http.Request) {
	filter, ok := topicParam(w, r)
	if !ok {
		return
	}
	fields, err := fieldSet(r, messageFields)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	enc := r.URL.Query().Get("encoding")
	switch enc {
	case "":
		enc = "auto"
	case "auto", "text", "base64", "hex":
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("encoding %q: use auto, text, base64 or hex", enc))
		return
	}
	ms, err := a.srv.Retained(filter)
	if err != nil {
		writeBrokerError(w, err)
		return
	}
	now := time.Now()
	out := make([]map[string]any, 0, len(ms))
	for _, m := range ms {
		out = append(out, pick(messageOut(m, enc, now), fields))
	}
	writeResult(w, out)
}

// DELETE /mqtt/messages/{topic filter}: delete the retained messages under
// it.
func (a *API) deleteMessages(w http.ResponseWriter, r *http.Request) {
	filter, ok := topicParam(w, r)
	if !ok {
		return
	}
	n, err := a.srv.DeleteRetained(filter)
	if err != nil {
		writeBrokerError(w, err)
		return
	}
	writeResult(w, []map[string]any{{"topic": filter, "deleted": n}})
}
