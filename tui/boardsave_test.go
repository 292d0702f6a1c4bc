package tui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mqttboard/mqttboard/broker/restapi"
	"github.com/mqttboard/mqttboard/profiles"
)

// TestSavedBoardKeepsBrokerHTTP: a board opened with --broker-http saves
// that address (and never the token), so --board reopens the pane on it.
func TestSavedBoardKeepsBrokerHTTP(t *testing.T) {
	path := filepath.Join(t.TempDir(), "profiles.yaml")
	m := New(Options{Offline: true, ProfilesPath: path, BrokerAPI: &restapi.Client{Base: "http://10.0.0.5:9080", Token: "s3cret-key"}})
	t.Cleanup(m.Close)
	if err := m.SaveBoard("remote"); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if strings.Contains(string(raw), "s3cret") {
		t.Fatalf("the token was saved:\n%s", raw)
	}
	f, err := profiles.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if b, ok := f.Board("remote"); !ok || b.BrokerHTTP != "http://10.0.0.5:9080" {
		t.Fatalf("saved board: %+v\n%s", b, raw)
	}
}
