package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/internal/testproc"
)

// TestTokensWithCurlAndMosquitto is the issue's proof: `mqttboard broker
// --auth token --master-token KEY --http ADDR` driven only by curl and
// mosquitto_pub/mosquitto_sub. Subaccounts and tokens are made with curl;
// mosquitto clients present the tokens in each of flespi's four forms, see
// the ACL's denials, two accounts' subscribers never meet while the parent
// sees both, and a disabled token is refused.
func TestTokensWithCurlAndMosquitto(t *testing.T) {
	var bins [3]string
	for i, name := range []string{"curl", "mosquitto_pub", "mosquitto_sub"} {
		p, err := exec.LookPath(name)
		if err != nil {
			t.Skipf("%s not installed; skipping the token interop test", name)
		}
		bins[i] = p
	}
	curlBin, pubBin, subBin := bins[0], bins[1], bins[2]
	master := strings.Repeat("M", 64)
	port, base, _ := startBrokerHTTP(t, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--auth", "token", "--master-token", master)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// curl calls the REST API as the master token, in account cid ("" =
	// its own), and returns result.
	curl := func(method, path, cid, body string) []map[string]any {
		t.Helper()
		args := []string{"-s", "-X", method, "-H", "Authorization: FlespiToken " + master}
		if cid != "" {
			args = append(args, "-H", "x-flespi-cid: "+cid)
		}
		if body != "" {
			args = append(args, "-d", body)
		}
		out, err := testproc.Tie(exec.CommandContext(ctx, curlBin, append(args, base+path)...)).Output()
		if err != nil {
			t.Fatalf("curl %s %s: %v", method, path, err)
		}
		var r struct {
			Result []map[string]any `json:"result"`
		}
		if err := json.Unmarshal(out, &r); err != nil || r.Result == nil {
			t.Fatalf("curl %s %s: %s", method, path, out)
		}
		return r.Result
	}
	id := func(m map[string]any) string { return strconv.FormatFloat(m["id"].(float64), 'f', -1, 64) }
	accts := curl("POST", "/platform/subaccounts", "", `[{"name":"a"},{"name":"b"}]`)
	a, b := id(accts[0]), id(accts[1])
	aclA := curl("POST", "/platform/tokens", a, `[{"ttl":3600,"access":{"type":2,"acl":[{"uri":"mqtt","topic":"sensors/#","actions":["publish","subscribe"]}]}}]`)[0]
	stdA := curl("POST", "/platform/tokens", a, `[{"ttl":3600}]`)[0]
	stdB := curl("POST", "/platform/tokens", b, `[{"ttl":3600}]`)[0]
	key := func(m map[string]any) string { return m["key"].(string) }

	mqtt := func(bin string, args ...string) (string, error) {
		out, err := testproc.Tie(exec.CommandContext(ctx, bin, append([]string{"-p", port, "-V", "mqttv5"}, args...)...)).CombinedOutput()
		return string(out), err
	}
	// A retained message in each account: what tells that a subscriber is
	// subscribed.
	if out, err := mqtt(pubBin, "-u", key(stdA), "-t", "sensors/ready", "-m", "a-ready", "-r", "-q", "1"); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	if out, err := mqtt(pubBin, "-u", key(stdB), "-t", "sensors/ready", "-m", "b-ready", "-r", "-q", "1"); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	type sub struct {
		lines chan string
		cmd   *exec.Cmd
	}
	subscribe := func(n int, args ...string) *sub {
		cmd := testproc.Tie(exec.CommandContext(ctx, subBin, append([]string{"-p", port, "-V", "mqttv5", "-t", "sensors/#", "-v", "-q", "1", "-C", strconv.Itoa(n)}, args...)...))
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		s := &sub{lines: make(chan string, 100), cmd: cmd}
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				s.lines <- sc.Text()
			}
			close(s.lines)
		}()
		return s
	}
	read := func(s *sub, n int) []string {
		t.Helper()
		var got []string
		for len(got) < n {
			select {
			case l, ok := <-s.lines:
				if !ok {
					t.Fatalf("mosquitto_sub ended after %q", got)
				}
				got = append(got, l)
			case <-time.After(20 * time.Second):
				t.Fatalf("mosquitto_sub: %q, waiting for %d lines", got, n)
			}
		}
		return got
	}
	subA := subscribe(6, "-u", key(stdA))
	subB := subscribe(2, "-u", key(stdB))
	subM := subscribe(8, "-u", master)
	if got := read(subA, 1); got[0] != "sensors/ready a-ready" {
		t.Fatalf("a's subscriber: %q", got)
	}
	if got := read(subB, 1); got[0] != "sensors/ready b-ready" {
		t.Fatalf("b's subscriber: %q", got)
	}
	readyM := read(subM, 2)
	slices.Sort(readyM)
	if !slices.Equal(readyM, []string{"sensors/ready a-ready", "sensors/ready b-ready"}) {
		t.Fatalf("parent's retained: %q", readyM)
	}

	// The ACL token of a, in each of the four forms.
	k := key(aclA)
	for i, form := range [][]string{
		{"-u", k},
		{"-u", "anyone", "-P", k},
		{"-u", "FlespiToken " + k},
		{"-u", id(aclA), "-P", k[:16]},
	} {
		args := append(form, "-t", "sensors/1", "-m", "form"+strconv.Itoa(i+1), "-q", "1")
		if out, err := mqtt(pubBin, args...); err != nil || out != "" {
			t.Fatalf("form %d: %v %s", i+1, err, out)
		}
	}
	// Denials, as the mosquitto clients report them.
	if out, _ := mqtt(pubBin, "-u", k, "-t", "secret/x", "-m", "no", "-q", "1"); !strings.Contains(out, "Not authorized") {
		t.Fatalf("publish outside the ACL: %q", out)
	}
	// Every way of reaching outside the ACL by SUBSCRIBE, as mosquitto_sub
	// reports it.
	for _, f := range []string{"secret/#", "#", "+/#", "$share/g/#", "$filter/cid=" + a + "/secret/#", "sensors,secret/x", "$SYS/#", "flespi/log/#"} {
		if out, _ := mqtt(subBin, "-u", k, "-t", f, "-W", "5"); !strings.Contains(out, "All subscription requests were denied") {
			t.Fatalf("subscribe %s outside the ACL: %q", f, out)
		}
	}
	// (mosquitto_pub will not send a wildcard topic, so flespi's empty
	// retained publish to secret/# is checked with paho in broker/auth:
	// TestACLOtherWays.)
	if out, err := mqtt(pubBin, "-u", strings.Repeat("x", 64), "-t", "sensors/1", "-m", "no"); err == nil || !strings.Contains(out, "Bad User Name or Password") {
		t.Fatalf("unknown token: %v %q", err, out)
	}
	// Markers: b's after a's, so b's subscriber would have had a's by then.
	if out, err := mqtt(pubBin, "-u", key(stdA), "-t", "sensors/end", "-m", "a-end", "-q", "1"); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	if out, err := mqtt(pubBin, "-u", key(stdB), "-t", "sensors/end", "-m", "b-end", "-q", "1"); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	wantA := []string{"sensors/1 form1", "sensors/1 form2", "sensors/1 form3", "sensors/1 form4", "sensors/end a-end"}
	if got := read(subA, 5); !slices.Equal(got, wantA) {
		t.Fatalf("a's subscriber: %q", got)
	}
	if got := read(subB, 1); got[0] != "sensors/end b-end" {
		t.Fatalf("b's subscriber got %q: another account's message", got)
	}
	if got := read(subM, 6); !slices.Equal(got, append(wantA, "sensors/end b-end")) {
		t.Fatalf("parent: %q", got)
	}
	for _, s := range []*sub{subA, subB, subM} {
		if err := s.cmd.Wait(); err != nil {
			t.Fatalf("mosquitto_sub: %v", err)
		}
	}

	// Lifecycle: disabled is refused, deleted is unknown.
	got := curl("GET", "/platform/tokens/"+id(stdB), b, "")
	if len(got) != 1 || key(got[0]) != key(stdB) {
		t.Fatalf("GET token: %v", got)
	}
	curl("PUT", "/platform/tokens/"+id(stdB), b, `{"enabled":false}`)
	if out, err := mqtt(pubBin, "-u", key(stdB), "-t", "sensors/1", "-m", "no"); err == nil || !strings.Contains(out, "Not authorized") {
		t.Fatalf("disabled token: %v %q", err, out)
	}
	curl("DELETE", "/platform/tokens/"+id(stdB), b, "")
	if out, err := mqtt(pubBin, "-u", key(stdB), "-t", "sensors/1", "-m", "no"); err == nil || !strings.Contains(out, "Bad User Name or Password") {
		t.Fatalf("deleted token: %v %q", err, out)
	}
	// Expiry ends a live session with DISCONNECT 0x87.
	exp := curl("POST", "/platform/tokens", "", `[{"expire":`+strconv.FormatInt(time.Now().Unix()+4, 10)+`}]`)[0]
	if out, _ := mqtt(subBin, "-u", key(exp), "-t", "x", "-d"); !strings.Contains(out, "Received DISCONNECT (135)") {
		t.Fatalf("expiry: %q", out)
	}
}

// TestMasterTokenSources: the flag wins over the environment, which wins
// over the configuration file; a bad MQTTBOARD_MASTER_TOKEN stops only a
// broker that uses tokens; --master-token without --auth token is a usage
// error.
func TestMasterTokenSources(t *testing.T) {
	t.Setenv("MQTTBOARD_MASTER_TOKEN", "short")
	if code, _, e := mqttboard(t, "", "broker", "--master-token", strings.Repeat("k", 64), "--auth", "none"); code != ExitUsage || !strings.Contains(e, "needs --auth token") {
		t.Fatalf("--master-token with --auth none: %d %q", code, e)
	}
	if code, _, e := mqttboard(t, "", "broker", "--auth", "token", "--listen", "127.0.0.1:0"); code != ExitUsage || !strings.Contains(e, "MQTTBOARD_MASTER_TOKEN: 5 characters") {
		t.Fatalf("a bad environment key: %d %q", code, e)
	}
	if code, _, e := mqttboard(t, "", "broker", "--auth", "bogus"); code != ExitUsage || !strings.Contains(e, "--auth \"bogus\"") {
		t.Fatalf("--auth bogus: %d %q", code, e)
	}
	// An open broker ignores the variable.
	startBrokerHTTP(t, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0")

	// The environment wins over the configuration file.
	fromEnv, fromCfg := strings.Repeat("e", 64), strings.Repeat("c", 64)
	t.Setenv("MQTTBOARD_MASTER_TOKEN", fromEnv)
	cfg := filepath.Join(t.TempDir(), "b.yaml")
	os.WriteFile(cfg, []byte("auth:\n  mode: token\n  master_token: "+fromCfg+"\n"), 0o600)
	_, base, _ := startBrokerHTTP(t, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--config", cfg)
	status := func(key string) int {
		req, _ := http.NewRequest("GET", base+"/platform/tokens/all", nil)
		req.Header.Set("Authorization", "FlespiToken "+key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if status(fromEnv) != 200 || status(fromCfg) != 401 {
		t.Fatalf("env key %d, config key %d: want 200 and 401", status(fromEnv), status(fromCfg))
	}
}

// TestTokensSurviveDataRestart: with --data, the master token generated at
// first start (printed once) and the tokens made through the API are there
// after a restart on the same directory, and no second master is printed.
func TestTokensSurviveDataRestart(t *testing.T) {
	dir := t.TempDir()
	run := func() (master, base string, stop func()) {
		pr, pw := io.Pipe()
		ios, _, _, errOut := TestIOStreams()
		ios.Out = pw
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int, 1)
		go func() {
			done <- Run(ctx, ios, []string{"broker", "--auth", "token", "--data", dir, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"})
			pw.Close()
		}()
		lines := bufio.NewScanner(pr)
		for base == "" && lines.Scan() {
			l := lines.Text()
			if k, ok := strings.CutPrefix(l, "master token (shown once; keep it): "); ok {
				master = k
			}
			if a, ok := strings.CutPrefix(l, "listening on http://"); ok {
				base = "http://" + strings.Fields(a)[0]
			}
		}
		go io.Copy(io.Discard, pr)
		if base == "" {
			cancel()
			t.Fatalf("no HTTP address; stderr %q", errOut.String())
		}
		return master, base, func() {
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("broker did not stop")
			}
		}
	}
	call := func(base, method, path, key, body string) (int, []map[string]any) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "FlespiToken "+key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var r struct {
			Result []map[string]any `json:"result"`
		}
		json.NewDecoder(res.Body).Decode(&r)
		return res.StatusCode, r.Result
	}
	master, base, stop := run()
	if len(master) != 64 {
		t.Fatalf("no master token printed at first start: %q", master)
	}
	code, made := call(base, "POST", "/platform/tokens", master, `[{"ttl":3600,"info":"kept"}]`)
	if code != 200 || len(made) != 1 {
		t.Fatalf("create: %d %v", code, made)
	}
	stop()
	again, base2, stop2 := run()
	defer stop2()
	if again != "" {
		t.Fatal("a second master token was printed after the restart")
	}
	code, got := call(base2, "GET", "/platform/tokens/all", master, "")
	if code != 200 || len(got) != 2 || got[1]["key"] != made[0]["key"] || got[1]["info"] != "kept" {
		t.Fatalf("after restart: %d %v", code, got)
	}
}
