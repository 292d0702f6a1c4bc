package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mqttboard/mqttboard/client/clienttest"
)

// TestLocalMistakesAreUsageErrors: a mistake on our side of the command
// line (a TLS file missing, unreadable, not PEM or not matching, a port
// out of range, a listener address without a port) is a usage error,
// exit 2, naming the flag and the file, never "the broker could not be
// reached" (exit 3 with a TLS hint, as before the fix). The TLS hint is
// given only when a peer actually failed a handshake, and a broker that
// wants a client certificate is named as such.
func TestLocalMistakesAreUsageErrors(t *testing.T) {
	m := clienttest.Start(t, clienttest.Config{TLS: true, RequireCert: true})
	_, tlsPort, _ := strings.Cut(m.TLSAddr, ":")
	_, plainPort, _ := strings.Cut(m.Addr, ":")
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	notPEM := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	otherKey := filepath.Join(dir, "other.key")
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalECPrivateKey(k)
	if err := os.WriteFile(otherKey, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	pub := []string{"pub", "-t", "x", "-m", "y", "-h", "localhost", "-p", tlsPort}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{append(pub, "--cafile", missing), []string{"--cafile", missing, "no such file"}},
		{append(pub, "--cafile", dir), []string{"--cafile", dir}},
		{append(pub, "--cafile", notPEM), []string{"--cafile", notPEM, "no PEM certificate"}},
		{append(pub, "--cafile", m.CAFile, "--cert", m.ClientCert), []string{"--cert", m.ClientCert, "--key"}},
		{append(pub, "--cafile", m.CAFile, "--key", m.ClientKey), []string{"--key", m.ClientKey, "--cert"}},
		{append(pub, "--cafile", m.CAFile, "--cert", m.ClientCert, "--key", missing), []string{"--key", missing}},
		{append(pub, "--cafile", m.CAFile, "--cert", m.ClientCert, "--key", otherKey), []string{"--cert", "--key", otherKey, "does not match"}},
		{[]string{"pub", "-t", "x", "-m", "y", "-p", "70000"}, []string{"-p", "70000"}},
		{[]string{"sub", "-t", "x", "-p", "-1"}, []string{"-p", "-1"}},
		{[]string{"pub", "-t", "x", "-m", "y", "-L", "mqtt://localhost:70000"}, []string{"70000"}},
		{[]string{"broker", "--listen", "21893"}, []string{"--listen 21893", ":21893"}},
		{[]string{"broker", "--ws-listen", "localhost:99999"}, []string{"--ws-listen", "99999"}},
		{[]string{"broker", "--tls-listen", "127.0.0.1:0", "--cert", missing, "--key", missing}, []string{"--cert", missing}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, e := mqttboard(t, "", tc.args...)
			if code != ExitUsage {
				t.Fatalf("exit %d, want %d (usage); stderr %q", code, ExitUsage, e)
			}
			for _, w := range tc.want {
				if !strings.Contains(e, w) {
					t.Errorf("stderr %q does not name %q", e, w)
				}
			}
			if strings.Contains(e, "listener there") {
				t.Errorf("a local mistake got the TLS listener hint: %q", e)
			}
		})
	}

	// What the peer did decides the hint.
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"TLS to a plain MQTT port", []string{"--cafile", m.CAFile, "-p", plainPort}, ExitConnect, "is a TLS listener there?"},
		{"TLS to a closed port", []string{"--cafile", m.CAFile, "-p", freePort(t)}, ExitConnect, "is a broker running there?"},
		{"no client certificate", []string{"--cafile", m.CAFile, "-p", tlsPort}, ExitConnect, "wants a client certificate: give --cert and --key"},
		{"client certificate", []string{"--cafile", m.CAFile, "-p", tlsPort, "--cert", m.ClientCert, "--key", m.ClientKey}, ExitOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, e := mqttboard(t, "", append([]string{"pub", "-t", "x", "-m", "y", "-h", "localhost"}, tc.args...)...)
			if code != tc.code || !strings.Contains(e, tc.want) {
				t.Fatalf("exit %d (want %d), stderr %q (want %q)", code, tc.code, e, tc.want)
			}
			if tc.code == ExitConnect && tc.want != "is a TLS listener there?" && strings.Contains(e, "listener there") {
				t.Errorf("TLS hint without a failed handshake: %q", e)
			}
		})
	}
}
