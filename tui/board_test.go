package tui

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/mqttboard/mqttboard/client"
	"github.com/mqttboard/mqttboard/profiles"
	"github.com/mqttboard/mqttboard/tui/common"
	"github.com/mqttboard/mqttboard/tui/connections"
	"github.com/mqttboard/mqttboard/tui/messages"
	"github.com/mqttboard/mqttboard/tui/topics"
)

// TestSaveAndOpenBoard saves a board with two connections and the packet
// log shown, and opens it again as `mqttboard --board NAME` does.
func TestSaveAndOpenBoard(t *testing.T) {
	path := filepath.Join(t.TempDir(), "profiles.json")
	m := fixture(t, 120, 40)
	m.opts.ProfilesPath = path
	m.Set().Add(profiles.Profile{Name: "remote", URL: "mqtt://example.invalid:1883", Username: "tok"})
	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("L")})
	m.Update(tea.KeyMsg{Type: tea.KeyCtrlB})
	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("dev")})
	m.Update(tea.KeyMsg{Type: tea.KeyEnter})
	if m.isErr {
		t.Fatal(m.status)
	}
	f, err := profiles.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	b, ok := f.Board("dev")
	// L turned the packet log on for the focused connection (remote, just added) only.
	if !ok || len(b.Connections) != 2 || b.Connections[0].PacketLog || !b.Connections[1].PacketLog {
		t.Fatalf("saved board %+v", f.Boards)
	}
	if c := b.Connections[0]; !c.Local || c.URL != "" || len(c.Subscriptions) != 2 {
		t.Fatalf("local connection saved as %+v", c)
	}
	m2 := New(Options{Board: b, Offline: true, NoFrameTick: true})
	// The packet log is per connection: off for local, on for remote.
	if n := len(m2.Set().List); n != 2 || m2.Set().List[0].Tracing() || !m2.Set().List[1].Tracing() || m2.Set().List[1].Profile.Username != "tok" {
		t.Fatalf("opened board: %d connections, packet logs %v", n, []bool{m2.Set().List[0].Tracing(), m2.Set().List[1].Tracing()})
	}
	if got := m2.Set().List[0].Subs; len(got) != 2 || got[1].Filter != "secret/#" {
		t.Fatalf("subscriptions %+v", got)
	}
}

func TestSparkline(t *testing.T) {
	if got := topics.Sparkline([]float64{1, 2, 3, 4, 5, 6, 7, 8}, 8); got != "▁▂▃▄▅▆▇█" {
		t.Fatalf("Sparkline = %q", got)
	}
	if f := topics.NumericFields([]byte(`{"a": 1, "b": {"c": 2.5}, "d": "x"}`)); len(f) != 2 || f[1] != "b.c" {
		t.Fatalf("NumericFields = %q", f)
	}
	if v, ok := topics.Value([]byte(`{"b": {"c": 2.5}}`), "b.c"); !ok || v != 2.5 {
		t.Fatalf("Value = %v %v", v, ok)
	}
	if f := topics.NumericFields([]byte(" 42 ")); len(f) != 1 || f[0] != "" {
		t.Fatalf("NumericFields(42) = %q", f)
	}
}

// TestTopicTreeDeleteRetained selects a node, asks to delete the retained
// messages under it and sees the count in the confirmation.
func TestTopicTreeDeleteRetained(t *testing.T) {
	m := fixture(t, 120, 40)
	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("T")})
	m.focusPane(Topics)
	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("D")})
	if v := string(strip(m.View())); !contains(v, "Delete 1 retained message(s) under mqttboard") {
		t.Fatalf("no confirmation:\n%s", v)
	}
	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("n")})
	// Down to sensor, the sparkline of temperature shows.
	m.Update(tea.KeyMsg{Type: tea.KeyDown})
	m.Update(tea.KeyMsg{Type: tea.KeyDown})
	if v := string(strip(m.View())); !contains(v, "temperature") && !contains(v, "ok") {
		t.Fatalf("no sparkline:\n%s", v)
	}
}

// TestPauseAndClear pauses the list: new messages are counted, not shown.
func TestPauseAndClear(t *testing.T) {
	m := fixture(t, 120, 40)
	m.focusPane(Messages)
	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("p")})
	cn := m.Set().List[0]
	for _, e := range benchMessages(5) {
		cn.Push(e)
	}
	m.Frame(t0)
	v := string(strip(m.View()))
	if !contains(v, "PAUSED +5") || contains(v, "bench/sensor") {
		t.Fatalf("paused view:\n%s", v)
	}
	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("p")})
	if v = string(strip(m.View())); !contains(v, "bench/sensor/4") {
		t.Fatalf("resumed view:\n%s", v)
	}
	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("c")})
	if v = string(strip(m.View())); !contains(v, "Messages 0") {
		t.Fatalf("cleared view:\n%s", v)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// TestConnectionForm clones the focused connection through the form,
// edits its user properties and will, and checks the new profile.
func TestConnectionForm(t *testing.T) {
	m := fixture(t, 120, 40)
	m.focusPane(Connections)
	press := func(ks ...any) {
		for _, k := range ks {
			switch k := k.(type) {
			case tea.KeyType:
				m.Update(tea.KeyMsg{Type: k})
			case string:
				m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)})
			}
		}
	}
	press("c")
	if v := string(strip(m.View())); !contains(v, "Add connection") || !contains(v, "local-copy") {
		t.Fatalf("clone form:\n%s", v)
	}
	// Down to "User properties" (field 21) and type two rows.
	for range 20 {
		press(tea.KeyDown)
	}
	// A row: enter on "+ add", the key, enter, the value, enter (to the
	// next row, "+ add" again).
	press(tea.KeyEnter, "a", tea.KeyEnter, "1", tea.KeyEnter, tea.KeyEnter, "b", tea.KeyEnter, "2", tea.KeyEnter,
		tea.KeyDown, tea.KeyEnter, "will/t", tea.KeyEnter, tea.KeyCtrlS)
	if m.isErr {
		t.Fatal(m.status)
	}
	list := m.Set().List
	if len(list) != 2 {
		t.Fatalf("%d connections", len(list))
	}
	p := list[1].Profile
	if p.Name != "local-copy" || !p.Local || len(p.User) != 2 || p.User[1].Value != "2" || p.Will == nil || p.Will.Topic != "will/t" {
		t.Fatalf("cloned profile %+v", p)
	}
	if list[1].Color == list[0].Color {
		t.Fatal("second connection has the first one's colour")
	}
}

// TestMouseFocus clicks into the subscriptions pane and then the messages
// pane.
func TestMouseFocus(t *testing.T) {
	m := fixture(t, 120, 40)
	for _, c := range []struct {
		x, y int
		want PaneID
	}{{2, 20, Subscriptions}, {60, 5, Messages}, {60, 30, Publish}, {2, 2, Connections}} {
		m.Update(tea.MouseMsg{X: c.x, Y: c.y, Action: tea.MouseActionPress, Button: tea.MouseButtonLeft})
		if m.focus != c.want {
			t.Errorf("click at %d,%d focused %v, want %v", c.x, c.y, paneNames[m.focus], paneNames[c.want])
		}
	}
}

// TestExportJSONLines exports the filtered list and reads it back.
func TestExportJSONLines(t *testing.T) {
	m := fixture(t, 120, 40)
	m.c.ExportDir = t.TempDir()
	m.focusPane(Messages)
	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("/")})
	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("mqttboard/sensor/1")})
	m.Update(tea.KeyMsg{Type: tea.KeyEnter})
	_, cmd := m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("e")})
	st := cmd().(common.StatusMsg)
	if st.Error || !contains(st.Text, "exported 4 messages") {
		t.Fatalf("status %+v", st)
	}
	files, _ := filepath.Glob(filepath.Join(m.c.ExportDir, "*.jsonl"))
	if len(files) != 1 {
		t.Fatalf("files %v", files)
	}
	b, _ := os.ReadFile(files[0])
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var r messages.Record
	if err := json.Unmarshal([]byte(lines[0]), &r); err != nil || len(lines) != 4 || r.Topic != "mqttboard/sensor/1" || r.User[0][1] != "blue" {
		t.Fatalf("export %q: %+v %v", lines, r, err)
	}
}

// TestConnectionFormPasswordEnv edits a connection whose profile reads its
// password from the environment: the form shows the variable, and what the
// form has no field for (SNI, ALPN) survives the edit.
func TestConnectionFormPasswordEnv(t *testing.T) {
	m := fixture(t, 120, 40)
	m.Set().Add(profiles.Profile{Name: "flespi", URL: "mqtts://mqtt.flespi.io:8883", Username: "tok",
		PasswordEnv: "FLESPI_PW", SNI: "mqtt.flespi.io", ALPN: []string{"mqtt"}})
	m.focusPane(Connections)
	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("e")})
	if v := string(strip(m.View())); !contains(v, "Password env var") || !contains(v, "FLESPI_PW") {
		t.Fatalf("edit form:\n%s", v)
	}
	m.Update(tea.KeyMsg{Type: tea.KeyCtrlS})
	p := m.Set().Current().Profile
	if p.PasswordEnv != "FLESPI_PW" || p.Password != "" || p.SNI != "mqtt.flespi.io" || len(p.ALPN) != 1 {
		t.Fatalf("edited profile %+v", p)
	}
}

// TestMergedMessages toggles the list to every connection's messages: rows
// from both connections interleave by time, each with its connection's name
// (and colour bar); the topic filter applies to the merged list; toggling
// back shows the focused connection's only.
func TestMergedMessages(t *testing.T) {
	m := fixture(t, 120, 40)
	second := m.Set().Add(profiles.Profile{Name: "second", URL: "mqtt://127.0.0.1:1883"})
	m.Set().Focused = 0
	for i := range 3 {
		e := &client.MessageEvent{Time: t0.Add(time.Duration(9+i)*time.Second + 500*time.Millisecond)}
		e.Topic, e.Payload = fmt.Sprintf("other/%d", i), []byte("x")
		second.Push(e)
	}
	m.Frame(t0)
	m.focusPane(Messages)
	view := func() string { return string(strip(m.View())) }
	if v := view(); contains(v, "other/") {
		t.Fatalf("focused list shows the other connection:\n%s", v)
	}

	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("a")})
	v := view()
	if !contains(v, "all connections 15") {
		t.Fatalf("title of the merged list:\n%s", v)
	}
	// By time: second's messages at +9.5 s, +10.5 s and +11.5 s between
	// local's, each row with its connection's name.
	order := []string{"15:04:14.000 ▌ local      mqttboard/sensor/0", "15:04:14.500 ▌ second     other/0",
		"15:04:15.000 ▌ local      mqttboard/sensor/1", "15:04:15.500 ▌ second     other/1",
		"15:04:16.000 ▌ local      mqttboard/sensor/2", "15:04:16.500 ▌ second     other/2"}
	last := -1
	for _, o := range order {
		i := strings.Index(v, o)
		if i <= last {
			t.Fatalf("%q out of order in:\n%s", o, v)
		}
		last = i
	}
	if !contains(v, "on second  topic other/2") {
		t.Fatalf("details of the selected merged message:\n%s", v)
	}

	// New messages on either connection join the merged list.
	e := &client.MessageEvent{Time: t0.Add(time.Minute)}
	e.Topic, e.Payload = "other/late", []byte("y")
	second.Push(e)
	m.Frame(t0)
	if v = view(); !contains(v, "second     other/late") {
		t.Fatalf("late message missing:\n%s", v)
	}

	// The topic filter applies to the merged list.
	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("/")})
	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("other/#")})
	m.Update(tea.KeyMsg{Type: tea.KeyEnter})
	if v = view(); contains(v, "mqttboard/sensor") || !contains(v, "second     other/0") {
		t.Fatalf("filtered merged list:\n%s", v)
	}

	// Focused only again: the filter stays, local has nothing under other/.
	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("a")})
	if v = view(); contains(v, "other/0") || !contains(v, "no message matches the filter") {
		t.Fatalf("focused list after the toggle:\n%s", v)
	}
}

// TestMergedMessagesRemoveAndClear: removing a connection and clearing
// rebuild the merged list instead of showing what is gone.
func TestMergedMessagesRemoveAndClear(t *testing.T) {
	m := fixture(t, 120, 40)
	second := m.Set().Add(profiles.Profile{Name: "second", URL: "mqtt://127.0.0.1:1883"})
	e := &client.MessageEvent{Time: t0.Add(time.Hour)}
	e.Topic = "other/x"
	second.Push(e)
	m.Frame(t0)
	m.focusPane(Messages)
	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("a")})
	if v := string(strip(m.View())); !contains(v, "all connections 13") {
		t.Fatalf("merged:\n%s", v)
	}
	m.Set().Remove(1)
	m.Update(connections.FocusChangedMsg{}) // what the connections pane sends after x, y
	m.Frame(t0)
	if v := string(strip(m.View())); !contains(v, "all connections 12") || contains(v, "other/x") {
		t.Fatalf("after removing second:\n%s", v)
	}
	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("c")})
	m.Frame(t0)
	if v := string(strip(m.View())); !contains(v, "all connections 0") {
		t.Fatalf("after clear:\n%s", v)
	}
}

// TestSubscribeFormUserProps adds two user properties as rows in the
// subscribe form and finds them on the subscription.
func TestSubscribeFormUserProps(t *testing.T) {
	m := fixture(t, 120, 40)
	m.focusPane(Subscriptions)
	press := func(ks ...any) {
		for _, k := range ks {
			switch k := k.(type) {
			case tea.KeyType:
				m.Update(tea.KeyMsg{Type: k})
			case string:
				m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)})
			}
		}
	}
	press("a", tea.KeyCtrlU, "props/#", tea.KeyEnter)
	for range 5 { // QoS ... Subscription id -> User properties
		press(tea.KeyDown)
	}
	press(tea.KeyEnter, "k1", tea.KeyEnter, "v1", tea.KeyEnter, tea.KeyEnter, "k2", tea.KeyEnter, "v2", tea.KeyEnter)
	if v := string(strip(m.View())); !contains(v, "k2") || !contains(v, "x remove row") {
		t.Fatalf("form:\n%s", v)
	}
	press(tea.KeyCtrlS)
	subs := m.Set().Current().Subs
	s := subs[len(subs)-1]
	if s.Filter != "props/#" || len(s.User) != 2 || s.User[1].Key != "k2" || s.User[1].Value != "v2" {
		t.Fatalf("subscription %+v", s.Subscription)
	}
}

// TestPacketLogPerConnection: L records and shows the focused connection's
// packets only; focusing another connection hides the log, focusing back
// shows it again.
func TestPacketLogPerConnection(t *testing.T) {
	m := fixture(t, 120, 40)
	local := m.Set().List[0]
	second := m.Set().Add(profiles.Profile{Name: "second", URL: "mqtt://127.0.0.1:1883"})
	m.Set().Focused = 0
	m.Update(connections.FocusChangedMsg{})
	m.focusPane(Connections)
	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("L")})
	if !local.Tracing() || second.Tracing() || !contains(string(strip(m.View())), "Packets · local 13") {
		t.Fatalf("L on local: tracing %v/%v\n%s", local.Tracing(), second.Tracing(), strip(m.View()))
	}
	m.Update(tea.KeyMsg{Type: tea.KeyDown}) // focus second
	if v := string(strip(m.View())); contains(v, "Packets ·") || second.Tracing() {
		t.Fatalf("second focused:\n%s", v)
	}
	m.Update(tea.KeyMsg{Type: tea.KeyUp})
	if v := string(strip(m.View())); !contains(v, "Packets · local") {
		t.Fatalf("local focused again:\n%s", v)
	}
	// From the packet log itself: L hides it and the focus moves off it.
	m.focusPane(Packets)
	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("L")})
	if local.Tracing() || m.focus != Publish {
		t.Fatalf("after L in the log: tracing %v, focus %v", local.Tracing(), paneNames[m.focus])
	}
}

// TestTopicHistory opens the history view of a tree node: its messages,
// newest first, with time, QoS and payload preview; esc closes it.
func TestTopicHistory(t *testing.T) {
	m := fixture(t, 120, 40)
	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("T")})
	m.focusPane(Topics)
	for range 3 { // mqttboard, sensor, 0, 1
		m.Update(tea.KeyMsg{Type: tea.KeyDown})
	}
	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("h")})
	v := string(strip(m.View()))
	if !contains(v, "History of mqttboard/sensor/1  4 messages here") {
		t.Fatalf("history view:\n%s", v)
	}
	// i = 10, 7, 4, 1 of the fixture: newest first.
	last := -1
	for _, row := range []string{"15:04:15.000 q0", "15:04:12.000 q1", "15:04:09.000 q0", "15:04:06.000 q1"} {
		i := strings.Index(v, row)
		if i <= last {
			t.Fatalf("%q missing or out of order:\n%s", row, v)
		}
		last = i
	}
	if contains(v, "15:04:07.000") {
		t.Fatalf("another topic's message in the history:\n%s", v)
	}
	m.Update(tea.KeyMsg{Type: tea.KeyDown})
	m.Update(tea.KeyMsg{Type: tea.KeyEsc})
	if v = string(strip(m.View())); contains(v, "History of") || !contains(v, "Topic tree") {
		t.Fatalf("after esc:\n%s", v)
	}
}
