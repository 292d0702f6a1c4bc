package cli

import (
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mqttboard/mqttboard/client/clienttest"
)

// TestMosquittoAndMQTTXHabits: the flags mosquitto and MQTTX users type by
// habit do what they do there, as mosquitto's own log shows, and what
// mosquitto refuses (or Go cannot do) is refused with a usage error.
func TestMosquittoAndMQTTXHabits(t *testing.T) {
	m := clienttest.Start(t, clienttest.Config{LogAll: true})
	_, port, _ := strings.Cut(m.Addr, ":")
	pid := strconv.Itoa(os.Getpid())

	// -I prefix+pid, -x, -A, --nodelay, -M, --repeat-delay, -D disconnect.
	code, _, e := mqttboard(t, "", "pub", "-p", port, "-t", "h/x", "-m", "y", "-I", "pre-", "-x", "10", "-A", "127.0.0.1",
		"--nodelay", "-M", "5", "--repeat", "2", "--repeat-delay", "0.01", "-D", "disconnect", "session-expiry-interval", "0")
	if code != 0 {
		t.Fatalf("pub: exit %d: %s", code, e)
	}
	m.WaitLog(t, wait, "New client connected from 127.0.0.1")
	m.WaitLog(t, wait, "as pre-"+pid+" (p5, c1, k60)")
	m.WaitLog(t, wait, "Client pre-"+pid+" disconnected.")

	// -U unsubscribes first; MQTTX's spellings parse (-nl, -rh, --client-id,
	// --hostname, --session-expiry-interval).
	code, _, e = mqttboard(t, "", "sub", "-p", port, "--hostname", "127.0.0.1", "--client-id", "mqttx-habit",
		"--session-expiry-interval", "5", "-t", "h/y", "-nl", "-rh", "2", "-U", "h/old", "-E")
	if code != 0 {
		t.Fatalf("sub: exit %d: %s", code, e)
	}
	m.WaitLog(t, wait, "Received UNSUBSCRIBE from mqttx-habit")
	m.WaitLog(t, wait, "Received SUBSCRIBE from mqttx-habit")

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sub", "-t", "x", "-C", "0"}, "-C 0"},
		{[]string{"sub", "-t", "x", "-c"}, "-c/--no-clean"},
		{[]string{"sub", "-t", "x", "-c", "-I", "p"}, "-c/--no-clean"},
		{[]string{"pub", "-t", "x", "-m", "y", "--psk", "00ff", "--psk-identity", "me"}, "TLS-PSK"},
		{[]string{"pub", "-t", "x", "-m", "y", "--tls-version", "tlsv1"}, "--tls-version"},
		{[]string{"pub", "-t", "x", "-m", "y", "--ciphers", "RC4-MD5"}, "--ciphers"},
		{[]string{"pub", "-t", "x", "-m", "y", "--proxy", "http://x"}, "--proxy"},
		{[]string{"sub", "-t", "x", "--random-filter", "0"}, "--random-filter"},
		{[]string{"sub", "-t", "x", "--format", "yaml"}, "--format"},
		{[]string{"sub", "-t", "x", "-F", "%z"}, "'z'"},
	} {
		code, _, e := mqttboard(t, "", append(tc.args, "-p", port)...)
		if code != ExitUsage || !strings.Contains(e, tc.want) {
			t.Errorf("%v: exit %d (want %d), stderr %q (want %q)", tc.args, code, ExitUsage, e, tc.want)
		}
	}
	// --quiet: the exit code speaks, stderr does not.
	if code, _, e := mqttboard(t, "", "pub", "-t", "x", "-m", "y", "-p", freePort(t), "--quiet"); code != ExitConnect || e != "" {
		t.Errorf("--quiet: exit %d, stderr %q", code, e)
	}
	// conn prints the CONNACK and stays until -W.
	if code, out, e := mqttboard(t, "", "conn", "-p", port, "-W", "0.1", "-x", "30"); code != 0 || !strings.Contains(out, "CONNACK success (0x00), session present false") {
		t.Errorf("conn: exit %d, out %q, err %q", code, out, e)
	}
	// --format (MQTTX): hex and base64 of what arrives.
	r := subscribed(t, "-p", port, "-t", "h/f", "-C", "1", "--format", "hex")
	if code, _, e := mqttboard(t, "", "pub", "-p", port, "-t", "h/f", "-m", "hello"); code != 0 {
		t.Fatalf("pub: %d %s", code, e)
	}
	if code := r.exit(t); code != 0 || r.out.String() != "6865 6c6c 6f\n" {
		t.Errorf("--format hex: exit %d, out %q", code, r.out.String())
	}
	// pub --format decodes what it is given.
	for _, tc := range []struct{ format, in, want string }{
		{"hex", "6869 21", "hi!"}, {"base64", "aGkh", "hi!"}, {"json", `{ "a" : [1, 2] }`, `{"a":[1,2]}`},
	} {
		r := subscribed(t, "-p", port, "-t", "h/pf", "-C", "1")
		if code, _, e := mqttboard(t, "", "pub", "-p", port, "-t", "h/pf", "-m", tc.in, "--format", tc.format); code != 0 {
			t.Fatalf("pub --format %s: %d %s", tc.format, code, e)
		}
		if code := r.exit(t); code != 0 || r.out.String() != tc.want+"\n" {
			t.Errorf("pub --format %s: exit %d, got %q", tc.format, code, r.out.String())
		}
	}
	if code, _, e := mqttboard(t, "", "pub", "-p", port, "-t", "h/pf", "-m", "zz", "--format", "hex"); code != ExitUsage {
		t.Errorf("pub --format hex of non-hex: exit %d %s", code, e)
	}
}

// TestTransportHabits: --unix, --capath, --tls-version and --ciphers reach
// a mosquitto that only accepts what they say.
func TestTransportHabits(t *testing.T) {
	m := clienttest.Start(t, clienttest.Config{Unix: true, TLS: true})
	_, port, _ := strings.Cut(m.TLSAddr, ":")
	if code, _, e := mqttboard(t, "", "pub", "--unix", m.UnixPath, "-t", "u/x", "-m", "over a unix socket", "-i", "via-unix"); code != 0 {
		t.Fatalf("--unix: exit %d: %s", code, e)
	}
	capath := t.TempDir()
	ca, err := os.ReadFile(m.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(capath+"/ca.pem", ca, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--capath", capath},
		{"--cafile", m.CAFile, "--tls-version", "tlsv1.3"},
		{"--cafile", m.CAFile, "--tls-version", "tlsv1.2", "--ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256"},
		{"--cafile", m.CAFile, "--tls-use-os-certs"},
	} {
		code, _, e := mqttboard(t, "", append([]string{"pub", "-h", "localhost", "-p", port, "-t", "u/x", "-m", "x"}, args...)...)
		if code != 0 {
			t.Errorf("%v: exit %d: %s", args, code, e)
		}
	}
	// A cipher the listener's EC key cannot use fails the handshake.
	code, _, e := mqttboard(t, "", "pub", "-h", "localhost", "-p", port, "-t", "u/x", "-m", "x", "--cafile", m.CAFile,
		"--tls-version", "tlsv1.2", "--ciphers", "ECDHE-RSA-AES128-GCM-SHA256")
	if code != ExitConnect || !strings.Contains(e, "TLS handshake") {
		t.Errorf("RSA-only cipher against an EC certificate: exit %d: %s", code, e)
	}
}

// socks5Proxy is a minimal SOCKS5 server (no authentication, CONNECT
// only) on loopback; it counts the connections it relayed.
func socks5Proxy(t *testing.T) (addr string, relayed *atomic.Int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	relayed = new(atomic.Int32)
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				buf := make([]byte, 262)
				// Greeting: version, methods; answer "no authentication".
				if _, err := io.ReadFull(c, buf[:2]); err != nil {
					return
				}
				if _, err := io.ReadFull(c, buf[:buf[1]]); err != nil {
					return
				}
				c.Write([]byte{5, 0})
				// Request: version, CONNECT, reserved, address type.
				if _, err := io.ReadFull(c, buf[:4]); err != nil {
					return
				}
				var host string
				switch buf[3] {
				case 1:
					io.ReadFull(c, buf[:4])
					host = net.IP(buf[:4]).String()
				case 3:
					io.ReadFull(c, buf[:1])
					n := int(buf[0])
					io.ReadFull(c, buf[:n])
					host = string(buf[:n])
				default:
					return
				}
				io.ReadFull(c, buf[:2])
				port := int(buf[0])<<8 | int(buf[1])
				up, err := net.Dial("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
				if err != nil {
					c.Write([]byte{5, 5, 0, 1, 0, 0, 0, 0, 0, 0})
					return
				}
				defer up.Close()
				relayed.Add(1)
				c.Write([]byte{5, 0, 0, 1, 0, 0, 0, 0, 0, 0})
				done := make(chan struct{})
				go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite(); close(done) }()
				io.Copy(c, up)
				<-done
			}()
		}
	}()
	return l.Addr().String(), relayed
}

// TestProxyHabit: --proxy socks5:// reaches mosquitto through the proxy.
func TestProxyHabit(t *testing.T) {
	m := clienttest.Start(t, clienttest.Config{})
	_, port, _ := strings.Cut(m.Addr, ":")
	proxy, relayed := socks5Proxy(t)
	if code, _, e := mqttboard(t, "", "pub", "-h", "127.0.0.1", "-p", port, "-t", "p/x", "-m", "via socks", "--proxy", "socks5://"+proxy); code != 0 {
		t.Fatalf("--proxy: exit %d: %s", code, e)
	}
	if relayed.Load() != 1 {
		t.Fatalf("the proxy relayed %d connections, want 1", relayed.Load())
	}
}
