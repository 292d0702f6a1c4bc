package cli

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/mqttboard/mqttboard/broker/brokertest"
)

func TestBenchCommand(t *testing.T) {
	addr := brokertest.Start(t)
	code, out, errOut := run(t, "bench", "--target", "ours="+addr, "--scenario", "fanout,pairs", "--publishers", "2",
		"--subscribers", "2", "--qos", "0,1", "--duration", "200ms", "--rate", "2000", "--output", "json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("want one JSON line per scenario and QoS, got %q", out)
	}
	for _, l := range lines {
		var r struct {
			Broker    string `json:"broker"`
			QoS       int    `json:"qos"`
			Sent      uint64 `json:"sent"`
			Expected  uint64 `json:"expected"`
			Delivered uint64 `json:"delivered"`
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		if r.Broker != "ours" || r.Sent == 0 || (r.QoS == 1 && r.Delivered != r.Expected) {
			t.Fatalf("measurement %+v", r)
		}
	}
	// The text table names every column once and one row per measurement.
	code, out, _ = run(t, "bench", "--target", "ours="+addr, "--duration", "100ms", "--rate", "1000")
	if code != ExitOK || !strings.Contains(out, "delivered msg/s") || strings.Count(out, "\n") != 2 {
		t.Fatalf("exit %d, table %q", code, out)
	}
}

func TestBenchIdle(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc: RSS is read from /proc/PID/status (Linux)")
	}
	addr := brokertest.Start(t) // in this process: its RSS is ours
	code, out, errOut := run(t, "bench", "--target", "ours="+addr, "--idle", "50", "--pid", "ours="+strconv.Itoa(os.Getpid()))
	if code != ExitOK || !strings.Contains(out, "ours: 50 idle connections: RSS") {
		t.Fatalf("exit %d: %q %s", code, out, errOut)
	}
	code, out, errOut = run(t, "bench", "--target", "ours="+addr, "--idle", "20", "--busy", "50", "--pid", "ours="+strconv.Itoa(os.Getpid()))
	if code != ExitOK || !strings.Contains(out, "ours: 20 connections after 50 QoS 1 PUBLISHes each: RSS") {
		t.Fatalf("--busy: exit %d: %q %s", code, out, errOut)
	}
	if code, _, errOut := run(t, "bench", "--target", "ours="+addr, "--busy", "5"); code != ExitUsage || !strings.Contains(errOut, "--busy") {
		t.Fatalf("--busy without --idle: exit %d, %s", code, errOut)
	}
	if code, _, errOut := run(t, "bench", "--target", "ours="+addr, "--idle", "5"); code != ExitUsage || !strings.Contains(errOut, "--pid") {
		t.Fatalf("--idle without --pid: exit %d, %s", code, errOut)
	}
}

// TestBenchFailsEarlyAndKeepsResults: every flag combination is checked
// before anything is measured (a bad one used to be found after the
// earlier measurements, which were thrown away), usage errors exit 2, an
// unreachable broker exits 3, and what was measured before a later
// failure is printed. The --help examples parse.
func TestBenchFailsEarlyAndKeepsResults(t *testing.T) {
	addr := brokertest.Start(t)
	for _, args := range [][]string{
		{"--scenario", "fanout,pairs", "--publishers", "2", "--subscribers", "3"},
		{"--scenario", "fanout,bogus"},
		{"--qos", "0,2"},
		{"--size", "8"},
		{"--target", "nonsense"},
		{"--idle", "5"},
		{"--target", "a=" + addr, "--target", "b=" + addr, "--pid", "c=1", "--idle", "5"},
	} {
		code, out, e := run(t, append([]string{"bench", "--target", "ours=" + addr, "--duration", "1h"}, args...)...)
		if args[0] == "--target" || args[0] == "--idle" {
			code, out, e = run(t, append([]string{"bench", "--duration", "1h"}, args...)...)
		}
		if code != ExitUsage || out != "" {
			t.Errorf("%v: exit %d (want %d), stdout %q, stderr %q", args, code, ExitUsage, out, e)
		}
	}
	// The first target measured, the second unreachable: exit 3, and the
	// first row is printed.
	code, out, e := run(t, "bench", "--target", "ours="+addr, "--target", "gone=127.0.0.1:"+freePort(t),
		"--duration", "100ms", "--rate", "500")
	if code != ExitConnect || !strings.Contains(out, "ours") || !strings.Contains(e, "gone") {
		t.Fatalf("exit %d (want %d), stdout %q, stderr %q", code, ExitConnect, out, e)
	}
	// The examples of --help, with a short duration and our broker's port.
	_, port, _ := strings.Cut(addr, ":")
	for _, ex := range []string{
		"bench --target mqttboard=" + addr + " --scenario fanout --subscribers 3 --qos 0,1 --duration 100ms",
		"bench -p " + port + " --scenario pairs --publishers 2 --subscribers 2 --rate 1000 --duration 100ms",
		"bench -p " + port + " --idle 5 --pid " + strconv.Itoa(os.Getpid()),
	} {
		if code, _, e := run(t, strings.Fields(ex)...); code != ExitOK {
			t.Errorf("%s: exit %d: %s", ex, code, e)
		}
	}
}

// TestBenchLoadModes: MQTTX's bench conn, pub and sub against our broker:
// progress lines, a summary with percentiles, and the counts add up.
func TestBenchLoadModes(t *testing.T) {
	addr := brokertest.Start(t)
	_, port, _ := strings.Cut(addr, ":")
	code, out, e := run(t, "bench", "conn", "-p", port, "-c", "5", "-i", "1")
	if code != 0 || !strings.Contains(out, "conn: 5 connected") || !strings.Contains(out, "connect time p50") {
		t.Fatalf("conn: exit %d, out %q, err %q", code, out, e)
	}
	code, out, e = run(t, "bench", "pub", "-p", port, "-c", "2", "-i", "1", "-im", "1", "--limit", "5", "-q", "1", "-o", "json")
	if code != 0 || !strings.Contains(out, `"summary":true`) || !strings.Contains(out, `"total":10`) {
		t.Fatalf("pub: exit %d, out %q, err %q", code, out, e)
	}
	s := start(t, "", "bench", "sub", "-p", port, "-c", "2", "-i", "1", "-t", "load/#", "--duration", "1m")
	s.out.waitFor(t, "connected 2/2")
	if code, _, e := mqttboard(t, "", "pub", "-p", port, "-t", "load/x", "-m", "m", "--repeat", "3", "-q", "1"); code != 0 {
		t.Fatalf("pub: %d %s", code, e)
	}
	s.out.waitFor(t, "received 6,")
	s.cancel()
	if code := s.exit(t); code != 0 && code != ExitInterrupted {
		t.Fatalf("sub: exit %d: %s", code, s.errOut.String())
	}
	s.out.waitFor(t, "sub: 2 connected")
	for _, bad := range [][]string{{"bench", "pub", "-q", "3"}, {"bench", "conn", "-c", "-1"}, {"bench", "sub", "-o", "yaml"}} {
		if code, _, _ := run(t, bad...); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d", bad, code, ExitUsage)
		}
	}
}
