package messages

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
	"unicode/utf8"

	"github.com/mqttboard/mqttboard/client"
	"github.com/mqttboard/mqttboard/packet"
)

// Record is one exported message: the `mqttboard sub --output json` fields.
type Record struct {
	Time          time.Time      `json:"time"`
	Topic         string         `json:"topic"`
	QoS           byte           `json:"qos"`
	Retain        bool           `json:"retain"`
	Dup           bool           `json:"dup,omitempty"`
	PacketID      uint16         `json:"packet_id,omitempty"`
	Payload       *string        `json:"payload,omitempty"`
	PayloadBase64 string         `json:"payload_base64,omitempty"`
	Properties    map[string]any `json:"properties,omitempty"`
	User          [][2]string    `json:"user_properties,omitempty"`
}

// NewRecord converts a received message.
func NewRecord(e *client.MessageEvent) Record {
	r := Record{Time: e.Time, Topic: e.Topic, QoS: e.QoS, Retain: e.Retain, Dup: e.Dup, PacketID: e.PacketID}
	if utf8.Valid(e.Payload) {
		s := string(e.Payload)
		r.Payload = &s
	} else {
		r.PayloadBase64 = base64.StdEncoding.EncodeToString(e.Payload)
	}
	p := &e.Props
	props := map[string]any{}
	if p.ContentType != "" {
		props["content_type"] = p.ContentType
	}
	if p.ResponseTopic != "" {
		props["response_topic"] = p.ResponseTopic
	}
	if len(p.CorrelationData) > 0 {
		props["correlation_data"] = string(p.CorrelationData)
	}
	if p.MessageExpiry != 0 {
		props["message_expiry"] = p.MessageExpiry
	}
	if p.PayloadFormat != 0 {
		props["payload_format"] = p.PayloadFormat
	}
	if p.Has(packet.PropTopicAlias) {
		props["topic_alias"] = p.TopicAlias
	}
	if len(p.SubscriptionIDs) > 0 {
		props["subscription_ids"] = p.SubscriptionIDs
	}
	if len(props) > 0 {
		r.Properties = props
	}
	for _, u := range p.User {
		r.User = append(r.User, [2]string{u.Key, u.Value})
	}
	return r
}

// Export writes msgs as JSON Lines to a new file in dir and returns its path.
func Export(dir, name string, now time.Time, msgs []*client.MessageEvent) (string, error) {
	path := filepath.Join(dir, fmt.Sprintf("mqttboard-%s-%s.jsonl", name, now.Format("20060102-150405")))
	f, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("export: %w", err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, m := range msgs {
		if err := enc.Encode(NewRecord(m)); err != nil {
			f.Close()
			return "", fmt.Errorf("export %s: %w", path, err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return "", fmt.Errorf("export %s: %w", path, err)
	}
	return path, f.Close()
}
