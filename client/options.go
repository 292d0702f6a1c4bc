package client

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mqttboard/mqttboard/packet"
)

// Options configure a [Client]. Zero values mean the default named on each
// field, so a literal with only URL set connects like mosquitto_sub would.
type Options struct {
	// URL is the broker: mqtt://host:port (TCP), mqtts:// (TLS), ws:// or
	// wss://host:port/path (WebSocket). Default mqtt://localhost:1883, the
	// port mosquitto and every other broker listen on out of the box.
	URL string
	// Version is the protocol: packet.V31, packet.V311 or packet.V5.
	// Default V5: mqttboard is an MQTT 5 tool first.
	Version packet.Version

	ClientID string // empty: the broker assigns one (v5, v3.1.1) or one is generated (v3.1)
	Username string
	// Password is sent when PasswordSet is true or it is non-empty; an empty
	// password is a valid MQTT password, hence the flag.
	Password    []byte
	PasswordSet bool
	// KeepAlive is the keep alive interval. Default 60 s (mosquitto's);
	// negative disables keep alive (0 on the wire).
	KeepAlive time.Duration
	// Persistent asks the broker to keep the session (clean start /
	// clean session false). The zero value is a clean session, as in
	// mosquitto_pub/sub without -c.
	Persistent bool

	// MQTT 5 CONNECT properties. Nil pointers are not sent.
	SessionExpiry       *uint32
	ReceiveMaximum      *uint16
	MaximumPacketSize   *uint32
	TopicAliasMaximum   *uint16
	RequestResponseInfo bool
	// NoProblemInfo sends Request Problem Information = 0 (the broker then
	// omits reason strings and user properties on most acks).
	NoProblemInfo  bool
	UserProperties []packet.UserProperty
	AuthMethod     string
	AuthData       []byte

	// Will is the message the broker publishes when this client goes away
	// without a DISCONNECT. Its Props carry the will properties, including
	// WillDelay.
	Will *Message

	TLS TLSOptions
	// BindAddress is the local address to connect from (mosquitto's -A);
	// empty: the system chooses.
	BindAddress string
	// UnixSocket, when set, connects to the broker through this Unix
	// domain socket instead of TCP (mosquitto's --unix); the URL then only
	// names the transport (mqtt://).
	UnixSocket string
	// Proxy is a SOCKS5 proxy URL, socks5://[user:pass@]host:port
	// (mosquitto's --proxy), that TCP connections go through.
	Proxy string
	// DisconnectProps are the MQTT 5 properties of the DISCONNECT sent by
	// Close: SessionExpiry (when PropSessionExpiry is present) and User.
	DisconnectProps packet.Properties
	// ConnectTimeout bounds dialling and the CONNECT/CONNACK exchange.
	// Default 10 s: long enough for a TLS handshake over a slow link, short
	// enough that a script does not hang on a black-holed address.
	ConnectTimeout time.Duration

	// Reconnect re-dials with exponential backoff when the connection is
	// lost after a successful Connect, and restores subscriptions.
	Reconnect bool
	// ReconnectMin and ReconnectMax bound the backoff. Defaults 250 ms and
	// 30 s: quick for a broker restart, gentle for a broker that is down.
	ReconnectMin, ReconnectMax time.Duration

	// EventBuffer is the capacity of the Events channel. Default 1024.
	EventBuffer int

	// KeepPropertyOrder records each received MQTT 5 PUBLISH's property
	// order in Message.PropOrder (one more decode per PUBLISH), for output
	// that must list properties as they came (mosquitto_sub's %j).
	KeepPropertyOrder bool

	// Trace, when set, is called with every packet sent and received,
	// decoded with package packet, from the goroutine doing the I/O.
	Trace func(TracePacket)

	tlsConfig *tls.Config // built from TLS by applyDefaults
}

// TLSOptions configure mqtts:// and wss:// connections.
type TLSOptions struct {
	CAFile     string   // PEM CA bundle; empty: the system roots
	CAPath     string   // a directory of PEM CA certificates (mosquitto's --capath)
	OSCerts    bool     // trust the system roots as well as CAFile/CAPath
	Version    uint16   // tls.VersionTLS12 or tls.VersionTLS13: only that version; 0: 1.2 or later
	Ciphers    []uint16 // TLS 1.2 cipher suites offered; nil: Go's defaults
	CertFile   string   // client certificate (PEM), with KeyFile
	KeyFile    string   // client key (PEM)
	Insecure   bool     // skip server certificate verification
	ServerName string   // SNI and verified name; default the URL's host
	ALPN       []string // ALPN protocols offered
}

func (o *Options) applyDefaults() error {
	if o.URL == "" {
		o.URL = "mqtt://localhost:1883"
	}
	if o.Version == 0 {
		o.Version = packet.V5
	}
	if !o.Version.Valid() {
		return fmt.Errorf("MQTT version %d is not 3 (3.1), 4 (3.1.1) or 5", o.Version)
	}
	if o.KeepAlive == 0 {
		o.KeepAlive = 60 * time.Second
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.ReconnectMin <= 0 {
		o.ReconnectMin = 250 * time.Millisecond
	}
	if o.ReconnectMax <= 0 {
		o.ReconnectMax = 30 * time.Second
	}
	if o.EventBuffer <= 0 {
		o.EventBuffer = 1024
	}
	u, err := ParseURL(o.URL)
	if err != nil {
		return err
	}
	if o.Proxy != "" {
		pu, err := url.Parse(o.Proxy)
		if err != nil || (pu.Scheme != "socks5" && pu.Scheme != "socks5h") || pu.Host == "" {
			return fmt.Errorf("--proxy %q: give socks5://[user:pass@]host:port", o.Proxy)
		}
	}
	if u.Scheme == "mqtts" || u.Scheme == "wss" {
		if o.tlsConfig, err = loadTLS(&o.TLS); err != nil {
			return err
		}
	}
	return nil
}

func (o *Options) keepAliveSeconds() uint16 {
	if o.KeepAlive < 0 {
		return 0
	}
	s := (o.KeepAlive + time.Second - 1) / time.Second
	if s > 65535 {
		s = 65535
	}
	return uint16(s)
}

// ParseURL checks a broker URL and fills in the scheme's default port and,
// for WebSocket, the path /mqtt. A bare host:port means mqtt://host:port.
func ParseURL(raw string) (*url.URL, error) {
	if !strings.Contains(raw, "://") {
		raw = "mqtt://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("broker URL %q: %v (use mqtt://host:port, mqtts://, ws:// or wss://)", raw, err)
	}
	var port string
	switch u.Scheme {
	case "mqtt", "tcp":
		u.Scheme, port = "mqtt", "1883"
	case "mqtts", "ssl", "tls":
		u.Scheme, port = "mqtts", "8883"
	case "ws":
		port = "80"
	case "wss":
		port = "443"
	default:
		return nil, fmt.Errorf("broker URL %q: unknown scheme %q (use mqtt://, mqtts://, ws:// or wss://)", raw, u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("broker URL %q has no host", raw)
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), port)
	} else if n, err := strconv.Atoi(u.Port()); err != nil || n < 1 || n > 65535 {
		return nil, fmt.Errorf("broker URL %q: port %s is not 1 to 65535", raw, u.Port())
	}
	if (u.Scheme == "ws" || u.Scheme == "wss") && (u.Path == "" || u.Path == "/") {
		u.Path = "/mqtt"
	}
	return u, nil
}
