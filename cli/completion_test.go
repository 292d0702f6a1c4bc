package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mqttboard/mqttboard/internal/testproc"
	"github.com/mqttboard/mqttboard/profiles"
)

// complete runs cobra's hidden __complete command, which every shell's
// completion script calls, and returns the offered values.
func complete(t *testing.T, args ...string) []string {
	t.Helper()
	code, out, e := run(t, append([]string{"__complete"}, args...)...)
	if code != 0 {
		t.Fatalf("__complete %v: exit %d: %s", args, code, e)
	}
	var values []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(l, ":") { // the last line is ":directive"
			v, _, _ := strings.Cut(l, "\t") // value<TAB>description
			values = append(values, v)
		}
	}
	return values
}

func TestCompletionEnumFlags(t *testing.T) {
	path := profileHome(t)
	if err := profiles.Save(path, &profiles.File{Profiles: []profiles.Profile{{Name: "flespi", URL: "mqtts://mqtt.flespi.io"}, {Name: "local", URL: "mqtt://localhost"}}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"pub", "-V", ""}, []string{"5", "3.1.1", "3.1"}},
		{[]string{"sub", "--mqtt-version", ""}, []string{"5", "3.1.1", "3.1"}},
		{[]string{"sub", "--output", ""}, []string{"text", "json"}},
		{[]string{"pub", "--output", ""}, []string{"text", "json"}},
		{[]string{"retained", "list", "--output", ""}, []string{"text", "json"}},
		{[]string{"pub", "-q", ""}, []string{"0", "1", "2"}},
		{[]string{"sub", "--protocol", ""}, []string{"mqtt", "mqtts", "ws", "wss"}},
		{[]string{"sub", "--profile", ""}, []string{"flespi", "local"}},
		{[]string{"profile", "show", ""}, []string{"flespi", "local"}},
		{[]string{"profile", "rm", "f"}, []string{"flespi", "local"}}, // the shell filters by prefix
		{[]string{"profile", ""}, []string{"add", "list", "rm", "show"}},
	} {
		if got := complete(t, tc.args...); !slices.Equal(got, tc.want) {
			t.Errorf("__complete %q = %q, want %q", tc.args, got, tc.want)
		}
	}
}

// TestCompletionScripts checks that each shell's script is generated and,
// where the shell is installed, that it parses.
func TestCompletionScripts(t *testing.T) {
	for _, sh := range []struct{ name, check string }{
		{"bash", "bash -n"}, {"zsh", "zsh -n"}, {"fish", "fish --no-execute"}, {"powershell", ""},
	} {
		t.Run(sh.name, func(t *testing.T) {
			code, out, e := run(t, "completion", sh.name)
			if code != 0 || !strings.Contains(out, "mqttboard") {
				t.Fatalf("completion %s: exit %d, %d bytes, stderr %s", sh.name, code, len(out), e)
			}
			if sh.check == "" {
				return
			}
			argv := strings.Fields(sh.check)
			p, err := exec.LookPath(argv[0])
			if err != nil {
				t.Skipf("%s not installed: script generated but not parsed", argv[0])
			}
			file := filepath.Join(t.TempDir(), "mqttboard."+sh.name)
			if err := writeFile(file, out); err != nil {
				t.Fatal(err)
			}
			if b, err := testproc.Tie(exec.Command(p, append(argv[1:], file)...)).CombinedOutput(); err != nil {
				t.Fatalf("%s %s: %v\n%s", sh.check, file, err, b)
			}
		})
	}
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o600) }
