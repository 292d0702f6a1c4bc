package cli

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mqttboard/mqttboard/client/clienttest"
)

// diffFormat has every mosquitto -F conversion, with widths, precisions,
// zero padding, escapes and date specifiers. Time-dependent output (%I,
// %U, "tst" in %j/%J, @ dates) is masked by shape before comparing.
const diffFormat = `%t|%p|%l|%q|%r|%m|%x|%X|%P|%C|%D|%R|%E|%F|%S|%A|%10t|%-10t|%.3t|%5p|%-5p|%05l|%6x|%-6X|%8C|%-4E|%04S|%%|\t\\|@@|%j|%J|%I|%U|@Y-@m-@d @H:@M:@S.@N|%-p.|%p`

var timeMasks = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`"tst":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z[+-]\d{4}"`), `"tst":"TST"`},
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}`), "ISO"},
	{regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9}`), "DATE"},
	{regexp.MustCompile(`\|\d{10,}\.\d{9}\|`), "|UNIX|"},
}

func maskTimes(s string) string {
	for _, m := range timeMasks {
		s = m.re.ReplaceAllString(s, m.with)
	}
	return s
}

// TestFormatMatchesMosquittoSub runs mosquitto_sub and `mqttboard sub`
// side by side with the same -F (and with -v, and with nothing) over the
// same messages, on 3.1.1 and 5 with properties, and compares the bytes.
func TestFormatMatchesMosquittoSub(t *testing.T) {
	m := clienttest.Start(t, clienttest.Config{LogAll: true})
	_, port, _ := strings.Cut(m.Addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), 3*wait)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "bin")
	if err := os.WriteFile(bin, []byte("a\x00b\x01\x1f\x7f\xff\xfe end"), 0o600); err != nil {
		t.Fatal(err)
	}
	modes := [][]string{{"-F", diffFormat}, {"-v"}, {}}
	for _, v := range []string{"mqttv311", "5"} {
		type pair struct {
			theirs       *syncBuffer
			theirsErr    *syncBuffer
			ours         *bgRun
			args         []string
			theirID, our string
		}
		var pairs []pair
		prefix := "fd/" + v
		for i, mode := range modes {
			p := pair{theirs: newSyncBuffer(), theirsErr: newSyncBuffer(), args: mode}
			p.theirID = "theirs-" + v + "-" + string(rune('a'+i))
			p.our = "ours-" + v + "-" + string(rune('a'+i))
			args := append([]string{"-p", port, "-V", v, "-t", prefix + "/#", "-q", "1", "-i", p.theirID}, mode...)
			if v == "5" {
				args = append(args, "-D", "subscribe", "subscription-identifier", "3")
			}
			cmd := clienttest.Tool(t, ctx, "mosquitto_sub", args...)
			cmd.Stdout, cmd.Stderr = p.theirs, p.theirsErr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			ours := append([]string{"sub", "-p", port, "-V", v, "-t", prefix + "/#", "-q", "1", "-i", p.our}, mode...)
			if v == "5" {
				ours = append(ours, "--subscription-id", "3")
			}
			p.ours = start(t, "", ours...)
			m.WaitLog(t, wait, "Sending SUBACK to "+p.theirID)
			m.WaitLog(t, wait, "Sending SUBACK to "+p.our)
			pairs = append(pairs, p)
		}
		pub := func(args ...string) {
			t.Helper()
			out, err := clienttest.Tool(t, ctx, "mosquitto_pub", append([]string{"-p", port, "-V", "5"}, args...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("mosquitto_pub %v: %v %s", args, err, out)
			}
		}
		// Properties in the order paho and mosquitto_pub write them.
		pub("-t", prefix+"/props", "-q", "1", "-m", "hello world",
			"-D", "publish", "payload-format-indicator", "1",
			"-D", "publish", "content-type", "text/plain",
			"-D", "publish", "response-topic", "fd/reply",
			"-D", "publish", "correlation-data", "corr",
			"-D", "publish", "user-property", "a", "1",
			"-D", "publish", "user-property", "a", "2",
			"-D", "publish", "message-expiry-interval", "3600")
		// Another order: %j must follow the wire, not a fixed order.
		pub("-t", prefix+"/order", "-q", "1", "-m", "ordered",
			"-D", "publish", "user-property", "z", "first",
			"-D", "publish", "correlation-data", "cd",
			"-D", "publish", "content-type", "ct",
			"-D", "publish", "user-property", "y", "second",
			"-D", "publish", "payload-format-indicator", "0")
		pub("-t", prefix+"/json", "-m", `{"n": 1.50, "arr":[1,2e3,-0.5,true,null,1e300,123456789012], "s":"x\u00e9\n", "n":{}}`)
		pub("-t", prefix+"/bin", "-q", "1", "-f", bin)
		pub("-t", prefix+"/empty", "-n")
		pub("-t", prefix+"/utf8", "-m", "héllo wörld ✓")
		pub("-t", prefix+"/a b", "-m", "x")
		pub("-t", prefix+"/zz-end", "-m", "zz-end")
		for _, p := range pairs {
			p.theirs.waitFor(t, "zz-end")
			p.ours.out.waitFor(t, "zz-end")
			p.ours.cancel()
			theirs, ours := maskTimes(p.theirs.String()), maskTimes(p.ours.out.String())
			if theirs != ours {
				t.Errorf("-V %s %q: output differs\nmosquitto_sub:\n%q\nmqttboard sub:\n%q", v, p.args, theirs, ours)
			}
			if len(p.args) > 0 && p.args[0] == "-F" && !strings.Contains(theirs, `"tst":"TST"`) {
				t.Errorf("-V %s: the time masks did not match mosquitto's output: %q", v, theirs)
			}
			// %J on a payload that is not JSON: the same complaint.
			for _, line := range strings.Split(strings.TrimSpace(p.theirsErr.String()), "\n") {
				if line != "" && !strings.Contains(p.ours.errOut.String(), line) {
					t.Errorf("-V %s: mosquitto_sub said %q on stderr, mqttboard did not: %q", v, line, p.ours.errOut.String())
				}
			}
		}
	}
}
