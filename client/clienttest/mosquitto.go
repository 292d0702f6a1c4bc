// Package clienttest starts a real mosquitto broker for tests of package
// client and of the CLI, so they prove interoperability with a broker that
// is not ours.
package clienttest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Config selects the listeners a test broker gets.
type Config struct {
	WebSocket bool // a ws:// listener
	TLS       bool // an mqtts:// listener with a CA and certificates made for the test
	// RequireCert makes the TLS listener refuse clients without a
	// certificate signed by the test CA.
	RequireCert bool
	// Users, when set, turns authentication on for every listener: each
	// user name maps to its password (hashed with mosquitto_passwd).
	Users map[string]string
	// ACL, when set, is the content of mosquitto's acl_file (lines before
	// any "user" line apply to anonymous clients).
	ACL string
	// Unix adds a listener on a Unix domain socket (UnixPath).
	Unix bool
	// LogAll logs every packet and every connection's start and end
	// (log_type all, connection_messages true), so a test can read what
	// the broker itself saw: "Client X disconnected." after a DISCONNECT,
	// "Client X closed its connection." when the socket closed without one.
	LogAll bool
}

// Mosquitto is a running broker; every field set is a listener's address.
type Mosquitto struct {
	Addr    string // host:port of the plain TCP listener
	WSAddr  string // host:port of the WebSocket listener
	TLSAddr string // host:port of the TLS listener
	// UnixPath is the Unix domain socket of the Unix listener.
	UnixPath string
	// CAFile signs ServerCert and ClientCert; ClientCert/ClientKey are a
	// client certificate the TLS listener accepts.
	CAFile, ClientCert, ClientKey string
	log                           *lockedBuffer
}

// Log is what mosquitto has logged so far.
func (m *Mosquitto) Log() string { return m.log.String() }

// WaitLog waits up to d for mosquitto to log a line containing any of
// texts and returns the first of texts found; it fails the test on
// timeout.
func (m *Mosquitto) WaitLog(t testing.TB, d time.Duration, texts ...string) string {
	t.Helper()
	timeout := time.NewTimer(d)
	defer timeout.Stop()
	for {
		m.log.mu.Lock()
		log, ch := m.log.b.String(), m.log.changed
		m.log.mu.Unlock()
		for _, s := range texts {
			if strings.Contains(log, s) {
				return s
			}
		}
		select {
		case <-ch:
		case <-timeout.C:
			t.Fatalf("mosquitto did not log any of %q within %v; its log:\n%s", texts, d, log)
			return ""
		}
	}
}

// Binary finds mosquitto in PATH or /usr/sbin (Debian installs it there,
// outside a normal user's PATH).
func Binary() (string, bool) {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, true
	}
	if _, err := os.Stat("/usr/sbin/mosquitto"); err == nil {
		return "/usr/sbin/mosquitto", true
	}
	return "", false
}

// Start runs mosquitto on 127.0.0.1 free ports with cfg's listeners, waits
// until each accepts connections, and stops it when the test ends. It
// skips the test when mosquitto is not installed.
func Start(t testing.TB, cfg Config) *Mosquitto {
	t.Helper()
	bin, ok := Binary()
	if !ok {
		t.Skip("mosquitto not found in PATH or /usr/sbin: install the Debian package mosquitto to run this test")
	}
	dir := t.TempDir()
	m := &Mosquitto{log: &lockedBuffer{changed: make(chan struct{})}}
	var conf strings.Builder
	// Settings mosquitto applies per listener, not globally.
	conf.WriteString("per_listener_settings false\n")
	if os.Geteuid() == 0 {
		// Stay root so the broker can read the test's 0700 temp dir.
		conf.WriteString("user root\n")
	}
	conf.WriteString("log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n")
	if cfg.LogAll {
		conf.WriteString("log_type all\nconnection_messages true\n")
	}
	if len(cfg.Users) > 0 {
		pw := filepath.Join(dir, "passwd")
		first := true
		for u, p := range cfg.Users {
			args := []string{"-b", pw, u, p}
			if first {
				args = append([]string{"-c"}, args...)
				first = false
			}
			if out, err := exec.Command("mosquitto_passwd", args...).CombinedOutput(); err != nil {
				t.Skipf("mosquitto_passwd (Debian package mosquitto) is needed for a password file: %v: %s", err, out)
			}
		}
		fmt.Fprintf(&conf, "allow_anonymous false\npassword_file %s\n", pw)
	} else {
		conf.WriteString("allow_anonymous true\n")
	}
	if cfg.ACL != "" {
		acl := filepath.Join(dir, "acl")
		if err := os.WriteFile(acl, []byte(cfg.ACL), 0o600); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&conf, "acl_file %s\n", acl)
	}
	var addrs []string
	m.Addr = freeAddr(t)
	addrs = append(addrs, m.Addr)
	fmt.Fprintf(&conf, "listener %s 127.0.0.1\n", port(m.Addr))
	if cfg.WebSocket {
		m.WSAddr = freeAddr(t)
		addrs = append(addrs, m.WSAddr)
		fmt.Fprintf(&conf, "listener %s 127.0.0.1\nprotocol websockets\n", port(m.WSAddr))
	}
	if cfg.Unix {
		// Socket paths are short (108 bytes): not the test's temp dir.
		sd, err := os.MkdirTemp("", "mq")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(sd) })
		m.UnixPath = filepath.Join(sd, "sock")
		fmt.Fprintf(&conf, "listener 0 %s\n", m.UnixPath)
	}
	if cfg.TLS {
		m.TLSAddr = freeAddr(t)
		addrs = append(addrs, m.TLSAddr)
		ca, cert, key := writeCerts(t, dir, m)
		fmt.Fprintf(&conf, "listener %s 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate %t\n",
			port(m.TLSAddr), ca, cert, key, cfg.RequireCert)
	}
	confFile := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(confFile, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", confFile)
	cmd.Stdout, cmd.Stderr = m.log, m.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	for _, a := range addrs {
		waitListening(t, a, exited, m)
	}
	if m.UnixPath != "" {
		waitListeningOn(t, "unix", m.UnixPath, exited, m)
	}
	return m
}

// waitListening polls until addr accepts a TCP connection, for at most 10 s.
func waitListening(t testing.TB, addr string, exited <-chan struct{}, m *Mosquitto) {
	t.Helper()
	waitListeningOn(t, "tcp", addr, exited, m)
}

func waitListeningOn(t testing.TB, network, addr string, exited <-chan struct{}, m *Mosquitto) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	backoff := 5 * time.Millisecond
	for {
		c, err := net.DialTimeout(network, addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			t.Fatalf("mosquitto exited before listening on %s; its log:\n%s", addr, m.Log())
		case <-time.After(backoff):
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto not listening on %s after 10s: %v; its log:\n%s", addr, err, m.Log())
		}
		backoff = min(backoff*2, 100*time.Millisecond)
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// writeCerts makes a CA, a server certificate for 127.0.0.1/localhost and
// a client certificate, in dir. Keys exist only for the test's lifetime.
func writeCerts(t testing.TB, dir string, m *Mosquitto) (ca, cert, key string) {
	t.Helper()
	now := time.Now()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mqttboard test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	issue := func(name string, serial int64, usage x509.ExtKeyUsage, server bool) (certFile, keyFile string) {
		k := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		}
		if server {
			tmpl.DNSNames = []string{"localhost"}
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		certFile = filepath.Join(dir, name+".crt")
		keyFile = filepath.Join(dir, name+".key")
		writePEM(t, certFile, "CERTIFICATE", der)
		kd, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		writePEM(t, keyFile, "EC PRIVATE KEY", kd)
		return certFile, keyFile
	}
	ca = filepath.Join(dir, "ca.crt")
	writePEM(t, ca, "CERTIFICATE", caDER)
	cert, key = issue("server", 2, x509.ExtKeyUsageServerAuth, true)
	m.CAFile = ca
	m.ClientCert, m.ClientKey = issue("client", 3, x509.ExtKeyUsageClientAuth, false)
	return ca, cert, key
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writePEM(t testing.TB, file, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// lockedBuffer is the broker's log; changed is closed and replaced on
// every write, so WaitLog waits for writes instead of polling.
type lockedBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	close(l.changed)
	l.changed = make(chan struct{})
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Recv waits up to d for a value on ch; it fails the test on timeout.
func Recv[T any](t testing.TB, ch <-chan T, d time.Duration) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		var zero T
		t.Fatalf("nothing received within %v", d)
		return zero
	}
}

// Tool runs a mosquitto-clients program (mosquitto_pub, mosquitto_sub)
// with a deadline, skipping the test when it is not installed.
func Tool(t testing.TB, ctx context.Context, name string, args ...string) *exec.Cmd {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not found: install the Debian package mosquitto-clients to run this test", name)
	}
	return exec.CommandContext(ctx, p, args...)
}
