package broker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
)

// Config is the broker's configuration file. It is JSON, read with the
// standard library: no dependency, unambiguous types (YAML's "no" is a
// boolean), and decode errors carry a byte offset that [LoadConfig] turns
// into file:line:column. Unknown keys are errors, so a typo is never
// silently ignored.
type Config struct {
	Limits Limits `json:"limits"`
	ACL    *ACL   `json:"acl"`
}

// Limits are the configurable limits; zero keeps the default of [Options].
type Limits struct {
	MaxPayload             int    `json:"max_payload"`
	MaxPacketSize          uint32 `json:"max_packet_size"`
	MaxRetainedSize        int    `json:"max_retained_size"`
	MaxTopicLevels         int    `json:"max_topic_levels"`
	MaxFiltersPerSubscribe int    `json:"max_filters_per_subscribe"`
	MaxQueueBytes          int    `json:"max_queue_bytes"`
	MaxInflightBytes       int    `json:"max_inflight_bytes"`
	ReceiveMaximum         uint16 `json:"receive_maximum"`
	TopicAliasMaximum      uint16 `json:"topic_alias_maximum"`
	MaxKeepAlive           uint16 `json:"max_keep_alive"`
	MaxSessionExpiry       uint32 `json:"max_session_expiry"`
}

// Apply copies the configuration into o.
func (c *Config) Apply(o *Options) {
	l := c.Limits
	o.MaxPayload = l.MaxPayload
	o.MaxPacketSize = l.MaxPacketSize
	o.MaxRetainedSize = l.MaxRetainedSize
	o.MaxTopicLevels = l.MaxTopicLevels
	o.MaxFiltersPerSubscribe = l.MaxFiltersPerSubscribe
	o.MaxQueueBytes = l.MaxQueueBytes
	o.MaxInflightBytes = l.MaxInflightBytes
	o.ReceiveMaximum = l.ReceiveMaximum
	o.TopicAliasMaximum = l.TopicAliasMaximum
	o.MaxKeepAlive = l.MaxKeepAlive
	o.MaxSessionExpiry = l.MaxSessionExpiry
	o.ACL = c.ACL
}

// LoadConfig reads and validates a configuration file. Errors name the
// file, the line and column, and the key.
func LoadConfig(name string) (*Config, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return ParseConfig(name, b)
}

// ParseConfig parses configuration b; name is used in errors.
func ParseConfig(name string, b []byte) (*Config, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		off := dec.InputOffset()
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			off = se.Offset
		case errors.As(err, &te):
			off = te.Offset
			err = fmt.Errorf("key %q: value %s is not a %s", te.Field, te.Value, te.Type)
		default:
			// Unknown keys carry no offset: point at the key itself.
			var key string
			if _, e := fmt.Sscanf(err.Error(), "json: unknown field %q", &key); e == nil {
				if i := bytes.Index(b, []byte(strconv.Quote(key))); i >= 0 {
					off = int64(i)
				}
				err = fmt.Errorf("unknown key %q", key)
			}
		}
		line, col := lineCol(b, off)
		return nil, fmt.Errorf("%s:%d:%d: %v", name, line, col, err)
	}
	if c.ACL != nil {
		if err := c.ACL.validate(); err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
	}
	return &c, nil
}

func lineCol(b []byte, off int64) (line, col int) {
	off = min(off, int64(len(b)))
	line = 1 + bytes.Count(b[:off], []byte("\n"))
	col = int(off) - bytes.LastIndexByte(b[:off], '\n')
	return line, col
}
