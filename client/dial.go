package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"

	"github.com/gorilla/websocket"

	"github.com/mqttboard/mqttboard/internal/wsconn"
)

// dial opens the network connection the MQTT session runs over.
func dial(ctx context.Context, u *url.URL, o *TLSOptions) (net.Conn, error) {
	switch u.Scheme {
	case "mqtt":
		var d net.Dialer
		return d.DialContext(ctx, "tcp", u.Host)
	case "mqtts":
		cfg, err := tlsConfig(u, o)
		if err != nil {
			return nil, err
		}
		d := tls.Dialer{Config: cfg}
		return d.DialContext(ctx, "tcp", u.Host)
	case "ws", "wss":
		d := websocket.Dialer{
			// Brokers speaking MQTT over WebSocket select it by this
			// subprotocol [MQTT-6.0.0-3]; mosquitto refuses without it.
			Subprotocols:    []string{"mqtt"},
			ReadBufferSize:  4096,
			WriteBufferSize: 4096,
		}
		if u.Scheme == "wss" {
			cfg, err := tlsConfig(u, o)
			if err != nil {
				return nil, err
			}
			d.TLSClientConfig = cfg
		}
		target := *u
		target.User = nil // credentials go in CONNECT, never to the HTTP server
		ws, resp, err := d.DialContext(ctx, target.String(), nil)
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

// tlsConfig builds the client TLS configuration from o.
func tlsConfig(u *url.URL, o *TLSOptions) (*tls.Config, error) {
	cfg := &tls.Config{
		ServerName:         u.Hostname(),
		InsecureSkipVerify: o.Insecure,
		NextProtos:         o.ALPN,
		MinVersion:         tls.VersionTLS12,
	}
	if o.ServerName != "" {
		cfg.ServerName = o.ServerName
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w (--cafile)", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate (--cafile)", o.CAFile)
		}
		cfg.RootCAs = pool
	}
	if o.CertFile != "" || o.KeyFile != "" {
		if o.CertFile == "" || o.KeyFile == "" {
			return nil, errors.New("a client certificate needs both --cert and --key")
		}
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load client certificate %s / key %s: %w", o.CertFile, o.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
