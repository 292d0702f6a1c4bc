package cli

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/auth"
	"github.com/mqttboard/mqttboard/broker/cluster"
	"github.com/mqttboard/mqttboard/broker/listeners"
	"github.com/mqttboard/mqttboard/broker/restapi"
	"github.com/mqttboard/mqttboard/broker/storage"
	"github.com/spf13/cobra"
)

// BrokerOptions are the flags of `mqttboard broker`.
type BrokerOptions struct {
	IO        *IOStreams
	Listen    []string // MQTT over TCP
	TLSListen []string // MQTT over TLS
	WSListen  []string // MQTT over WebSocket
	WSSListen []string // MQTT over secure WebSocket
	WSPath    string
	CertFile  string
	KeyFile   string
	Config    string
	LogLevel  string
	NoStamp   bool   // a strictly standard broker: no flespi stamping
	HTTP      string // REST API, /metrics and /healthz address ("" none)
	HTTPTLS   bool   // serve HTTPS with --cert/--key
	Auth      string // "none" (open sandbox) or "token" (flespi tokens)
	// MasterToken is the bootstrap master token (--master-token, else
	// MQTTBOARD_MASTER_TOKEN, else the config file, else generated).
	MasterToken string
	// Cluster mode (docs/cluster.md): this node's route address, the
	// peers to join and its name.
	ClusterListen string
	ClusterPeers  []string
	// ClusterSecret authenticates the routes between nodes
	// (--cluster-secret, else MQTTBOARD_CLUSTER_SECRET, else
	// cluster.secret in the config).
	ClusterSecret string
	NodeName      string

	Data  string // data directory of the persistent store ("" in memory)
	Fsync string // always, batch or never ("" config or batch)

	registry   *auth.Registry // with --auth token, for the REST API
	node       *cluster.Node  // opened with the replicated store (--data in a cluster)
	logger     *slog.Logger
	maxPayload int
}

// NewCmdBroker builds `mqttboard broker`; runF replaces the run function in
// tests that only check flag parsing.
func NewCmdBroker(ios *IOStreams, runF func(context.Context, *BrokerOptions) error) *cobra.Command {
	o := &BrokerOptions{IO: ios}
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run the bundled MQTT 3.1/3.1.1/5.0 broker",
		Long: `Run the bundled MQTT broker until interrupted (SIGINT or SIGTERM shut it down
gracefully: MQTT 5 clients get DISCONNECT 0x8B and wills are sent).

Listeners: --listen (TCP), --tls-listen, --ws-listen and --wss-listen, each
repeatable. TLS and WSS need --cert and --key. --config names a YAML file
(JSON works too) with limits, an ACL and the flespi stamping switch (see
README). --http serves the REST API (/mqtt/messages, /mqtt/sessions,
/mqtt/logs), /metrics and /healthz; the sessions, retained and logs
subcommands are its clients.

--auth token reproduces flespi's access model: clients present tokens
(as user name, password, "FlespiToken <key>", or id + 16-character
prefix), tokens carry ACLs and lifetimes, and subaccounts are isolated topic
namespaces; /platform/tokens and /platform/subaccounts manage them over
--http. The root master token comes from --master-token,
MQTTBOARD_MASTER_TOKEN or the config, else is generated and printed once
(kept with --data).

--data DIR keeps persistent sessions (with their queued and in-flight
messages), retained messages and tokens in DIR across restarts and crashes;
a QoS 1/2 PUBLISH is then acknowledged only once it is on disk. --fsync says
when the disk is synced: batch (default, at most every 2 ms), always, or
never (a crash of the broker loses nothing, a power failure may lose the
last seconds). One broker at a time may use DIR.`,
		Example: `  mqttboard broker
  mqttboard broker --listen 0.0.0.0:1883 --ws-listen :8080 --config broker.yaml
  mqttboard broker --tls-listen :8883 --cert server.pem --key server.key
  mqttboard broker --http 9080    # then: curl localhost:9080/mqtt/sessions/all`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(o.TLSListen)+len(o.WSSListen) > 0 && (o.CertFile == "" || o.KeyFile == "") {
				return usageError(errors.New("--tls-listen and --wss-listen need --cert and --key"))
			}
			if err := o.validateListeners(); err != nil {
				return err
			}
			if err := o.validateCluster(); err != nil {
				return err
			}
			if o.HTTPTLS && (o.CertFile == "" || o.KeyFile == "") {
				return usageError(errors.New("--http-tls needs --cert and --key"))
			}
			switch o.Auth {
			case "", "none", "token":
			default:
				return usageError(fmt.Errorf("--auth %q: use none (open sandbox) or token (flespi tokens)", o.Auth))
			}
			if o.MasterToken != "" && !auth.ValidKey(o.MasterToken) {
				return usageError(fmt.Errorf("--master-token: %d characters; a token key is 64 printable characters without spaces", len(o.MasterToken)))
			}
			if o.MasterToken != "" && o.Auth == "none" {
				return usageError(errors.New("--master-token needs --auth token"))
			}
			if _, err := storage.ParseFsyncMode(o.Fsync); err != nil {
				return usageError(fmt.Errorf("--fsync %q: use always, batch or never", o.Fsync))
			}
			if o.Fsync != "" && o.Data == "" && o.Config == "" {
				return usageError(errors.New("--fsync needs --data DIR (or storage.dir in --config)"))
			}
			switch o.LogLevel {
			case "debug", "info", "warn", "error":
			default:
				return usageError(fmt.Errorf("--log-level %q: use debug, info, warn or error", o.LogLevel))
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return brokerRun(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.Listen, "listen", nil, "MQTT over TCP address (repeatable; default 127.0.0.1:1883 when no listener is given)")
	f.StringArrayVar(&o.TLSListen, "tls-listen", nil, "MQTT over TLS address (repeatable)")
	f.StringArrayVar(&o.WSListen, "ws-listen", nil, "MQTT over WebSocket address (repeatable)")
	f.StringArrayVar(&o.WSSListen, "wss-listen", nil, "MQTT over secure WebSocket address (repeatable)")
	f.StringVar(&o.WSPath, "ws-path", "/mqtt", "HTTP path of the WebSocket listeners")
	f.StringVar(&o.CertFile, "cert", "", "PEM certificate for TLS and WSS")
	f.StringVar(&o.KeyFile, "key", "", "PEM private key for TLS and WSS")
	f.StringVar(&o.Config, "config", "", "YAML configuration file: limits, ACL, stamp, storage, auth, http, logs, cluster (see README; JSON is read too)")
	f.StringVar(&o.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.StringVar(&o.HTTP, "http", "", "serve the REST API, /metrics and /healthz on host:port (a bare port binds to 127.0.0.1; open to anyone who reaches it unless --auth token, which requires \"Authorization: FlespiToken <key>\" on all but /healthz)")
	f.BoolVar(&o.HTTPTLS, "http-tls", false, "serve the HTTP API over TLS with --cert and --key")
	f.StringVar(&o.Auth, "auth", "", "client authentication: none (open sandbox, every client in account 1) or token (flespi tokens, ACLs and account namespaces; config: auth.mode)")
	f.StringVar(&o.MasterToken, "master-token", "", "with --auth token: the root account's master token key, 64 characters (env MQTTBOARD_MASTER_TOKEN; default: generated and printed once)")
	f.StringVar(&o.Data, "data", "", "keep persistent sessions, their messages, retained messages and tokens in this directory across restarts (config: storage.dir)")
	f.StringVar(&o.Fsync, "fsync", "", "with --data: when to sync the disk: batch (default), always or never (config: storage.fsync)")
	f.StringVar(&o.ClusterListen, "cluster-listen", "", "run as a cluster node: host:port the other nodes connect to (see docs/cluster.md; config: cluster.listen)")
	f.StringArrayVar(&o.ClusterPeers, "cluster-peer", nil, "host:port of another node's --cluster-listen to join (repeatable; any one live node is enough)")
	f.StringVar(&o.ClusterSecret, "cluster-secret", "", "a secret every node of the cluster shares: routes from nodes without it are refused (env MQTTBOARD_CLUSTER_SECRET; config: cluster.secret)")
	f.StringVar(&o.NodeName, "node-name", "", "this node's name in the cluster, unique (default: host name and cluster port)")
	f.BoolVar(&o.NoStamp, "no-stamp", false, "strictly standard MQTT: no flespi timestamp/cid user properties on messages, no CONNACK user properties (config: stamp: false)")
	for _, kind := range []string{"sessions", "retained", "logs"} {
		cmd.AddCommand(newCmdBrokerAPI(ios, kind, nil))
	}
	return cmd
}

func brokerRun(ctx context.Context, o *BrokerOptions) error {
	// The broker's log (its connections', NATS's goroutines) and this
	// function's own messages go to ErrOut at once: one lock for all, so
	// that a writer not safe for concurrent use (a test's buffer) works
	// and lines never interleave.
	ios := *o.IO
	ios.ErrOut = &lockedWriter{w: o.IO.ErrOut}
	o.IO = &ios
	var lvl slog.Level
	lvl.UnmarshalText([]byte(o.LogLevel))
	opts := broker.Options{Logger: slog.New(slog.NewTextHandler(o.IO.ErrOut, &slog.HandlerOptions{Level: lvl}))}
	var cfgHTTP *broker.HTTPConfig
	var cfgStorage *broker.StorageConfig
	var cfgMaster string // auth.master_token of the configuration file
	var cfgCluster *broker.ClusterConfig
	if o.Config != "" {
		cfg, err := broker.LoadConfig(o.Config)
		if err != nil {
			return usageError(err)
		}
		cfg.Apply(&opts)
		cfgHTTP = cfg.HTTP
		cfgStorage = cfg.Storage
		cfgCluster = cfg.Cluster
		if a := cfg.Auth; a != nil {
			if o.Auth == "" {
				o.Auth = a.Mode
			}
			cfgMaster = a.MasterToken
		}
	}
	if cfgCluster != nil {
		o.clusterFromConfig(cfgCluster)
		if err := o.validateCluster(); err != nil {
			return err
		}
	}
	o.logger, o.maxPayload = opts.Logger, cmp.Or(opts.MaxPayload, 60<<20) // for the cluster's store
	st, dir, err := openStore(ctx, o, cfgStorage)
	if err != nil {
		return withExit(ExitError, err)
	}
	if o.Auth == "token" {
		// The master token: the flag, else the environment, else the
		// configuration file. MQTTBOARD_MASTER_TOKEN is only read here,
		// so a value set for another broker never stops an open one.
		if o.MasterToken == "" {
			if k := os.Getenv("MQTTBOARD_MASTER_TOKEN"); k != "" {
				if !auth.ValidKey(k) {
					if st != nil {
						st.Close()
					}
					return usageError(fmt.Errorf("MQTTBOARD_MASTER_TOKEN: %d characters; a token key is 64 printable characters without spaces", len(k)))
				}
				o.MasterToken = k
			} else {
				o.MasterToken = cfgMaster
			}
		}
		// In a cluster every node shares the tokens (docs/cluster.md),
		// and each node would otherwise generate its own master token.
		if o.MasterToken == "" && (o.ClusterListen != "" || cfgCluster != nil && cfgCluster.Listen != "") {
			if st != nil {
				st.Close()
			}
			return usageError(errors.New("--auth token in a cluster needs the same master token on every node: give each node --master-token KEY (or MQTTBOARD_MASTER_TOKEN, or auth.master_token in the config); make one with `openssl rand -hex 32`"))
		}
		// Tokens and accounts live in the broker's store: on disk with
		// --data, else in memory.
		var kv storage.Store = storage.NewMem()
		if st != nil {
			kv = st
		}
		reg, generated, err := auth.Open(kv, auth.Options{Root: opts.AccountID, MasterKey: o.MasterToken})
		if err != nil {
			if st != nil {
				st.Close()
			}
			return withExit(ExitError, err)
		}
		defer reg.Close()
		opts.Auth = reg
		o.registry = reg
		if generated != "" {
			fmt.Fprintf(o.IO.Out, "master token (shown once; keep it): %s\n", generated)
		}
	}
	if o.NoStamp {
		opts.NoStamp = true
	}
	if cfgHTTP != nil && o.HTTP == "" {
		o.HTTP, o.HTTPTLS = cfgHTTP.Listen, o.HTTPTLS || cfgHTTP.TLS
		if err := checkHTTPAddr(o.Config+": http.listen", o.HTTP); err != nil {
			return err
		}
	}
	if len(o.Listen)+len(o.TLSListen)+len(o.WSListen)+len(o.WSSListen) == 0 {
		o.Listen = []string{"127.0.0.1:1883"}
	}
	var s *broker.Server
	if st != nil {
		start := time.Now()
		opts.Store = st
		if s, err = broker.Open(opts); err != nil { // closes the store on failure
			return withExit(ExitError, fmt.Errorf("--data %s: %w", dir, err))
		}
		fmt.Fprintf(o.IO.ErrOut, "data directory %s recovered in %s\n", dir, time.Since(start).Round(time.Millisecond))
	} else {
		s = broker.New(opts)
	}
	type bound struct {
		kind string
		l    net.Listener
	}
	var ls []bound
	fail := func(err error) error {
		for _, b := range ls {
			b.l.Close()
		}
		s.Close() // releases the data directory
		if o.node != nil {
			o.node.Close() // its NATS server and routes
		}
		return withExit(ExitError, err)
	}
	if o.ClusterListen != "" && o.node == nil {
		// Open the node before any MQTT listener binds: a node name a
		// live member already has is refused here, before a client can
		// connect (with --data, openClusterStore opened it already).
		if err := o.openClusterNode(s.Limits().MaxPayload, opts.Logger); err != nil { // broker_cluster.go
			return fail(err)
		}
	}
	for _, a := range o.Listen {
		l, err := listeners.TCP(a)
		if err != nil {
			return fail(err)
		}
		ls = append(ls, bound{"mqtt", l})
	}
	if len(o.TLSListen)+len(o.WSSListen) > 0 {
		tc, err := listeners.LoadCert(o.CertFile, o.KeyFile)
		if err != nil {
			return fail(err)
		}
		for _, a := range o.TLSListen {
			l, err := listeners.TLS(a, tc)
			if err != nil {
				return fail(err)
			}
			ls = append(ls, bound{"mqtts", l})
		}
		for _, a := range o.WSSListen {
			l, err := listeners.WebSocket(a, o.WSPath, tc)
			if err != nil {
				return fail(err)
			}
			ls = append(ls, bound{"wss", l})
		}
	}
	for _, a := range o.WSListen {
		l, err := listeners.WebSocket(a, o.WSPath, nil)
		if err != nil {
			return fail(err)
		}
		ls = append(ls, bound{"ws", l})
	}
	var urls []string // told to the REST API's /healthz
	for _, b := range ls {
		if err := s.AddListener(b.l); err != nil {
			return fail(err)
		}
		path := ""
		if b.kind == "ws" || b.kind == "wss" {
			path = o.WSPath
		}
		u := fmt.Sprintf("%s://%s%s", b.kind, b.l.Addr(), path)
		urls = append(urls, u)
		fmt.Fprintf(o.IO.Out, "listening on %s\n", u)
	}
	if o.ClusterListen != "" {
		node, err := o.joinCluster(s) // broker_cluster.go
		if err != nil {
			return fail(err)
		}
		defer node.Close() // after Serve: the last wills still reach the other nodes
		fmt.Fprintf(o.IO.Out, "cluster node %s on %s", node.Name(), node.ClusterAddr())
		if len(o.ClusterPeers) > 0 {
			fmt.Fprintf(o.IO.Out, ", joining %s", strings.Join(o.ClusterPeers, " "))
		}
		fmt.Fprintln(o.IO.Out)
		if host, _, _ := net.SplitHostPort(node.ClusterAddr().String()); !net.ParseIP(host).IsLoopback() && o.ClusterSecret == "" {
			fmt.Fprintf(o.IO.ErrOut, "warning: the cluster port %s is reachable from the network and has no authentication: give every node the same --cluster-secret, and keep it on a private network\n", node.ClusterAddr())
		}
	}
	var api *http.Server
	if o.HTTP != "" {
		var err error
		if api, err = startAPI(s, o, urls); err != nil {
			return fail(err)
		}
	}
	err = s.Serve(ctx) // returns after a graceful shutdown once ctx is cancelled
	if api != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		api.Shutdown(sctx)
		cancel()
	}
	if errors.Is(err, broker.ErrServerClosed) {
		fmt.Fprintf(o.IO.ErrOut, "broker stopped at %s\n", time.Now().Format(time.RFC3339))
		return nil
	}
	return err
}

// openStore opens the store of --data (or the config's storage), nil
// without a data directory. A directory another broker uses is refused
// with storage.ErrLocked, naming its lock.
func openStore(ctx context.Context, o *BrokerOptions, cfg *broker.StorageConfig) (storage.Store, string, error) {
	dir, fsync := o.Data, o.Fsync
	if cfg != nil {
		if dir == "" {
			dir = cfg.Dir
		}
		if fsync == "" {
			fsync = cfg.Fsync
		}
	}
	if dir == "" {
		return nil, "", nil
	}
	mode, err := storage.ParseFsyncMode(fsync)
	if err != nil {
		return nil, "", err
	}
	if o.ClusterListen != "" {
		// A cluster node keeps its state in the cluster's replicated store.
		st, err := o.openClusterStore(ctx, dir, mode) // broker_cluster.go
		return st, dir, err
	}
	st, err := storage.Open(dir, storage.Options{Fsync: mode})
	if err != nil {
		return nil, "", fmt.Errorf("--data %s: %w", dir, err)
	}
	return st, dir, nil
}

// validateListeners checks every listener address and the TLS files
// before anything binds, so a mistake on the command line is a usage error
// (exit 2) naming the flag, not a failure to start.
func (o *BrokerOptions) validateListeners() error {
	for _, l := range []struct {
		flag  string
		addrs []string
	}{{"--listen", o.Listen}, {"--tls-listen", o.TLSListen}, {"--ws-listen", o.WSListen}, {"--wss-listen", o.WSSListen}} {
		for _, a := range l.addrs {
			_, port, err := net.SplitHostPort(a)
			if err != nil {
				if _, perr := strconv.Atoi(a); perr == nil {
					return usageError(fmt.Errorf("%s %s: give host:port, e.g. %s 127.0.0.1:%s (this machine) or %s :%s (every interface)", l.flag, a, l.flag, a, l.flag, a))
				}
				return usageError(fmt.Errorf("%s %s: give host:port, e.g. 127.0.0.1:1883", l.flag, a))
			}
			if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
				return usageError(fmt.Errorf("%s %s: the port is 0 (any free one) to 65535", l.flag, a))
			}
		}
	}
	if o.HTTP != "" {
		if err := checkHTTPAddr("--http", o.HTTP); err != nil {
			return err
		}
	}
	if len(o.TLSListen)+len(o.WSSListen) > 0 {
		for _, f := range [][2]string{{"--cert", o.CertFile}, {"--key", o.KeyFile}} {
			if _, err := os.Stat(f[1]); err != nil {
				return usageError(fmt.Errorf("%s %s: %w", f[0], f[1], errors.Unwrap(err)))
			}
		}
	}
	return nil
}

// checkHTTPAddr checks an address of the HTTP API (from what, a flag or
// the configuration's key): host:port or a bare port, the port a number
// from 0 to 65535. A mistake is a usage error, found before anything binds.
func checkHTTPAddr(what, a string) error {
	_, port, err := net.SplitHostPort(apiAddr(a))
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
		return usageError(fmt.Errorf("%s %s: give host:port or a port (0 to 65535), e.g. 9080 or 127.0.0.1:9080", what, a))
	}
	return nil
}

// validateCluster checks the cluster flags: the peers and the name only
// mean something with --cluster-listen, and every address is host:port.
func (o *BrokerOptions) validateCluster() error {
	if o.ClusterSecret == "" {
		// The flag, else the environment, else the config file (read
		// after this first call).
		o.ClusterSecret = os.Getenv("MQTTBOARD_CLUSTER_SECRET")
	}
	if o.ClusterListen == "" {
		if len(o.ClusterPeers) > 0 || o.NodeName != "" {
			return usageError(errors.New("--cluster-peer and --node-name need --cluster-listen (this node's own cluster address)"))
		}
		return nil
	}
	for _, a := range append([]string{o.ClusterListen}, o.ClusterPeers...) {
		_, port, err := net.SplitHostPort(a)
		if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
			return usageError(fmt.Errorf("cluster address %q: give host:port, e.g. 127.0.0.1:6222", a))
		}
	}
	if o.NodeName != "" && !validNodeName(o.NodeName) {
		return usageError(fmt.Errorf("--node-name %q: use 1 to 64 letters, digits, '-' or '_'", o.NodeName))
	}
	if err := cluster.ValidSecret(o.ClusterSecret); err != nil {
		return usageError(fmt.Errorf("--cluster-secret: %w", err))
	}
	return nil
}

// clusterFromConfig fills what the command line did not set from the
// configuration file's cluster section.
func (o *BrokerOptions) clusterFromConfig(c *broker.ClusterConfig) {
	if o.ClusterListen == "" {
		o.ClusterListen = c.Listen
	}
	if len(o.ClusterPeers) == 0 {
		o.ClusterPeers = c.Peers
	}
	if o.NodeName == "" {
		o.NodeName = c.NodeName
	}
	if o.ClusterSecret == "" {
		o.ClusterSecret = c.Secret
	}
}

func nameByte(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
}

func validNodeName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !nameByte(r) {
			return false
		}
	}
	return true
}

// nodeName is --node-name, or the host name and the cluster port: unique
// for several nodes on one machine and, usually, across machines.
func (o *BrokerOptions) nodeName() string {
	if o.NodeName != "" {
		return o.NodeName
	}
	h, _ := os.Hostname()
	var b []byte
	for _, r := range h {
		if nameByte(r) && len(b) < 40 {
			b = append(b, byte(r))
		}
	}
	if len(b) == 0 {
		b = append(b, "node"...)
	}
	_, port, _ := net.SplitHostPort(o.ClusterListen)
	return string(b) + "-" + port
}

// apiAddr turns a bare port ("8080") into a loopback address: the API has
// no authentication yet, so exposing it takes a host (":8080" is every
// interface, as for --listen, and draws a warning).
func apiAddr(a string) string {
	if !strings.Contains(a, ":") {
		return "127.0.0.1:" + a
	}
	return a
}

// startAPI serves the REST API, /metrics and /healthz of s on --http;
// /healthz reports the MQTT listeners' URLs.
func startAPI(s *broker.Server, o *BrokerOptions, mqttURLs []string) (*http.Server, error) {
	addr := apiAddr(o.HTTP)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--http %s: %w", o.HTTP, err)
	}
	scheme := "http"
	if o.HTTPTLS {
		tc, err := listeners.LoadCert(o.CertFile, o.KeyFile)
		if err != nil {
			l.Close()
			return nil, err
		}
		l = tls.NewListener(l, tc)
		scheme = "https"
	}
	hs := &http.Server{
		Handler:           restapi.New(s, restapi.Options{Tokens: o.registry, Listeners: mqttURLs}),
		ReadHeaderTimeout: 10 * time.Second,  // a client that never finishes its headers is dropped
		IdleTimeout:       120 * time.Second, // idle keep-alive connections do not pile up
	}
	go hs.Serve(l)
	if host, _, _ := net.SplitHostPort(l.Addr().String()); !net.ParseIP(host).IsLoopback() && o.registry == nil {
		fmt.Fprintf(o.IO.ErrOut, "warning: the HTTP API on %s is reachable from the network and has no authentication\n", l.Addr())
	}
	fmt.Fprintf(o.IO.Out, "listening on %s://%s (REST API, /metrics, /healthz)\n", scheme, l.Addr())
	return hs, nil
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
