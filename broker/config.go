package broker

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/mqttboard/mqttboard/broker/storage"
)

// Config is the broker's configuration file, in YAML (JSON, a subset of
// YAML, is read too). Unknown keys are errors, so a typo is never silently
// ignored, and every error names the file, the line and column, and the key.
type Config struct {
	Limits Limits `json:"limits" yaml:"limits"`
	ACL    *ACL   `json:"acl" yaml:"acl"`
	// Stamp, when false, switches off the flespi stamping of messages
	// (timestamp and cid user properties) and the CONNACK user properties:
	// a strictly standard broker. Default true.
	Stamp *bool `json:"stamp" yaml:"stamp"`
	// AllowControlCharacters accepts control characters in topics, client
	// ids, user names and will topics (see [Options.AllowControlChars]).
	// Default false: they are refused.
	AllowControlCharacters bool `json:"allow_control_characters" yaml:"allow_control_characters"`
	// ReasonStrings, when false, leaves reason strings out of every packet
	// (see [Options.NoReasonStrings]). Default true.
	ReasonStrings *bool `json:"reason_strings" yaml:"reason_strings"`
	// HTTP serves the REST API, /metrics and /healthz (`mqttboard broker
	// --http`); absent: no HTTP server.
	HTTP *HTTPConfig `json:"http" yaml:"http"`
	// Logs configures the broker's log (GET /mqtt/logs and the
	// flespi/log/mqtt/... topics).
	Logs LogsConfig `json:"logs" yaml:"logs"`
	// Auth is token authentication (`--auth`, `--master-token`); absent:
	// the open sandbox.
	Auth *AuthConfig `json:"auth" yaml:"auth"`
	// Transport is "eventloop" (the default on Linux: idle connections
	// hold no goroutine) or "goroutine" (a goroutine per connection); see
	// [Options.Transport].
	Transport string `json:"transport" yaml:"transport"`
	// MemoryTrim is how often, in seconds, the broker looks whether it is
	// quiet enough to give the memory it freed back to the system (see
	// [Options.MemoryTrim]); 0 or absent: every 5 s; negative: never.
	MemoryTrim int `json:"memory_trim" yaml:"memory_trim"`
	// Cluster runs the broker as a node of a cluster (`mqttboard broker
	// --cluster-listen`, docs/cluster.md); absent: a single broker. The
	// command line's flags take precedence.
	Cluster *ClusterConfig `json:"cluster" yaml:"cluster"`
	// Storage keeps persistent sessions, their messages, retained
	// messages and tokens on disk (`mqttboard broker --data DIR`);
	// absent: in memory.
	Storage *StorageConfig `json:"storage" yaml:"storage"`
}

// StorageConfig is the broker's persistent store.
type StorageConfig struct {
	// Dir is the data directory; one broker at a time may use it.
	Dir string `json:"dir" yaml:"dir"`
	// Fsync is always, batch (the default) or never: see README and
	// [storage.FsyncMode] for what each loses on power failure.
	Fsync string `json:"fsync" yaml:"fsync"`
}

// AuthConfig is the configuration file's "auth" section. The command
// line wins over it.
type AuthConfig struct {
	// Mode is "none" (the open sandbox: every client in one account with
	// full access) or "token" (flespi tokens, ACLs and account
	// namespaces).
	Mode string `json:"mode" yaml:"mode"`
	// MasterToken is the root account's bootstrap master token key (64
	// characters); empty: generated and printed once at first start.
	MasterToken string `json:"master_token" yaml:"master_token"`
}

// LogsConfig is the log's part of the configuration.
type LogsConfig struct {
	// Records is how many records the ring keeps (0: the default, 4096;
	// negative: no log at all).
	Records int `json:"records" yaml:"records"`
	// MQTT, when false, stops publishing records to flespi/log/mqtt/...
	// (the ring is still kept). Default true.
	MQTT *bool `json:"mqtt" yaml:"mqtt"`
}

// HTTPConfig is the broker's HTTP API listener.
type HTTPConfig struct {
	// Listen is the address, host:port; a bare port binds to loopback,
	// since the API is open without token authentication (":port" is every
	// interface, as for the MQTT listeners).
	Listen string `json:"listen" yaml:"listen"`
	// TLS serves HTTPS with the listeners' certificate (--cert, --key).
	TLS bool `json:"tls" yaml:"tls"`
}

// Limits are the configurable limits; zero keeps the default of [Options].
type Limits struct {
	MaxPayload             int    `json:"max_payload" yaml:"max_payload"`
	MaxPacketSize          uint32 `json:"max_packet_size" yaml:"max_packet_size"`
	MaxRetainedSize        int    `json:"max_retained_size" yaml:"max_retained_size"`
	MaxTopicLevels         int    `json:"max_topic_levels" yaml:"max_topic_levels"`
	MaxFiltersPerSubscribe int    `json:"max_filters_per_subscribe" yaml:"max_filters_per_subscribe"`
	MaxQueueBytes          int    `json:"max_queue_bytes" yaml:"max_queue_bytes"`
	MaxInflightBytes       int    `json:"max_inflight_bytes" yaml:"max_inflight_bytes"`
	ReceiveMaximum         uint16 `json:"receive_maximum" yaml:"receive_maximum"`
	TopicAliasMaximum      uint16 `json:"topic_alias_maximum" yaml:"topic_alias_maximum"`
	MaxKeepAlive           uint16 `json:"max_keep_alive" yaml:"max_keep_alive"`
	MaxSessionExpiry       uint32 `json:"max_session_expiry" yaml:"max_session_expiry"`
	// Lifecycle limits; the timeouts are in seconds (see [Options]).
	ConnectTimeout     int    `json:"connect_timeout" yaml:"connect_timeout"`
	PacketTimeout      int    `json:"packet_timeout" yaml:"packet_timeout"`
	WriteTimeout       int    `json:"write_timeout" yaml:"write_timeout"`
	MaxConnectSize     uint32 `json:"max_connect_size" yaml:"max_connect_size"`
	MaxConnectingBytes int    `json:"max_connecting_bytes" yaml:"max_connecting_bytes"`
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
	o.ConnectTimeout = time.Duration(l.ConnectTimeout) * time.Second
	o.PacketTimeout = time.Duration(l.PacketTimeout) * time.Second
	o.WriteTimeout = time.Duration(l.WriteTimeout) * time.Second
	o.MaxConnectSize = l.MaxConnectSize
	o.MaxConnectingBytes = l.MaxConnectingBytes
	o.ACL = c.ACL
	o.NoStamp = c.Stamp != nil && !*c.Stamp
	o.AllowControlChars = c.AllowControlCharacters
	o.NoReasonStrings = c.ReasonStrings != nil && !*c.ReasonStrings
	o.LogRecords = c.Logs.Records
	o.NoLogTopics = c.Logs.MQTT != nil && !*c.Logs.MQTT
	o.Transport = c.Transport
	o.MemoryTrim = time.Duration(c.MemoryTrim) * time.Second
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
	var c Config
	if err := yaml.UnmarshalWithOptions(b, &c, yaml.DisallowUnknownField(), yaml.Strict()); err != nil {
		var ye yaml.Error
		if errors.As(err, &ye) {
			where := name
			if tk := ye.GetToken(); tk != nil && tk.Position != nil {
				where = fmt.Sprintf("%s:%d:%d", name, tk.Position.Line, tk.Position.Column)
			}
			msg := ye.GetMessage()
			if _, src, ok := strings.Cut(ye.FormatError(false, true), "\n"); ok {
				msg += "\n" + strings.TrimRight(src, "\n")
			}
			return nil, fmt.Errorf("%s: %s", where, msg)
		}
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	for _, f := range []struct {
		key string
		v   int
	}{
		{"connect_timeout", c.Limits.ConnectTimeout},
		{"packet_timeout", c.Limits.PacketTimeout},
		{"write_timeout", c.Limits.WriteTimeout},
		{"max_connecting_bytes", c.Limits.MaxConnectingBytes},
	} {
		if f.v < 0 {
			return nil, fmt.Errorf("%s: limits.%s is %d: it must be positive (0 or absent: the default)", name, f.key, f.v)
		}
	}
	if c.Auth != nil {
		switch c.Auth.Mode {
		case "", "none", "token":
		default:
			return nil, fmt.Errorf("%s: auth.mode: %q is not \"none\" or \"token\"", name, c.Auth.Mode)
		}
		if k := c.Auth.MasterToken; k != "" && len(k) != 64 {
			return nil, fmt.Errorf("%s: auth.master_token: %d characters; a token key has 64", name, len(k))
		}
	}
	switch c.Transport {
	case "", TransportEventLoop, TransportGoroutine:
	default:
		return nil, fmt.Errorf("%s: transport %q: use %q or %q", name, c.Transport, TransportEventLoop, TransportGoroutine)
	}
	if st := c.Storage; st != nil {
		if st.Dir == "" {
			return nil, fmt.Errorf("%s: storage.dir is empty: give the data directory (or leave storage out to keep everything in memory)", name)
		}
		if _, err := storage.ParseFsyncMode(st.Fsync); err != nil {
			return nil, fmt.Errorf("%s: storage.fsync %q: use always, batch or never", name, st.Fsync)
		}
	}
	if c.ACL != nil {
		if err := c.ACL.validate(); err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
	}
	return &c, nil
}

// ClusterConfig is the cluster's part of the configuration.
type ClusterConfig struct {
	// NodeName is this node's name, unique in the cluster.
	NodeName string `json:"node_name" yaml:"node_name"`
	// Listen is the host:port the other nodes connect to.
	Listen string `json:"listen" yaml:"listen"`
	// Peers are other nodes' listen addresses; any one live node is
	// enough to join.
	Peers []string `json:"peers" yaml:"peers"`
	// Secret, when set, authenticates the routes between nodes: every
	// node must have the same one, and a node without it is refused.
	Secret string `json:"secret" yaml:"secret"`
}
