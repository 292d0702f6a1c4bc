package profiles

import (
	"path/filepath"
	"reflect"
	"testing"
)

func TestLoadMissingIsEmpty(t *testing.T) {
	f, err := Load(filepath.Join(t.TempDir(), "nope.json"))
	if err != nil || len(f.Boards) != 0 || len(f.Profiles) != 0 {
		t.Fatalf("Load missing = %+v, %v", f, err)
	}
}

func TestSaveLoadBoardRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "profiles.json")
	f := &File{Profiles: []Profile{{Name: "flespi", URL: "mqtts://mqtt.flespi.io", Username: "tok"}}}
	f.PutBoard(Board{Name: "dev", Connections: []BoardConnection{{
		Profile:       Profile{Name: "local", Local: true, User: []UserProperty{{"a", "b"}}},
		Subscriptions: []Subscription{{Filter: "a/#", QoS: 1, RetainHandling: 2, ID: 7}},
	}}, Layout: Layout{PacketLog: true}})
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
