package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/gorilla/websocket"
	"golang.org/x/net/proxy"

	"github.com/mqttboard/mqttboard/internal/wsconn"
)

// handshakeError is a TLS handshake with the peer that failed: the TCP
// connection was made, so something answered, but not TLS as we expect it.
// Only such an error earns the "is a TLS listener there?" hint.
type handshakeError struct{ err error }

func (e *handshakeError) Error() string { return "TLS handshake: " + e.err.Error() }
func (e *handshakeError) Unwrap() error { return e.err }

// dialer opens the byte stream under MQTT, TLS or WebSocket: TCP from
// BindAddress, through a SOCKS5 Proxy, or a Unix socket.
type dialer struct {
	bind, unix, proxy string
}

func (d dialer) dial(ctx context.Context, addr string) (net.Conn, error) {
	var nd net.Dialer
	if d.unix != "" {
		return nd.DialContext(ctx, "unix", d.unix)
	}
	if d.bind != "" {
		host := d.bind
		if h, _, err := net.SplitHostPort(d.bind); err == nil {
			host = h
		}
		ip := net.ParseIP(host)
		if ip == nil {
			ips, err := net.DefaultResolver.LookupIP(ctx, "ip", host)
			if err != nil || len(ips) == 0 {
				return nil, fmt.Errorf("bind address %s (-A): %v", d.bind, err)
			}
			ip = ips[0]
		}
		nd.LocalAddr = &net.TCPAddr{IP: ip}
	}
	if d.proxy != "" {
		pu, err := url.Parse(d.proxy)
		if err != nil {
			return nil, err
		}
		pd, err := proxy.FromURL(pu, &nd)
		if err != nil {
			return nil, fmt.Errorf("--proxy: %w", err)
		}
		if cd, ok := pd.(proxy.ContextDialer); ok {
			return cd.DialContext(ctx, "tcp", addr)
		}
		return pd.Dial("tcp", addr)
	}
	return nd.DialContext(ctx, "tcp", addr)
}

// dialTLS connects, then shakes hands, so that a refused TCP connection
// and a failed handshake are told apart.
func dialTLS(ctx context.Context, d dialer, addr string, cfg *tls.Config) (net.Conn, error) {
	raw, err := d.dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, &handshakeError{err}
	}
	return tc, nil
}

// dial opens the network connection the MQTT session runs over; base is
// the TLS configuration checked by Options.applyDefaults (nil for plain
// transports).
func dial(ctx context.Context, u *url.URL, o *Options, certAsked *atomic.Bool) (net.Conn, error) {
	d := dialer{bind: o.BindAddress, unix: o.UnixSocket, proxy: o.Proxy}
	switch u.Scheme {
	case "mqtt":
		return d.dial(ctx, u.Host)
	case "mqtts":
		return dialTLS(ctx, d, u.Host, forHost(o.tlsConfig, u, &o.TLS, certAsked))
	case "ws", "wss":
		wd := websocket.Dialer{
			// Brokers speaking MQTT over WebSocket select it by this
			// subprotocol [MQTT-6.0.0-3]; mosquitto refuses without it.
			Subprotocols:    []string{"mqtt"},
			ReadBufferSize:  4096,
			WriteBufferSize: 4096,
		}
		wd.NetDialContext = func(ctx context.Context, _, addr string) (net.Conn, error) { return d.dial(ctx, addr) }
		if u.Scheme == "wss" {
			cfg := forHost(o.tlsConfig, u, &o.TLS, certAsked)
			wd.NetDialTLSContext = func(ctx context.Context, _, addr string) (net.Conn, error) {
				return dialTLS(ctx, d, addr, cfg)
			}
		}
		target := *u
		target.User = nil // credentials go in CONNECT, never to the HTTP server
		ws, resp, err := wd.DialContext(ctx, target.String(), nil)
		if err != nil {
			if resp != nil {
				return nil, fmt.Errorf("WebSocket upgrade of %s refused: %s (check the path)", target.String(), resp.Status)
			}
			return nil, err
		}
		return wsconn.New(ws), nil
	}
	return nil, fmt.Errorf("unknown scheme %q", u.Scheme)
}

// forHost is base for the connection to u: the server name to verify is
// the URL's host unless TLSOptions.ServerName says otherwise.
//
// Without a client certificate it notes in certAsked whether the server
// asked for one: with TLS 1.3 a server that requires one says so only
// after the handshake, in an alert that a client busy writing CONNECT may
// never read (it sees "connection reset"), so the note is what lets the
// error say "give --cert and --key".
func forHost(base *tls.Config, u *url.URL, o *TLSOptions, certAsked *atomic.Bool) *tls.Config {
	cfg := base.Clone()
	cfg.ServerName = u.Hostname()
	if o.ServerName != "" {
		cfg.ServerName = o.ServerName
	}
	if len(cfg.Certificates) == 0 {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			certAsked.Store(true)
			return &tls.Certificate{}, nil // none: the server decides
		}
	}
	return cfg
}

// loadTLS reads the CA, certificate and key files named in o and builds
// the client TLS configuration. It runs before anything is dialled, so a
// file that is missing, unreadable, not PEM or a key that does not match
// its certificate is reported as the local mistake it is, naming the flag
// and the file, not as a broker that could not be reached.
func loadTLS(o *TLSOptions) (*tls.Config, error) {
	cfg := &tls.Config{
		InsecureSkipVerify: o.Insecure,
		NextProtos:         o.ALPN,
		MinVersion:         tls.VersionTLS12,
		CipherSuites:       o.Ciphers,
	}
	if o.Version != 0 {
		cfg.MinVersion, cfg.MaxVersion = o.Version, o.Version
	}
	if o.CAFile != "" || o.CAPath != "" {
		pool := x509.NewCertPool()
		if o.OSCerts {
			sys, err := x509.SystemCertPool()
			if err != nil {
				return nil, fmt.Errorf("--tls-use-os-certs: %w", err)
			}
			pool = sys
		}
		if o.CAFile != "" {
			pem, err := os.ReadFile(o.CAFile)
			if err != nil {
				return nil, fmt.Errorf("--cafile %s: %w", o.CAFile, unwrapPath(err))
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--cafile %s holds no PEM certificate", o.CAFile)
			}
		}
		if o.CAPath != "" {
			entries, err := os.ReadDir(o.CAPath)
			if err != nil {
				return nil, fmt.Errorf("--capath %s: %w", o.CAPath, unwrapPath(err))
			}
			found := false
			for _, e := range entries {
				if e.IsDir() {
					continue
				}
				if pem, err := os.ReadFile(filepath.Join(o.CAPath, e.Name())); err == nil && pool.AppendCertsFromPEM(pem) {
					found = true
				}
			}
			if !found {
				return nil, fmt.Errorf("--capath %s holds no PEM certificate", o.CAPath)
			}
		}
		cfg.RootCAs = pool
	}
	if o.CertFile != "" || o.KeyFile != "" {
		switch {
		case o.KeyFile == "":
			return nil, fmt.Errorf("--cert %s needs --key: the private key of that certificate", o.CertFile)
		case o.CertFile == "":
			return nil, fmt.Errorf("--key %s needs --cert: the certificate of that key", o.KeyFile)
		}
		for _, f := range [][2]string{{"--cert", o.CertFile}, {"--key", o.KeyFile}} {
			if _, err := os.ReadFile(f[1]); err != nil {
				return nil, fmt.Errorf("%s %s: %w", f[0], f[1], unwrapPath(err))
			}
		}
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("--cert %s and --key %s: %w", o.CertFile, o.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// unwrapPath drops the *fs.PathError wrapper, whose path the message
// already names.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
