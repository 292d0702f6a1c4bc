package cli

import (
	"context"
	"runtime"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (code int, out, errOut string) {
	t.Helper()
	ios, _, o, e := TestIOStreams()
	code = Run(context.Background(), ios, args)
	return code, o.String(), e.String()
}

func TestVersion(t *testing.T) {
	code, out, _ := run(t, "version")
	if code != ExitOK || !strings.HasPrefix(out, "mqttboard dev (commit ") || !strings.Contains(out, runtime.Version()) {
		t.Fatalf("version: code %d, output %q", code, out)
	}
}

func TestHelp(t *testing.T) {
	code, out, _ := run(t, "--help")
	if code != ExitOK || !strings.Contains(out, "version") {
		t.Fatalf("--help: code %d, output %q", code, out)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"no-such-command"}, {"version", "--no-such-flag"}, {"version", "extra-arg"}} {
		code, _, errOut := run(t, args...)
		if code != ExitUsage || !strings.Contains(errOut, "--help") {
			t.Errorf("%v: code %d (want %d), stderr %q", args, code, ExitUsage, errOut)
		}
	}
}
