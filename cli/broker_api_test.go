package cli

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/internal/testproc"
	"github.com/mqttboard/mqttboard/profiles"
)

// api is an HTTP client of the broker's --http address.
type api struct {
	t    *testing.T
	base string
}

// call sends method path with body and decodes {"result":[...]}; it fails
// the test unless the status is want.
func (a api) call(method, path, body string, want int) []map[string]any {
	a.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		a.t.Fatalf("%s %s: %d %s; want %d", method, path, res.StatusCode, b, want)
	}
	var out struct {
		Result []map[string]any `json:"result"`
	}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &out); err != nil {
			a.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return out.Result
}

func (a api) text(path string) string {
	a.t.Helper()
	res, err := http.Get(a.base + path)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// startBrokerHTTP runs `mqttboard broker` with args and returns its MQTT
// port and HTTP base URL, read from what it prints.
func startBrokerHTTP(t *testing.T, args ...string) (port, base string, stop func() int) {
	t.Helper()
	pr, pw := io.Pipe()
	ios, _, _, errOut := TestIOStreams()
	ios.Out = pw
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, ios, append([]string{"broker"}, args...))
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	for (port == "" || base == "") && lines.Scan() {
		l := lines.Text()
		if a, ok := strings.CutPrefix(l, "listening on mqtt://"); ok {
			_, port, _ = strings.Cut(a, ":")
		}
		for _, scheme := range []string{"http", "https"} {
			if a, ok := strings.CutPrefix(l, "listening on "+scheme+"://"); ok {
				base = scheme + "://" + strings.Fields(a)[0]
			}
		}
	}
	go io.Copy(io.Discard, pr)
	if port == "" || base == "" {
		cancel()
		t.Fatalf("broker did not report its addresses; stderr %q", errOut.String())
	}
	stopped := false
	stop = func() int {
		if stopped {
			return 0
		}
		stopped = true
		cancel()
		select {
		case code := <-done:
			return code
		case <-time.After(10 * time.Second):
			t.Fatal("broker did not stop")
			return -1
		}
	}
	t.Cleanup(func() { stop() })
	return port, base, stop
}

// TestBrokerHTTPEndToEnd starts `mqttboard broker --http` and drives it
// with HTTP requests and real MQTT clients (mqttboard sub/pub, and
// mosquitto_sub when installed): publish, retained get and delete, sessions
// list and kick, subscriptions added to and removed from an offline
// session, logs over REST and MQTT, metrics and health.
func TestBrokerHTTPEndToEnd(t *testing.T) {
	port, base, stop := startBrokerHTTP(t, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0")
	a := api{t, base}
	if r := a.call("GET", "/healthz", "", 200); r[0]["status"] != "ok" {
		t.Fatalf("healthz %v", r)
	}

	// Logs over MQTT, seen by a real peer.
	var logs *exec.Cmd
	var logOut *syncBuffer
	if ms, err := exec.LookPath("mosquitto_sub"); err == nil {
		// Its own "subscribed" log record says when its SUBSCRIBE is in.
		ready := subscribed(t, "-p", port, "-t", "flespi/log/mqtt/sessions/logwatch/subscribed", "-C", "1")
		logOut = newSyncBuffer()
		logs = testproc.Tie(exec.Command(ms, "-p", port, "-V", "mqttv5", "-i", "logwatch", "-t", "flespi/log/mqtt/sessions/kicked/+", "-v"))
		logs.Stdout = logOut
		if err := logs.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { logs.Process.Kill(); logs.Wait() })
		if code := ready.exit(t); code != 0 {
			t.Fatalf("waiting for mosquitto_sub's subscription: exit %d", code)
		}
	} else {
		t.Log("mosquitto_sub not installed: logs over MQTT checked through mqttboard sub only")
	}
	logSub := subscribed(t, "-p", port, "-t", "flespi/log/mqtt/sessions/kicked/disconnected", "-C", "1")

	// Publish through the API to a subscriber.
	s := subscribed(t, "-p", port, "-i", "kicked", "-t", "e2e/#", "-q", "1", "-v")
	a.call("POST", "/mqtt/messages", `[{"topic":"e2e/r","data":"kept","retained":true,"qos":1}]`, 200)
	s.out.waitFor(t, "e2e/r kept")

	// Retained: get, delete, gone.
	if r := a.call("GET", "/mqtt/messages/"+url.PathEscape("e2e/#"), "", 200); len(r) != 1 || r[0]["data"] != "kept" {
		t.Fatalf("retained %v", r)
	}
	if r := a.call("DELETE", "/mqtt/messages/"+url.PathEscape("e2e/#"), "", 200); r[0]["deleted"] != 1.0 {
		t.Fatalf("delete %v", r)
	}
	if r := a.call("GET", "/mqtt/messages/"+url.PathEscape("e2e/#"), "", 200); len(r) != 0 {
		t.Fatalf("after delete %v", r)
	}

	// An offline session: create, add a subscription, a message is queued,
	// remove the subscription.
	a.call("POST", "/mqtt/sessions", `{"client_id":"offline1","session_expiry":600}`, 200)
	a.call("POST", "/mqtt/sessions/offline1/subscriptions", `{"filter":"e2e/off","qos":1}`, 200)
	a.call("POST", "/mqtt/messages", `{"topic":"e2e/off","data":"queued","qos":1}`, 200)
	off := a.call("GET", "/mqtt/sessions/offline1", "", 200)
	if off[0]["connected"] != false || off[0]["queued"] != 1.0 || off[0]["subscriptions_count"] != 1.0 {
		t.Fatalf("offline1 %v", off)
	}
	if r := a.call("DELETE", "/mqtt/sessions/offline1/subscriptions/"+url.PathEscape("e2e/off"), "", 200); len(r) != 1 {
		t.Fatalf("unsubscribe %v", r)
	}
	if r := a.call("GET", "/mqtt/sessions/offline1/subscriptions", "", 200); len(r) != 0 {
		t.Fatalf("subscriptions after delete %v", r)
	}
	// The session's own client resumes it and gets what was queued.
	code, out, e := mqttboard(t, "", "sub", "-p", port, "-i", "offline1", "-c", "--session-expiry", "600", "-t", "e2e/none", "-C", "1", "-v")
	if code != 0 || out != "e2e/off queued\n" {
		t.Fatalf("offline1 resumed: exit %d out %q err %q", code, out, e)
	}

	// Sessions list, then kick the live subscriber.
	all := a.call("GET", "/mqtt/sessions/all?fields=client_id,connected", "", 200)
	var ids []string
	for _, s := range all {
		ids = append(ids, s["client_id"].(string))
	}
	if !strings.Contains(strings.Join(ids, ","), "kicked") || !strings.Contains(strings.Join(ids, ","), "offline1") {
		t.Fatalf("sessions %v", all)
	}
	a.call("DELETE", "/mqtt/sessions/kicked", "", 200)
	s.exit(t)
	if !strings.Contains(s.errOut.String(), "0x98") && !strings.Contains(strings.ToLower(s.errOut.String()), "administrative") {
		t.Errorf("the kicked subscriber should say why: %q", s.errOut.String())
	}
	if code := logSub.exit(t); code != 0 {
		t.Fatalf("log subscriber exit %d: %s", code, logSub.errOut.String())
	}
	if !strings.Contains(logSub.out.String(), `"event_code":301`) {
		t.Fatalf("disconnect log over MQTT: %q", logSub.out.String())
	}
	if logOut != nil {
		logOut.waitFor(t, "flespi/log/mqtt/sessions/kicked/deleted")
	}

	// Logs over REST.
	recs := a.call("GET", "/mqtt/logs?data="+url.QueryEscape(`{"filter":"client_id==\"kicked\""}`), "", 200)
	var types []string
	for _, r := range recs {
		types = append(types, r["event_type"].(string))
	}
	if got := strings.Join(types, ","); got != "created,connected,subscribed,disconnected,deleted" {
		t.Fatalf("kicked's records: %s", got)
	}
	if d := recs[3]; /* e2e/r and e2e/off */ d["reason_code"] != float64(0x98) || d["received"] != 2.0 {
		t.Fatalf("disconnect record %v", d)
	}

	// Metrics.
	if m := a.text("/metrics"); !strings.Contains(m, "mqttboard_connections_total") || !strings.Contains(m, `mqttboard_sessions{state="offline"}`) {
		t.Fatalf("metrics:\n%s", m)
	}
	if code := stop(); code != ExitOK {
		t.Fatalf("broker exit %d", code)
	}
}

// TestBrokerHTTPConfig: the http: key of the configuration file starts
// the API, and a bare port binds to loopback.
func TestBrokerHTTPConfig(t *testing.T) {
	if got := apiAddr("8080"); got != "127.0.0.1:8080" {
		t.Fatalf("apiAddr(8080) = %s", got)
	}
	cfg := filepath.Join(t.TempDir(), "b.yaml")
	os.WriteFile(cfg, []byte("http:\n  listen: 127.0.0.1:0\n"), 0o600)
	_, base, _ := startBrokerHTTP(t, "--listen", "127.0.0.1:0", "--config", cfg)
	if r := (api{t, base}).call("GET", "/healthz", "", 200); r[0]["status"] != "ok" {
		t.Fatalf("healthz %v", r)
	}
	if code, _, e := mqttboard(t, "", "broker", "--http", "127.0.0.1:0", "--http-tls"); code != ExitUsage || !strings.Contains(e, "--http-tls needs --cert") {
		t.Fatalf("--http-tls without cert: exit %d %q", code, e)
	}
}

// TestBrokerAPIClients: `mqttboard broker sessions|retained|logs --http`
// print the API's results as JSON lines and map its errors to exit codes.
func TestBrokerAPIClients(t *testing.T) {
	port, base, _ := startBrokerHTTP(t, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0")
	if code, _, e := mqttboard(t, "", "pub", "-p", port, "-i", "pub1", "-t", "cli/a", "-m", "hello\u0085\u202e\U000e0041", "-r", "-q", "1"); code != 0 {
		t.Fatalf("pub: %d %s", code, e)
	}
	code, out, e := mqttboard(t, "", "broker", "retained", "cli/#", "--http", base, "--fields", "topic,data")
	// The C1 control, the bidi override and the tag character in the
	// payload are escaped (as JSON \u escapes, a surrogate pair above the
	// BMP), never raw: the same characters common.Safe escapes.
	if code != 0 || out != `{"data":"hello\u0085\u202e\udb40\udc41","topic":"cli/a"}`+"\n" {
		t.Fatalf("retained: %d %q %q", code, out, e)
	}
	s := subscribed(t, "-p", port, "-i", "cli-sub", "-t", "x")
	code, out, e = mqttboard(t, "", "broker", "sessions", "--http", base, "--fields", "client_id,connected")
	if code != 0 || out != `{"client_id":"cli-sub","connected":true}`+"\n" {
		t.Fatalf("sessions: %d %q %q", code, out, e)
	}
	if code, out, e = mqttboard(t, "", "broker", "sessions", "cli-sub", "--http", base, "--delete"); code != 0 || !strings.Contains(out, `"client_id":"cli-sub"`) {
		t.Fatalf("sessions --delete: %d %q %q", code, out, e)
	}
	s.exit(t)
	code, out, e = mqttboard(t, "", "broker", "logs", "--http", base, "--filter", `client_id=="cli-sub"`, "--count", "1", "--reverse")
	if code != 0 || !strings.Contains(out, `"event_type":"deleted"`) || strings.Count(out, "\n") != 1 {
		t.Fatalf("logs: %d %q %q", code, out, e)
	}
	if code, out, e = mqttboard(t, "", "broker", "retained", "cli/#", "--http", base, "--delete"); code != 0 || !strings.Contains(out, `"deleted":1`) {
		t.Fatalf("retained --delete: %d %q %q", code, out, e)
	}
	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"broker", "sessions", "colour=red", "--http", base}, ExitUsage, `unknown field "colour"`},
		{[]string{"broker", "sessions", "nobody", "--http", base}, ExitError, "no session"},
		{[]string{"broker", "sessions"}, ExitUsage, "--http"},
		{[]string{"broker", "retained", "--http", base}, ExitUsage, "arg"},
		{[]string{"broker", "logs", "--http", "127.0.0.1:1"}, ExitConnect, "127.0.0.1:1"},
	} {
		code, _, e := mqttboard(t, "", tc.args...)
		if code != tc.code || !strings.Contains(e, tc.err) {
			t.Errorf("%v: exit %d %q; want %d with %q", tc.args, code, e, tc.code, tc.err)
		}
	}
}

// TestBrokerHTTPS: --http-tls serves the API over TLS with the listeners'
// certificate.
func TestBrokerHTTPS(t *testing.T) {
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	_, base, _ := startBrokerHTTP(t, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--http-tls", "--cert", certFile, "--key", keyFile)
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("base %s", base)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	c := &http.Client{Timeout: wait, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	res, err := c.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.TLS == nil {
		t.Fatalf("GET /healthz over TLS: %d", res.StatusCode)
	}
}

// TestBrokerHTTPFlagOfTheBoard: a --broker-http the board cannot use is a
// usage error before any screen is drawn (TestTmuxRemoteBrokerPane in tui
// runs the board with a good one).
func TestBrokerHTTPFlagOfTheBoard(t *testing.T) {
	ios, _, _, errOut := TestIOStreams()
	if code := Run(context.Background(), ios, []string{"--broker-http", "http://"}); code != ExitUsage {
		t.Fatalf("exit %d; stderr %s", code, errOut)
	}
	if !strings.Contains(errOut.String(), "--broker-http") {
		t.Fatalf("stderr %q", errOut)
	}
}

// TestBrokerAPIToken: against a broker with --auth token, the API clients
// send --token (or $FLESPI_TOKEN) as "Authorization: FlespiToken"; without
// one the broker's 401 is exit code 4 (refused) and the message says how to
// give one.
func TestBrokerAPIToken(t *testing.T) {
	key := strings.Repeat("k", 64)
	_, base, _ := startBrokerHTTP(t, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--auth", "token", "--master-token", key)
	t.Setenv("FLESPI_TOKEN", "")
	if code, _, e := mqttboard(t, "", "broker", "logs", "--http", base); code != ExitRefused || !strings.Contains(e, "401") || !strings.Contains(e, "--token KEY") {
		t.Fatalf("no token: exit %d %q (want 4 and a hint to pass --token KEY)", code, e)
	}
	if code, out, e := mqttboard(t, "", "broker", "logs", "--http", base, "--token", key, "--count", "1"); code != 0 {
		t.Fatalf("--token: exit %d %q %q", code, out, e)
	}
	t.Setenv("FLESPI_TOKEN", key)
	if code, _, e := mqttboard(t, "", "broker", "sessions", "--http", base); code != 0 {
		t.Fatalf("$FLESPI_TOKEN: exit %d %q", code, e)
	}
}

// TestBrokerSessionsCounters: `mqttboard broker sessions` prints a live
// connection's counters: what a subscriber received, as it printed it.
func TestBrokerSessionsCounters(t *testing.T) {
	port, base, _ := startBrokerHTTP(t, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0")
	s := subscribed(t, "-p", port, "-i", "counted", "-t", "cnt/#")
	for _, m := range []string{"one", "two"} {
		if code, _, e := mqttboard(t, "", "pub", "-p", port, "-t", "cnt/x", "-m", m, "-q", "1"); code != 0 {
			t.Fatalf("pub: %d %s", code, e)
		}
	}
	s.out.waitFor(t, "two")
	code, out, e := mqttboard(t, "", "broker", "sessions", "counted", "--http", base, "--fields", "client_id,received,published,rejected")
	if code != 0 || out != `{"client_id":"counted","published":0,"received":2,"rejected":0}`+"\n" {
		t.Fatalf("sessions: %d %q %q", code, out, e)
	}
}

// TestBoardBrokerHTTP: the broker pane's API comes from --broker-http, or
// else from the saved board; a bad saved address is a usage error naming
// the board.
func TestBoardBrokerHTTP(t *testing.T) {
	t.Setenv("FLESPI_TOKEN", "tok")
	f := &profiles.File{Boards: []profiles.Board{{Name: "remote", BrokerHTTP: "9080"}, {Name: "broken", BrokerHTTP: "http://"}, {Name: "plain"}}}
	for _, tc := range []struct {
		o    BoardOptions
		want string
	}{
		{BoardOptions{Board: "remote"}, "http://127.0.0.1:9080"},
		{BoardOptions{Board: "remote", BrokerHTTP: "https://b.example:9443/"}, "https://b.example:9443"},
		{BoardOptions{Board: "plain"}, ""},
		{BoardOptions{BrokerHTTP: "h:1"}, "http://h:1"},
	} {
		opts, err := boardOptions(&tc.o, f, "p.yaml")
		got := ""
		if opts.BrokerAPI != nil {
			got = opts.BrokerAPI.Base
			if opts.BrokerAPI.Token != "tok" {
				t.Errorf("%+v: token %q", tc.o, opts.BrokerAPI.Token)
			}
		}
		if err != nil || got != tc.want {
			t.Errorf("%+v: %q, %v; want %q", tc.o, got, err, tc.want)
		}
	}
	if _, err := boardOptions(&BoardOptions{Board: "broken"}, f, "p.yaml"); err == nil || !strings.Contains(err.Error(), `board "broken": broker_http`) {
		t.Errorf("a bad saved address: %v", err)
	}
}

// TestBrokerHTTPAddressMistake: an --http address that is neither a port
// nor host:port is a usage error (exit 2) naming the flag, found before
// anything binds (before: "listening on mqtt://..." printed, then exit 1
// with net.Listen's words); the same for the configuration's http.listen,
// named as such.
func TestBrokerHTTPAddressMistake(t *testing.T) {
	for _, a := range []string{"abc", "127.0.0.1:99999", "localhost:http-alt"} {
		code, out, e := mqttboard(t, "", "broker", "--listen", "127.0.0.1:0", "--http", a)
		if code != ExitUsage || !strings.Contains(e, "--http "+a) || strings.Contains(out, "listening on") {
			t.Errorf("--http %s: exit %d, stdout %q, stderr %q: want 2 naming --http before anything listens", a, code, out, e)
		}
	}
	cfg := filepath.Join(t.TempDir(), "b.yaml")
	os.WriteFile(cfg, []byte("http:\n  listen: abc\n"), 0o600)
	code, out, e := mqttboard(t, "", "broker", "--listen", "127.0.0.1:0", "--config", cfg)
	if code != ExitUsage || !strings.Contains(e, cfg+": http.listen abc") || strings.Contains(out, "listening on") {
		t.Errorf("config http.listen abc: exit %d, stdout %q, stderr %q: want 2 naming the file's key before anything listens", code, out, e)
	}
}
