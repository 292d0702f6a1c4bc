package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/client"
	"github.com/mqttboard/mqttboard/packet"
	"github.com/mqttboard/mqttboard/profiles"
)

// profileHome points the profiles file at a fresh directory and returns the
// file's path.
func profileHome(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	path, err := profiles.DefaultPath()
	if err != nil || !strings.HasPrefix(path, dir) {
		t.Skipf("profiles path %q does not follow XDG_CONFIG_HOME on this OS", path)
	}
	return path
}

func TestProfileCommands(t *testing.T) {
	path := profileHome(t)
	if code, out, e := run(t, "profile", "list"); code != 0 || out != "" || !strings.Contains(e, "no profiles in "+path) {
		t.Fatalf("list on no file: %d %q %q", code, out, e)
	}
	code, _, e := run(t, "profile", "add", "flespi", "-L", "mqtts://tok@mqtt.flespi.io", "--password-env", "FLESPI_PW",
		"-V", "mqttv311", "-i", "me", "-k", "30", "--cafile", "/ca.pem", "--alpn", "mqtt",
		"--connect-user-property", "a=b", "--will-topic", "w", "--will-payload", "bye", "--will-qos", "1",
		"--content-type", "text/plain", "--message-expiry", "60", "--user-property", "origin: ci")
	if code != 0 || !strings.Contains(e, "saved profile flespi to "+path) {
		t.Fatalf("add: %d %s", code, e)
	}
	if code, _, e := run(t, "profile", "add", "local", "-p", "1884", "-u", "bob", "-P", "secret"); code != 0 || !strings.Contains(e, "password is stored") {
		t.Fatalf("add local: %d %s", code, e)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("profiles file: %v, mode %v; want 0600", err, st.Mode())
	}
	f, err := profiles.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := profiles.Profile{Name: "flespi", URL: "mqtts://mqtt.flespi.io:8883", Version: "3.1.1", ClientID: "me",
		Username: "tok", PasswordEnv: "FLESPI_PW", CAFile: "/ca.pem", ALPN: []string{"mqtt"}, KeepAlive: 30,
		User: []profiles.UserProperty{{Key: "a", Value: "b"}}, Will: &profiles.Will{Topic: "w", Payload: "bye", QoS: 1},
		Publish: &profiles.PublishDefaults{ContentType: "text/plain", MessageExpiry: 60, User: []profiles.UserProperty{{Key: "origin", Value: "ci"}}}}
	if got, _ := f.Profile("flespi"); got == nil || !equalYAML(t, *got, want) {
		t.Fatalf("saved profile:\n%+v\nwant\n%+v", got, want)
	}

	code, out, _ := run(t, "profile", "list")
	wantList := "NAME    URL                          VERSION  USERNAME\n" +
		"flespi  mqtts://mqtt.flespi.io:8883  3.1.1    tok\n" +
		"local   mqtt://localhost:1884        5        bob\n"
	if code != 0 || out != wantList {
		t.Fatalf("list:\n%s\nwant\n%s", out, wantList)
	}
	if code, out, _ := run(t, "profile", "show", "local"); code != 0 || !strings.Contains(out, `password: "********"`) || strings.Contains(out, "secret") {
		t.Fatalf("show masks the password: %d\n%s", code, out)
	}
	if code, out, _ := run(t, "profile", "show", "local", "--show-password"); code != 0 || !strings.Contains(out, "password: secret") {
		t.Fatalf("show --show-password: %d\n%s", code, out)
	}
	// Replacing needs --force; --profile copies another profile first.
	if code, _, e := run(t, "profile", "add", "local", "-p", "1"); code != ExitUsage || !strings.Contains(e, "--force") {
		t.Fatalf("add over an existing profile: %d %s", code, e)
	}
	if code, _, e := run(t, "profile", "add", "local", "--profile", "local", "-k", "5", "--force"); code != 0 {
		t.Fatalf("add --force: %d %s", code, e)
	}
	f, _ = profiles.Load(path)
	if p, _ := f.Profile("local"); p.KeepAlive != 5 || p.Password != "secret" || p.URL != "mqtt://localhost:1884" {
		t.Fatalf("add --profile --force: %+v", p)
	}
	for _, args := range [][]string{
		{"profile", "show", "nope"},
		{"profile", "rm", "nope"},
		{"profile", "add", "x"},                                    // no broker
		{"profile", "add", "x", "-L", "u", "--password-file", "f"}, // not saved
		{"profile", "add", "x", "-L", "u", "--will-qos", "1"},
	} {
		if code, _, e := run(t, args...); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d: %s", args, code, ExitUsage, e)
		}
	}
	if code, _, e := run(t, "profile", "rm", "local"); code != 0 || !strings.Contains(e, "removed profile local") {
		t.Fatalf("rm: %d %s", code, e)
	}
	if code, out, _ := run(t, "profile", "list"); code != 0 || strings.Contains(out, "local") {
		t.Fatalf("list after rm: %s", out)
	}
}

// equalYAML compares profiles by their saved form, where nil and empty
// lists are the same.
func equalYAML(t *testing.T, a, b profiles.Profile) bool {
	t.Helper()
	x, err1 := a.YAML()
	y, err2 := b.YAML()
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	return string(x) == string(y)
}

func TestProfileMalformedFile(t *testing.T) {
	path := profileHome(t)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("profiles:\n  - name: a\n    url: mqtt://x\n    keepalive: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"profile", "list"}, {"pub", "--profile", "a", "-t", "x", "-m", "y"}} {
		code, _, e := run(t, args...)
		if code != ExitError || !strings.Contains(e, path+":4:") {
			t.Errorf("%v: exit %d, stderr:\n%s\nwant exit %d naming %s:4", args, code, e, ExitError, path)
		}
	}
}

// TestProfileOverrideOrder checks what wins for each connection setting:
// a flag given, else the profile, else the default.
func TestProfileOverrideOrder(t *testing.T) {
	path := profileHome(t)
	t.Setenv("MQTTBOARD_TEST_PROFILE_PW", "from-env")
	t.Setenv("MQTTBOARD_TEST_FLAG_PW", "from-flag-env")
	f := &profiles.File{Profiles: []profiles.Profile{
		{Name: "full", URL: "mqtt://profile-host:1884", Version: "3.1.1", ClientID: "pid", Username: "pu", Password: "ppw",
			KeepAlive: 30, SessionExpiry: 77, User: []profiles.UserProperty{{Key: "from", Value: "profile"}},
			Publish: &profiles.PublishDefaults{ContentType: "text/profile", MessageExpiry: 9, User: []profiles.UserProperty{{Key: "p", Value: "1"}}}},
		{Name: "env", URL: "mqtt://h", PasswordEnv: "MQTTBOARD_TEST_PROFILE_PW"},
		{Name: "unset", URL: "mqtt://h", PasswordEnv: "MQTTBOARD_TEST_UNSET_PW"},
	}}
	if err := profiles.Save(path, f); err != nil {
		t.Fatal(err)
	}
	ios, _, _, _ := TestIOStreams()
	opts := func(args ...string) (*PubOptions, client.Options) {
		t.Helper()
		o, err := parsePub(t, append([]string{"-t", "x", "-m", "y"}, args...)...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		co, _, err := o.Conn.options(ios)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return o, co
	}
	type got struct {
		url, id, user, pw string
		ka                time.Duration
		v                 packet.Version
	}
	for _, tc := range []struct {
		args []string
		want got
	}{
		{[]string{"--profile", "full"}, got{"mqtt://profile-host:1884", "pid", "pu", "ppw", 30 * time.Second, packet.V311}},
		{[]string{"--profile", "full", "-L", "mqtt://flag-host:1", "-i", "fid", "-u", "fu", "-P", "fpw", "-k", "5", "-V", "5"},
			got{"mqtt://flag-host:1", "fid", "fu", "fpw", 5 * time.Second, packet.V5}},
		{[]string{"--profile", "full", "-h", "flag-host"}, got{"mqtt://flag-host:1883", "pid", "pu", "ppw", 30 * time.Second, packet.V311}},
		{[]string{"--profile", "full", "-p", "2000"}, got{"mqtt://localhost:2000", "pid", "pu", "ppw", 30 * time.Second, packet.V311}},
		{[]string{"--profile", "full", "--password-env", "MQTTBOARD_TEST_FLAG_PW"}, got{"mqtt://profile-host:1884", "pid", "pu", "from-flag-env", 30 * time.Second, packet.V311}},
		{[]string{"--profile", "env"}, got{"mqtt://h:1883", "", "", "from-env", 60 * time.Second, packet.V5}},
		{[]string{"--profile", "env", "-P", "p"}, got{"mqtt://h:1883", "", "", "p", 60 * time.Second, packet.V5}},
		{[]string{"--profile", "unset", "-P", "p"}, got{"mqtt://h:1883", "", "", "p", 60 * time.Second, packet.V5}},
	} {
		_, co := opts(tc.args...)
		g := got{co.URL, co.ClientID, co.Username, string(co.Password), co.KeepAlive, co.Version}
		if g != tc.want {
			t.Errorf("%v:\n got %+v\nwant %+v", tc.args, g, tc.want)
		}
	}

	// CONNECT properties and PUBLISH defaults.
	o, co := opts("--profile", "full")
	if co.SessionExpiry == nil || *co.SessionExpiry != 77 || len(co.UserProperties) != 1 || co.UserProperties[0].Value != "profile" {
		t.Errorf("profile CONNECT properties: expiry %v, user %v", co.SessionExpiry, co.UserProperties)
	}
	props, err := o.Props.properties(o.Conn.profile)
	if err != nil || props.ContentType != "text/profile" || props.MessageExpiry != 9 || len(props.User) != 1 {
		t.Errorf("profile PUBLISH defaults: %+v %v", props, err)
	}
	o, co = opts("--profile", "full", "--session-expiry", "1", "--connect-user-property", "from=flag",
		"--content-type", "text/flag", "--message-expiry", "2", "--user-property", "f=2")
	props, _ = o.Props.properties(o.Conn.profile)
	if *co.SessionExpiry != 1 || len(co.UserProperties) != 1 || co.UserProperties[0].Value != "flag" ||
		props.ContentType != "text/flag" || props.MessageExpiry != 2 || len(props.User) != 1 || props.User[0].Key != "f" {
		t.Errorf("flags should override the profile: expiry %v user %v props %+v", *co.SessionExpiry, co.UserProperties, props)
	}

	// A profile whose password_env is unset is a usage error naming it.
	o, err = parsePub(t, "-t", "x", "-m", "y", "--profile", "unset")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := o.Conn.options(ios); exitCode(err) != ExitUsage || !strings.Contains(err.Error(), "MQTTBOARD_TEST_UNSET_PW") {
		t.Errorf("unset password_env: %v (exit %d)", err, exitCode(err))
	}
}
