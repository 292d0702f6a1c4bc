package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/mqttboard/mqttboard/client/clienttest"
	"github.com/mqttboard/mqttboard/profiles"
)

func TestProfileFlag(t *testing.T) {
	m := clienttest.Start(t, clienttest.Config{Users: map[string]string{"bob": "pw"}})
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	path, err := profiles.DefaultPath()
	if err != nil || !strings.HasPrefix(path, dir) {
		t.Skipf("profiles path %q does not follow XDG_CONFIG_HOME on this OS", path)
	}
	f := &profiles.File{Profiles: []profiles.Profile{{Name: "test", URL: "mqtt://" + m.Addr, Username: "bob", Password: "pw", Version: "3.1.1"}}}
	if err := profiles.Save(filepath.Clean(path), f); err != nil {
		t.Fatal(err)
	}
	if code, _, e := mqttboard(t, "", "pub", "--profile", "test", "-t", "x", "-m", "y", "-q", "1", "-d"); code != 0 || !strings.Contains(e, "v3.1.1") {
		t.Fatalf("profile: exit %d %s", code, e)
	}
	if code, _, e := mqttboard(t, "", "pub", "--profile", "test", "-P", "wrong", "-t", "x", "-m", "y"); code != ExitRefused {
		t.Fatalf("-P should override the profile's password: exit %d %s", code, e)
	}
	if code, _, e := mqttboard(t, "", "pub", "--profile", "nope", "-t", "x", "-m", "y"); code != ExitUsage || !strings.Contains(e, "saved: test") {
		t.Fatalf("unknown profile: exit %d %s", code, e)
	}
}
