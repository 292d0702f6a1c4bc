package listeners

import (
	"crypto/tls"
	"errors"
	"net"
)

// TLS listens for MQTT over TLS (port 8883 by convention).
func TLS(addr string, cfg *tls.Config) (net.Listener, error) {
	if cfg == nil || (len(cfg.Certificates) == 0 && cfg.GetCertificate == nil) {
		return nil, errors.New("listeners: TLS needs a certificate (--cert and --key)")
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return tls.NewListener(l, cfg), nil
}

// LoadCert reads a PEM certificate and key into a server TLS config.
func LoadCert(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}
