package profiles

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

func TestLoadMissingIsEmpty(t *testing.T) {
	f, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err != nil || len(f.Boards) != 0 || len(f.Profiles) != 0 {
		t.Fatalf("Load missing = %+v, %v", f, err)
	}
}

func TestDefaultPathFollowsXDG(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	p, err := DefaultPath()
	if err != nil {
		t.Fatal(err)
	}
	// os.UserConfigDir reads XDG_CONFIG_HOME on Unix other than macOS.
	if want := filepath.Join(dir, "mqttboard", "profiles.yaml"); runtime.GOOS != "darwin" && runtime.GOOS != "windows" && p != want {
		t.Fatalf("DefaultPath = %q, want %q", p, want)
	}
}

// full is a File with every field set, so the round trip covers them all.
func full() *File {
	f := &File{Profiles: []Profile{{
		Name: "flespi", URL: "mqtts://mqtt.flespi.io", Version: "3.1.1", ClientID: "me",
		Username: "tok", Password: "pw", PasswordEnv: "FLESPI_TOKEN",
		CAFile: "/ca.pem", CertFile: "/c.pem", KeyFile: "/k.pem", Insecure: true, SNI: "sni", ALPN: []string{"mqtt", "x"},
		KeepAlive: 30, Persistent: true, SessionExpiry: 60, ReceiveMaximum: 10, MaximumPacketSize: 1000,
		TopicAliasMaximum: 5, RequestResponseInfo: true, User: []UserProperty{{"a", "b"}, {"a", "c"}},
		Will:    &Will{Topic: "w", Payload: "bye", QoS: 1, Retain: true, Delay: 5, User: []UserProperty{{"k", "v"}}},
		Publish: &PublishDefaults{ContentType: "text/plain", MessageExpiry: 9, ResponseTopic: "r", User: []UserProperty{{"origin", "ci"}}},
	}}}
	f.PutBoard(Board{Name: "dev", Connections: []BoardConnection{{
		Profile:       Profile{Name: "local", Local: true, User: []UserProperty{{"a", "b"}}},
		Subscriptions: []Subscription{{Filter: "a/#", QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: 2, ID: 7, User: []UserProperty{{"modified_since", "0"}}}},
	}}, Layout: Layout{PacketLog: true, Focus: "messages"}})
	return f
}

func TestSaveLoadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "profiles.yaml")
	f := full()
	f.PutBoard(Board{Name: "dev", Connections: f.Boards[0].Connections, Layout: Layout{TopicTree: true}})
	if len(f.Boards) != 1 || !f.Boards[0].Layout.TopicTree {
		t.Fatalf("PutBoard did not replace: %+v", f.Boards)
	}
	if err := Save(path, f); err != nil {
		t.Fatal(err)
	}
	g, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f, g) {
		t.Fatalf("round trip:\n%+v\n%+v", f, g)
	}
	if b, ok := g.Board("dev"); !ok || b.Connections[0].Subscriptions[0].ID != 7 {
		t.Fatalf("Board(dev) = %+v %v", b, ok)
	}
	if _, ok := g.Profile("flespi"); !ok {
		t.Fatal("Profile(flespi) missing")
	}
	// A board's connection is inlined: its profile fields sit beside
	// "subscriptions", as a person would write them.
	raw, _ := os.ReadFile(path)
	if !strings.Contains(string(raw), "password_env: FLESPI_TOKEN") || strings.Contains(string(raw), "profile:") {
		t.Fatalf("unexpected file layout:\n%s", raw)
	}
}

func TestSaveIsPrivate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mqttboard", "profiles.yaml")
	for range 2 { // a new file, then one replaced
		if err := Save(path, full()); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if m := st.Mode().Perm(); m != 0o600 {
			t.Fatalf("profiles file mode %o, want 600", m)
		}
	}
	if st, _ := os.Stat(filepath.Dir(path)); st.Mode().Perm() != 0o700 {
		t.Fatalf("profiles dir mode %o, want 700", st.Mode().Perm())
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".profiles-*")); len(left) != 0 {
		t.Fatalf("temporary files left behind: %v", left)
	}
}

func TestMalformedFileNamesTheLine(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		line       int
		msg        string
	}{
		{"syntax", "profiles:\n  - name: a\n    url: mqtt://x\n   bad: [\n", 4, ""},
		{"unknown key", "profiles:\n  - name: a\n    url: mqtt://x\n    pasword: oops\n", 4, "pasword"},
		{"wrong type", "profiles:\n  - name: a\n    url: mqtt://x\n    keepalive: soon\n", 4, "keepalive"},
		{"invalid profile", "profiles:\n  - name: a\n    url: mqtt://x\n  - name: b\n    url: mqtt://y\n    version: \"4\"\n", 4, `version "4"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "profiles.yaml")
			if err := os.WriteFile(path, []byte(tc.text), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("Load = %v, want a *FileError", err)
			}
			msg := err.Error()
			if fe.Line != tc.line || !strings.HasPrefix(msg, "profiles: "+path+":") || !strings.Contains(msg, tc.msg) {
				t.Fatalf("line %d (want %d), message:\n%s", fe.Line, tc.line, msg)
			}
		})
	}
}

func TestPasswordValue(t *testing.T) {
	t.Setenv("MQTTBOARD_TEST_PW", "from-env")
	for _, tc := range []struct {
		p      Profile
		pw     string
		ok     bool
		errHas string
	}{
		{Profile{Name: "a"}, "", false, ""},
		{Profile{Name: "a", Password: "p"}, "p", true, ""},
		{Profile{Name: "a", PasswordEnv: "MQTTBOARD_TEST_PW"}, "from-env", true, ""},
		{Profile{Name: "a", Password: "p", PasswordEnv: "MQTTBOARD_TEST_PW"}, "p", true, ""},
		{Profile{Name: "a", PasswordEnv: "MQTTBOARD_TEST_UNSET_PW"}, "", false, "MQTTBOARD_TEST_UNSET_PW is not set"},
	} {
		pw, ok, err := tc.p.PasswordValue()
		if pw != tc.pw || ok != tc.ok || (err == nil) != (tc.errHas == "") || (err != nil && !strings.Contains(err.Error(), tc.errHas)) {
			t.Errorf("%+v: got %q %v %v", tc.p, pw, ok, err)
		}
	}
}

func TestPutRemoveProfile(t *testing.T) {
	var f File
	f.PutProfile(Profile{Name: "a", URL: "u1"})
	f.PutProfile(Profile{Name: "b", URL: "u2"})
	f.PutProfile(Profile{Name: "a", URL: "u3"})
	if got := f.ProfileNames(); !reflect.DeepEqual(got, []string{"a", "b"}) || f.Profiles[0].URL != "u3" {
		t.Fatalf("after puts: %+v", f.Profiles)
	}
	if !f.RemoveProfile("a") || f.RemoveProfile("a") || !reflect.DeepEqual(f.ProfileNames(), []string{"b"}) {
		t.Fatalf("after remove: %+v", f.Profiles)
	}
}

func TestValidate(t *testing.T) {
	for _, p := range []Profile{{}, {Name: "x"}, {Name: "x", URL: "u", Version: "4"}, {Name: "x", Local: true, Will: &Will{}}} {
		if p.Validate() == nil {
			t.Errorf("Validate(%+v) = nil", p)
		}
	}
	if err := (&Profile{Name: "x", Local: true}).Validate(); err != nil {
		t.Error(err)
	}
}
