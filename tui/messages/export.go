package messages

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// DefaultExportDir is where exports go when Common.ExportDir is empty: the
// user's data directory ($XDG_DATA_HOME/mqttboard/exports, else
// ~/.local/share/mqttboard/exports), never the directory the board happened
// to be started in.
func DefaultExportDir() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "mqttboard", "exports"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("export: no home directory to export to: %w", err)
	}
	return filepath.Join(home, ".local", "share", "mqttboard", "exports"), nil
}

// Export writes msgs as JSON Lines to a new file in dir (DefaultExportDir
// when ""), creating dir, and returns the file's absolute path.
func Export(dir, name string, now time.Time, msgs []*client.MessageEvent) (string, error) {
	if dir == "" {
		d, err := DefaultExportDir()
		if err != nil {
			return "", err
		}
		dir = d
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("export: %w", err)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("export: %w", err)
	}
	// The name is the connection's: keep it to a safe file name.
	name = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r < 0x20 || r == 0x7f || r == ':' {
			return '_'
		}
		return r
	}, name)
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
