package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/mqttboard/mqttboard/client"
	"github.com/mqttboard/mqttboard/packet"
	"github.com/mqttboard/mqttboard/profiles"
)

// ConnFlags are the connection flags every connecting command shares,
// registered once by addConnFlags. Single letters keep mosquitto_pub and
// mosquitto_sub's meanings.
type ConnFlags struct {
	Host     string
	Port     int
	URL      string
	Protocol string // mqtt, mqtts, ws, wss
	WSPath   string

	ClientID     string
	Username     string
	Password     string
	PasswordEnv  string
	PasswordFile string
	Version      string
	KeepAlive    int
	Persistent   bool

	SessionExpiry       uint32
	ReceiveMaximum      uint16
	MaximumPacketSize   uint32
	TopicAliasMaximum   uint16
	RequestResponseInfo bool
	NoProblemInfo       bool
	ConnectUser         []string
	AuthMethod          string
	AuthData            string

	CAFile      string
	CAPath      string
	OSCerts     bool
	TLSVersion  string
	Ciphers     string
	PSK         string
	PSKIdentity string
	Cert        string
	Key         string
	Insecure    bool
	SNI         string
	ALPN        []string

	IDPrefix    string
	BindAddress string
	Unix        string
	Proxy       string
	NoDelay     bool
	MaxInflight int
	Quiet       bool

	DisconnectSessionExpiry uint32
	DisconnectUser          []string

	WillTopic         string
	WillPayload       string
	WillQoS           int
	WillRetain        bool
	WillDelay         uint32
	WillExpiry        uint32
	WillContentType   string
	WillResponseTopic string
	WillCorrelation   string
	WillPayloadFormat int
	WillUser          []string

	ConnectTimeout time.Duration
	Debug          bool
	Profile        string

	changed func(name string) bool
	set     func(name, value string) error
	// profilePassword: the password came from --profile, not -P.
	profilePassword bool
	// profile is the --profile loaded by options, for the commands' own
	// defaults (pub's PUBLISH properties); nil without --profile.
	profile *profiles.Profile
}

func addConnFlags(cmd *cobra.Command, f *ConnFlags) {
	fs := cmd.Flags()
	fs.StringVarP(&f.Host, "host", "h", "localhost", "broker host")
	fs.IntVarP(&f.Port, "port", "p", 0, "broker port (default 1883, 8883 with TLS, 80/443 for ws/wss)")
	fs.StringVarP(&f.URL, "url", "L", "", "broker URL: mqtt[s]://[user[:pass]@]host[:port][/topic] or ws[s]://host[:port]/path")
	fs.StringVar(&f.Protocol, "protocol", "", "transport when -L is not given: mqtt, mqtts, ws or wss")
	fs.StringVar(&f.WSPath, "ws-path", "/mqtt", "WebSocket path when -L is not given")
	fs.StringVarP(&f.ClientID, "id", "i", "", "client id (default: assigned by the broker)")
	fs.StringVarP(&f.Username, "username", "u", "", "user name (a flespi token goes here)")
	fs.StringVarP(&f.Password, "password", "P", "", "password (prefer --password-env or --password-file: argv is visible to other users)")
	fs.StringVar(&f.PasswordEnv, "password-env", "", "read the password from this environment variable")
	fs.StringVar(&f.PasswordFile, "password-file", "", "read the password from this file (trailing newline removed)")
	fs.StringVarP(&f.Version, "mqtt-version", "V", "5", "MQTT version: 5, 3.1.1 (311, mqttv311) or 3.1 (31, mqttv31)")
	fs.IntVarP(&f.KeepAlive, "keepalive", "k", 60, "keep alive in seconds, 0 to disable")
	fs.BoolVarP(&f.Persistent, "no-clean", "c", false, "persistent session: clean start (clean session) false")
	fs.Uint32VarP(&f.SessionExpiry, "session-expiry", "x", 0, "session expiry interval in seconds (MQTT 5)")
	fs.StringVarP(&f.IDPrefix, "id-prefix", "I", "", "client id: this prefix followed by the process id (mosquitto's -I)")
	fs.StringVarP(&f.BindAddress, "bind-address", "A", "", "connect from this local address (mosquitto's -A)")
	fs.StringVar(&f.Unix, "unix", "", "connect through this Unix domain socket instead of TCP")
	fs.StringVar(&f.Proxy, "proxy", "", "SOCKS5 proxy: socks5://[user:pass@]host:port")
	fs.BoolVar(&f.NoDelay, "nodelay", false, "accepted for mosquitto compatibility: Go always disables Nagle's algorithm")
	fs.IntVarP(&f.MaxInflight, "max-inflight", "M", 20, "accepted for mosquitto compatibility: pub waits for each acknowledgement, so one QoS 1/2 message is in flight")
	fs.BoolVar(&f.Quiet, "quiet", false, "print no error messages (the exit code still says what happened)")
	fs.Uint32Var(&f.DisconnectSessionExpiry, "disconnect-session-expiry", 0, "session expiry interval on DISCONNECT (MQTT 5; -D disconnect session-expiry-interval)")
	fs.StringArrayVar(&f.DisconnectUser, "disconnect-user-property", nil, "user property on DISCONNECT, k=v (repeatable; MQTT 5)")
	fs.Uint16Var(&f.ReceiveMaximum, "receive-maximum", 0, "receive maximum (MQTT 5)")
	fs.Uint32Var(&f.MaximumPacketSize, "maximum-packet-size", 0, "maximum packet size (MQTT 5)")
	fs.Uint16Var(&f.TopicAliasMaximum, "topic-alias-maximum", 0, "topic alias maximum (MQTT 5)")
	fs.BoolVar(&f.RequestResponseInfo, "request-response-info", false, "request response information (MQTT 5)")
	fs.BoolVar(&f.NoProblemInfo, "no-problem-info", false, "request problem information = 0 (MQTT 5)")
	fs.StringArrayVar(&f.ConnectUser, "connect-user-property", nil, "user property on CONNECT, k=v (repeatable)")
	fs.StringVar(&f.AuthMethod, "auth-method", "", "authentication method (MQTT 5)")
	fs.StringVar(&f.AuthData, "auth-data", "", "authentication data (MQTT 5)")

	fs.StringVar(&f.CAFile, "cafile", "", "CA certificates (PEM) to verify the broker; implies TLS")
	fs.StringVar(&f.CAFile, "ca", "", "alias of --cafile")
	fs.StringVar(&f.CAPath, "capath", "", "directory of CA certificates (PEM) to verify the broker; implies TLS")
	fs.BoolVar(&f.OSCerts, "tls-use-os-certs", false, "trust the system's CA certificates as well; implies TLS")
	fs.StringVar(&f.TLSVersion, "tls-version", "", "only this TLS version: tlsv1.2 or tlsv1.3")
	fs.StringVar(&f.Ciphers, "ciphers", "", "TLS 1.2 cipher suites, colon-separated, IANA (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256) or OpenSSL (ECDHE-RSA-AES128-GCM-SHA256) names")
	fs.StringVar(&f.PSK, "psk", "", "TLS-PSK key: not supported (Go's TLS has no pre-shared keys)")
	fs.StringVar(&f.PSKIdentity, "psk-identity", "", "TLS-PSK identity: not supported (Go's TLS has no pre-shared keys)")
	fs.StringVar(&f.Cert, "cert", "", "client certificate (PEM); implies TLS")
	fs.StringVar(&f.Key, "key", "", "client private key (PEM)")
	fs.BoolVar(&f.Insecure, "insecure", false, "do not verify the broker's certificate; implies TLS")
	fs.StringVar(&f.SNI, "sni", "", "TLS server name (default: the host)")
	fs.StringSliceVar(&f.ALPN, "alpn", nil, "TLS ALPN protocols (comma-separated)")
	fs.StringSliceVar(&f.ALPN, "tls-alpn", nil, "alias of --alpn")

	fs.StringVar(&f.WillTopic, "will-topic", "", "will topic")
	fs.StringVar(&f.WillPayload, "will-payload", "", "will payload")
	fs.IntVar(&f.WillQoS, "will-qos", 0, "will QoS")
	fs.BoolVar(&f.WillRetain, "will-retain", false, "retain the will")
	fs.Uint32Var(&f.WillDelay, "will-delay", 0, "will delay interval in seconds (MQTT 5)")
	fs.Uint32Var(&f.WillExpiry, "will-message-expiry", 0, "will message expiry interval in seconds (MQTT 5)")
	fs.StringVar(&f.WillContentType, "will-content-type", "", "will content type (MQTT 5)")
	fs.StringVar(&f.WillResponseTopic, "will-response-topic", "", "will response topic (MQTT 5)")
	fs.StringVar(&f.WillCorrelation, "will-correlation-data", "", "will correlation data (MQTT 5)")
	fs.IntVar(&f.WillPayloadFormat, "will-payload-format", -1, "will payload format indicator, 0 or 1 (MQTT 5)")
	fs.StringArrayVar(&f.WillUser, "will-user-property", nil, "will user property, k=v (repeatable)")

	fs.DurationVar(&f.ConnectTimeout, "connect-timeout", 10*time.Second, "give up connecting after this long")
	fs.BoolVarP(&f.Debug, "debug", "d", false, "print every packet sent and received to stderr")
	fs.StringVar(&f.Profile, "profile", "", "connect with the saved profile `NAME` (flags given override it)")
	f.changed = func(name string) bool { return cmd.Flags().Changed(name) }
	f.set = func(name, value string) error { return cmd.Flags().Set(name, value) }
	enumCompletion(cmd, "mqtt-version", "5", "3.1.1", "3.1")
	enumCompletion(cmd, "protocol", "mqtt", "mqtts", "ws", "wss")
	enumCompletion(cmd, "will-qos", "0", "1", "2")
	cmd.RegisterFlagCompletionFunc("profile", completeProfileNames)
}

// completeProfileNames offers the saved profiles' names.
func completeProfileNames(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	path, err := profiles.DefaultPath()
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	f, err := profiles.Load(path)
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	return f.ProfileNames(), cobra.ShellCompDirectiveNoFileComp
}

// enumCompletion makes shell completion offer values for flag.
func enumCompletion(cmd *cobra.Command, flag string, values ...string) {
	cmd.RegisterFlagCompletionFunc(flag, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
}

// parseVersion accepts the spellings of mosquitto (-V mqttv311), MQTTX
// (-V 5) and people (3.1.1).
func parseVersion(s string) (packet.Version, error) {
	switch strings.ToLower(s) {
	case "5", "5.0", "mqttv5", "v5":
		return packet.V5, nil
	case "3.1.1", "311", "mqttv311", "4":
		return packet.V311, nil
	case "3.1", "31", "mqttv31", "3":
		return packet.V31, nil
	}
	return 0, fmt.Errorf("-V/--mqtt-version %q: use 5, 3.1.1 or 3.1", s)
}

// parseUserProperty accepts k=v and "k: v"; whichever separator comes
// first splits, so "url: a=b" and "k=a:b" both mean what they look like.
func parseUserProperty(s string) (packet.UserProperty, error) {
	eq, colon := strings.IndexByte(s, '='), strings.IndexByte(s, ':')
	switch {
	case eq > 0 && (colon < 0 || eq < colon):
		return packet.UserProperty{Key: s[:eq], Value: s[eq+1:]}, nil
	case colon > 0 && strings.TrimSpace(s[:colon]) != "": // " : v" has no key (found by FuzzFlagValues)
		return packet.UserProperty{Key: strings.TrimSpace(s[:colon]), Value: strings.TrimSpace(s[colon+1:])}, nil
	}
	return packet.UserProperty{}, fmt.Errorf("user property %q: write it as key=value or \"key: value\"", s)
}

func parseUserProperties(flag string, in []string) ([]packet.UserProperty, error) {
	var out []packet.UserProperty
	for _, s := range in {
		p, err := parseUserProperty(s)
		if err != nil {
			return nil, usageError(fmt.Errorf("--%s: %w", flag, err))
		}
		out = append(out, p)
	}
	return out, nil
}

// brokerURL works out the URL from -L, or from --protocol, -h and -p.
// It returns the topic when -L carries one (mqtt://host/topic).
func (f *ConnFlags) brokerURL() (u *url.URL, topic string, err error) {
	if f.URL != "" {
		raw := f.URL
		if !strings.Contains(raw, "://") {
			raw = "mqtt://" + raw
		}
		scheme, rest, _ := strings.Cut(raw, "://")
		switch strings.ToLower(scheme) {
		case "mqtt", "mqtts", "tcp", "ssl", "tls":
			// As in mosquitto, everything after the host's '/' is the
			// topic, byte for byte: '#' is a wildcard, not a URL
			// fragment, '?' is not a query, and nothing is
			// percent-decoded.
			var hasTopic bool
			rest, topic, hasTopic = strings.Cut(rest, "/")
			if hasTopic && topic == "" {
				return nil, "", usageError(fmt.Errorf("-L %q: the topic after the host is empty", f.URL))
			}
			raw = scheme + "://" + rest
		}
		u, err = client.ParseURL(raw)
		if err != nil {
			return nil, "", usageError(fmt.Errorf("-L: %w", err))
		}
		return u, topic, nil
	}
	scheme := f.Protocol
	if scheme == "" {
		scheme = "mqtt"
		// mosquitto_pub turns TLS on when a CA or certificate is given.
		if f.CAFile != "" || f.CAPath != "" || f.OSCerts || f.Cert != "" || f.Insecure {
			scheme = "mqtts"
		}
	}
	port := f.Port
	if f.changed("port") && (port < 1 || port > 65535) {
		return nil, "", usageError(fmt.Errorf("-p/--port %d: a port is 1 to 65535", port))
	}
	if port == 0 {
		port = map[string]int{"mqtt": 1883, "mqtts": 8883, "ws": 80, "wss": 443}[scheme]
	}
	raw := scheme + "://" + net.JoinHostPort(f.Host, strconv.Itoa(port))
	if scheme == "ws" || scheme == "wss" {
		raw += f.WSPath
	}
	u, err = client.ParseURL(raw)
	if err != nil {
		return nil, "", usageError(fmt.Errorf("--protocol %q: %w", f.Protocol, err))
	}
	return u, "", nil
}

// options turns the flags into client options. topic is the one -L
// named, if any.
func (f *ConnFlags) options(ios *IOStreams) (o client.Options, topic string, err error) {
	if f.Profile != "" {
		if err := f.applyProfile(); err != nil {
			return o, "", err
		}
	}
	u, topic, err := f.brokerURL()
	if err != nil {
		return o, "", err
	}
	if o.Version, err = parseVersion(f.Version); err != nil {
		return o, "", usageError(err)
	}
	if u.User != nil {
		o.Username = u.User.Username()
		if p, ok := u.User.Password(); ok {
			o.Password, o.PasswordSet = []byte(p), true
		}
		u.User = nil
	}
	o.URL = u.String()
	if f.Username != "" {
		o.Username = f.Username
	}
	switch {
	case f.changed("password") || f.profilePassword:
		o.Password, o.PasswordSet = []byte(f.Password), true
	case f.PasswordEnv != "":
		v, ok := os.LookupEnv(f.PasswordEnv)
		if !ok {
			return o, "", usageError(fmt.Errorf("--password-env %s: that environment variable is not set", f.PasswordEnv))
		}
		o.Password, o.PasswordSet = []byte(v), true
	case f.PasswordFile != "":
		b, err := os.ReadFile(f.PasswordFile)
		if err != nil {
			return o, "", usageError(fmt.Errorf("--password-file: %w", err))
		}
		o.Password, o.PasswordSet = []byte(strings.TrimRight(string(b), "\r\n")), true
	}
	if f.PSK != "" || f.PSKIdentity != "" {
		return o, "", usageError(errors.New("--psk/--psk-identity: TLS-PSK is not possible here: Go's crypto/tls implements no pre-shared-key cipher suites; use certificates (--cafile, --cert, --key)"))
	}
	o.ClientID = f.ClientID
	if f.IDPrefix != "" {
		if f.ClientID != "" {
			return o, "", usageError(errors.New("-i and -I both set the client id: give one"))
		}
		o.ClientID = f.IDPrefix + strconv.Itoa(os.Getpid())
	}
	if f.Persistent && f.ClientID == "" {
		// As mosquitto: a session kept under an id the broker made up (or
		// the pid) could never be resumed.
		return o, "", usageError(errors.New("-c/--no-clean keeps the session under the client id: give one with -i"))
	}
	if o.Version == packet.V31 && o.ClientID == "" {
		// 3.1 brokers reject an empty client id, so make one up (23
		// characters at most, the 3.1 limit). Random, not the pid: two
		// commands from one script must not take over each other's session.
		o.ClientID = "mqttboard-" + randomHex(6)
	}
	if f.KeepAlive < 0 || f.KeepAlive > 65535 {
		return o, "", usageError(fmt.Errorf("-k/--keepalive %d: use 0 (off) to 65535 seconds", f.KeepAlive))
	}
	o.KeepAlive = time.Duration(f.KeepAlive) * time.Second
	if f.KeepAlive == 0 {
		o.KeepAlive = -1
	}
	o.Persistent = f.Persistent
	if f.changed("session-expiry") {
		v := f.SessionExpiry
		o.SessionExpiry = &v
	} else if f.Persistent && o.Version == packet.V5 {
		// In MQTT 5 a session without Session Expiry ends with the
		// connection, so -c alone would keep nothing; mosquitto_sub -c
		// asks for a session that never expires, and so do we.
		v := uint32(0xFFFFFFFF)
		o.SessionExpiry = &v
	}
	if f.changed("receive-maximum") {
		v := f.ReceiveMaximum
		o.ReceiveMaximum = &v
	}
	if f.changed("maximum-packet-size") {
		v := f.MaximumPacketSize
		o.MaximumPacketSize = &v
	}
	if f.changed("topic-alias-maximum") {
		v := f.TopicAliasMaximum
		o.TopicAliasMaximum = &v
	}
	o.RequestResponseInfo = f.RequestResponseInfo
	o.NoProblemInfo = f.NoProblemInfo
	if o.UserProperties, err = parseUserProperties("connect-user-property", f.ConnectUser); err != nil {
		return o, "", err
	}
	o.AuthMethod = f.AuthMethod
	if f.AuthData != "" {
		o.AuthData = []byte(f.AuthData)
	}
	o.TLS = client.TLSOptions{CAFile: f.CAFile, CAPath: f.CAPath, OSCerts: f.OSCerts, CertFile: f.Cert, KeyFile: f.Key,
		Insecure: f.Insecure, ServerName: f.SNI, ALPN: f.ALPN}
	switch strings.ToLower(f.TLSVersion) {
	case "":
	case "tlsv1.2", "1.2":
		o.TLS.Version = tls.VersionTLS12
	case "tlsv1.3", "1.3":
		o.TLS.Version = tls.VersionTLS13
	case "tlsv1", "tlsv1.1":
		return o, "", usageError(fmt.Errorf("--tls-version %s: mqttboard speaks TLS 1.2 and 1.3 only (older versions are broken)", f.TLSVersion))
	default:
		return o, "", usageError(fmt.Errorf("--tls-version %q: use tlsv1.2 or tlsv1.3", f.TLSVersion))
	}
	if f.Ciphers != "" {
		if o.TLS.Ciphers, err = parseCiphers(f.Ciphers); err != nil {
			return o, "", err
		}
	}
	o.BindAddress, o.UnixSocket, o.Proxy = f.BindAddress, f.Unix, f.Proxy
	if f.changed("disconnect-session-expiry") {
		o.DisconnectProps.SessionExpiry = f.DisconnectSessionExpiry
		o.DisconnectProps.Present = o.DisconnectProps.Present.Add(packet.PropSessionExpiry)
	}
	if o.DisconnectProps.User, err = parseUserProperties("disconnect-user-property", f.DisconnectUser); err != nil {
		return o, "", err
	}
	if f.WillTopic != "" {
		if f.WillQoS < 0 || f.WillQoS > 2 {
			return o, "", usageError(fmt.Errorf("--will-qos %d: use 0, 1 or 2", f.WillQoS))
		}
		w := &client.Message{Topic: f.WillTopic, Payload: []byte(f.WillPayload), QoS: byte(f.WillQoS), Retain: f.WillRetain}
		w.Props.ContentType = f.WillContentType
		w.Props.ResponseTopic = f.WillResponseTopic
		if f.WillCorrelation != "" {
			w.Props.CorrelationData = []byte(f.WillCorrelation)
		}
		if f.changed("will-delay") {
			w.Props.WillDelay = f.WillDelay
			w.Props.Present = w.Props.Present.Add(packet.PropWillDelay)
		}
		if f.changed("will-message-expiry") {
			w.Props.MessageExpiry = f.WillExpiry
			w.Props.Present = w.Props.Present.Add(packet.PropMessageExpiry)
		}
		if f.WillPayloadFormat >= 0 {
			w.Props.PayloadFormat = byte(f.WillPayloadFormat)
			w.Props.Present = w.Props.Present.Add(packet.PropPayloadFormat)
		}
		if w.Props.User, err = parseUserProperties("will-user-property", f.WillUser); err != nil {
			return o, "", err
		}
		o.Will = w
	} else if f.WillPayload != "" || f.changed("will-qos") || f.WillRetain {
		return o, "", usageError(errors.New("will flags need --will-topic"))
	}
	o.ConnectTimeout = f.ConnectTimeout
	if f.Debug {
		o.Trace = traceWriter(ios.ErrOut)
	}
	return o, topic, nil
}

// parseCiphers reads --ciphers: Go's (IANA) cipher suite names, or
// OpenSSL's names as mosquitto users write them.
func parseCiphers(list string) ([]uint16, error) {
	byName := map[string]uint16{}
	for _, c := range tls.CipherSuites() {
		byName[c.Name] = c.ID
		byName[opensslName(c.Name)] = c.ID
	}
	var ids []uint16
	for _, n := range strings.FieldsFunc(list, func(r rune) bool { return r == ':' || r == ',' }) {
		id, ok := byName[n]
		if !ok {
			var names []string
			for _, c := range tls.CipherSuites() {
				if slices.Contains(c.SupportedVersions, tls.VersionTLS12) {
					names = append(names, opensslName(c.Name))
				}
			}
			return nil, usageError(fmt.Errorf("--ciphers: %q is not a TLS 1.2 cipher suite Go offers (TLS 1.3 suites are not configurable in Go); use: %s", n, strings.Join(names, ":")))
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// opensslName turns TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 into
// ECDHE-RSA-AES128-GCM-SHA256.
func opensslName(iana string) string {
	s := strings.TrimPrefix(iana, "TLS_")
	s = strings.Replace(s, "_WITH_", "_", 1)
	s = strings.NewReplacer("AES_128", "AES128", "AES_256", "AES256", "CHACHA20_POLY1305_SHA256", "CHACHA20_POLY1305").Replace(s)
	return strings.ReplaceAll(s, "_", "-")
}

// applyProfile fills every flag the command line did not set from the
// saved profile f.Profile: flags override the profile.
func (f *ConnFlags) applyProfile() error {
	path, err := profiles.DefaultPath()
	if err != nil {
		return err
	}
	file, err := profiles.Load(path)
	if err != nil {
		return err
	}
	p, ok := file.Profile(f.Profile)
	if !ok {
		var names []string
		for _, q := range file.Profiles {
			names = append(names, q.Name)
		}
		return usageError(fmt.Errorf("--profile %s: no such profile in %s (saved: %s)", f.Profile, path, strings.Join(names, ", ")))
	}
	if p.Local {
		return usageError(fmt.Errorf("--profile %s is the board's in-process broker; commands need a broker URL (-L)", f.Profile))
	}
	str := func(flag string, dst *string, v string) {
		if v != "" && !f.changed(flag) {
			*dst = v
		}
	}
	if p.URL != "" && !f.changed("url") && !f.changed("host") && !f.changed("port") && !f.changed("protocol") {
		f.URL = p.URL
	}
	str("mqtt-version", &f.Version, p.Version)
	str("id", &f.ClientID, p.ClientID)
	str("username", &f.Username, p.Username)
	// Any password flag (-P, --password-env, --password-file) beats the
	// profile's password and password_env.
	if !f.changed("password") && f.PasswordEnv == "" && f.PasswordFile == "" {
		pw, ok, err := p.PasswordValue()
		if err != nil {
			return usageError(fmt.Errorf("--profile %s: %w", f.Profile, err))
		}
		if ok {
			f.Password = pw
			f.profilePassword = true
		}
	}
	str("cafile", &f.CAFile, p.CAFile)
	str("cert", &f.Cert, p.CertFile)
	str("key", &f.Key, p.KeyFile)
	str("sni", &f.SNI, p.SNI)
	if len(p.ALPN) > 0 && !f.changed("alpn") && !f.changed("tls-alpn") {
		f.ALPN = p.ALPN
	}
	if p.Insecure && !f.changed("insecure") {
		f.Insecure = true
	}
	if p.KeepAlive != 0 && !f.changed("keepalive") {
		f.KeepAlive = p.KeepAlive
	}
	if p.Persistent && !f.changed("no-clean") {
		f.Persistent = true
	}
	set := func(flag string, nonzero bool, value string) {
		if nonzero && !f.changed(flag) {
			f.set(flag, value)
		}
	}
	set("session-expiry", p.SessionExpiry != 0, strconv.FormatUint(uint64(p.SessionExpiry), 10))
	set("receive-maximum", p.ReceiveMaximum != 0, strconv.FormatUint(uint64(p.ReceiveMaximum), 10))
	set("maximum-packet-size", p.MaximumPacketSize != 0, strconv.FormatUint(uint64(p.MaximumPacketSize), 10))
	set("topic-alias-maximum", p.TopicAliasMaximum != 0, strconv.FormatUint(uint64(p.TopicAliasMaximum), 10))
	if p.RequestResponseInfo && !f.changed("request-response-info") {
		f.RequestResponseInfo = true
	}
	if !f.changed("connect-user-property") {
		for _, u := range p.User {
			f.ConnectUser = append(f.ConnectUser, u.Key+"="+u.Value)
		}
	}
	f.profile = p
	if w := p.Will; w != nil && !f.changed("will-topic") {
		f.WillTopic, f.WillPayload, f.WillQoS, f.WillRetain = w.Topic, w.Payload, int(w.QoS), w.Retain
		set("will-delay", w.Delay != 0, strconv.FormatUint(uint64(w.Delay), 10))
		for _, u := range w.User {
			f.WillUser = append(f.WillUser, u.Key+"="+u.Value)
		}
	}
	return nil
}

// traceWriter prints the packet trace, one packet a line: "> " sent,
// "< " received.
func traceWriter(w io.Writer) func(client.TracePacket) {
	var mu sync.Mutex
	return func(tp client.TracePacket) {
		mu.Lock()
		defer mu.Unlock()
		dir := "<"
		if tp.Out {
			dir = ">"
		}
		if tp.Err != nil {
			fmt.Fprintf(w, "%s undecodable packet (%d bytes): %v\n", dir, tp.Size, tp.Err)
			return
		}
		fmt.Fprintf(w, "%s %s\n", dir, tp.Packet)
	}
}

// connect creates the client and connects, mapping failures to exit codes.
func connect(ctx context.Context, o client.Options) (*client.Client, error) {
	c, err := client.New(o)
	if err != nil {
		return nil, usageError(err)
	}
	if _, err := c.Connect(ctx); err != nil {
		return nil, clientExit(err)
	}
	return c, nil
}

// clientExit tags a client error with its exit code.
func clientExit(err error) error {
	var (
		de *client.DialError
		re *client.RefusedError
		ne *client.ReasonError
		se *client.DisconnectedError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &de):
		return withExit(ExitConnect, err)
	case errors.As(err, &re), errors.As(err, &ne), errors.As(err, &se):
		return withExit(ExitRefused, err)
	}
	return err
}

// dPropFlags maps mosquitto's -D COMMAND IDENTIFIER to the flag that sets
// the same property, per command; user-property takes two values.
var dPropFlags = map[string]map[string]string{
	"connect": {
		"session-expiry-interval":      "session-expiry",
		"receive-maximum":              "receive-maximum",
		"maximum-packet-size":          "maximum-packet-size",
		"topic-alias-maximum":          "topic-alias-maximum",
		"request-response-information": "request-response-info",
		"request-problem-information":  "no-problem-info",
		"authentication-method":        "auth-method",
		"authentication-data":          "auth-data",
		"user-property":                "connect-user-property",
	},
	"publish": {
		"payload-format-indicator": "payload-format",
		"message-expiry-interval":  "message-expiry",
		"content-type":             "content-type",
		"response-topic":           "response-topic",
		"correlation-data":         "correlation-data",
		"topic-alias":              "topic-alias",
		"user-property":            "user-property",
	},
	"subscribe": {
		"subscription-identifier": "subscription-id",
		"user-property":           "user-property",
	},
	"disconnect": {
		"session-expiry-interval": "disconnect-session-expiry",
		"user-property":           "disconnect-user-property",
	},
	"will": {
		"will-delay-interval":      "will-delay",
		"payload-format-indicator": "will-payload-format",
		"message-expiry-interval":  "will-message-expiry",
		"content-type":             "will-content-type",
		"response-topic":           "will-response-topic",
		"correlation-data":         "will-correlation-data",
		"user-property":            "will-user-property",
	},
}

// addDFlag registers mosquitto's -D/--property. pflag gives a flag one
// value, so -D takes the COMMAND and the identifier and values that follow
// it arrive as positional arguments, in order; applyDFlags puts them
// back together. Commands using it take no other positional arguments.
func addDFlag(cmd *cobra.Command, d *[]string) {
	cmd.Flags().StringArrayVarP(d, "property", "D", nil,
		"mosquitto-style property: -D COMMAND NAME VALUE, e.g. -D publish user-property k v, -D connect session-expiry-interval 60")
}

func applyDFlags(cmd *cobra.Command, ds []string, args []string) error {
	for _, command := range ds {
		names, ok := dPropFlags[strings.ToLower(command)]
		if !ok {
			return usageError(fmt.Errorf("-D %s: COMMAND must be connect, publish, subscribe, disconnect or will", command))
		}
		if len(args) < 2 {
			return usageError(fmt.Errorf("-D %s: give a property name and value, e.g. -D %s user-property key value", command, command))
		}
		id := strings.ToLower(args[0])
		flag, ok := names[id]
		if !ok || cmd.Flags().Lookup(flag) == nil {
			return usageError(fmt.Errorf("-D %s %s: not a property this command can set on %s", command, args[0], strings.ToUpper(command)))
		}
		value := args[1]
		args = args[2:]
		if id == "user-property" {
			if len(args) < 1 {
				return usageError(fmt.Errorf("-D %s user-property %s: give a key and a value", command, value))
			}
			value += "=" + args[0]
			args = args[1:]
		}
		switch id {
		case "request-problem-information":
			value = strconv.FormatBool(value == "0")
		case "request-response-information":
			value = strconv.FormatBool(value != "0")
		}
		if err := cmd.Flags().Set(flag, value); err != nil {
			return usageError(fmt.Errorf("-D %s %s %s: %w", command, id, value, err))
		}
	}
	if len(args) > 0 {
		return usageError(fmt.Errorf("unexpected argument %q (quote a message with spaces: -m \"a b\")", args[0]))
	}
	return nil
}
