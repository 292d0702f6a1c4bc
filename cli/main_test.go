package cli

import (
	"context"
	"runtime"
	"runtime/debug"
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

// TestVersionFromBuildInfo: without link-time values, version and commit
// come from what the Go toolchain recorded. Before the fix a binary built
// from a checkout printed "dev (commit unknown)".
func TestVersionFromBuildInfo(t *testing.T) {
	settings := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	for _, tc := range []struct {
		name         string
		ldV, ldC     string
		bi           *debug.BuildInfo
		wantV, wantC string
	}{
		{"release ldflags win", "1.2.3", "abc", &debug.BuildInfo{Main: debug.Module{Version: "v9"}}, "1.2.3", "abc"},
		{"go install @version", "dev", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, "v1.4.0", "unknown: built without VCS stamping (-buildvcs=false, or outside a git checkout)"},
		{"checkout build", "dev", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261130120000-0123456789ab"},
			Settings: settings("vcs.revision", "0123456789abcdef", "vcs.modified", "false")}, "v0.0.0-20261130120000-0123456789ab", "0123456789abcdef"},
		{"dirty checkout", "dev", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: settings("vcs.revision", "0123456789abcdef", "vcs.modified", "true")}, "dev", "0123456789abcdef-modified"},
		{"no build info", "dev", "", nil, "dev", "unknown: built without VCS stamping (-buildvcs=false, or outside a git checkout)"},
	} {
		if v, c := versionOf(tc.ldV, tc.ldC, tc.bi); v != tc.wantV || c != tc.wantC {
			t.Errorf("%s: %q %q, want %q %q", tc.name, v, c, tc.wantV, tc.wantC)
		}
	}
}
