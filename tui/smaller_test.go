package tui

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/client"
	"github.com/mqttboard/mqttboard/profiles"
	"github.com/mqttboard/mqttboard/tui/common"
	"github.com/mqttboard/mqttboard/tui/conn"
)

// Issue #10's item 8, one test per defect.

func view(m *Model) string { return string(strip(m.View())) }

// TestStaleErrorCleared: the status line kept a connection's error after
// it connected.
func TestStaleErrorCleared(t *testing.T) {
	m := fixture(t, 120, 40)
	cn := m.Set().Current()
	refused := &client.DialError{URL: "mqtt://127.0.0.1:1", Err: syscall.ECONNREFUSED}
	m.Update(common.ConnMsg{ConnID: cn.ID, Msg: conn.ConnectResult{Generation: cn.Generation, Err: refused}})
	if !m.isErr || !strings.Contains(m.status, "connection refused") {
		t.Fatalf("status %q", m.status)
	}
	m.Update(common.ConnMsg{ConnID: cn.ID, Msg: conn.ConnectResult{Generation: cn.Generation, Connack: &client.Connack{}}})
	if m.isErr || strings.Contains(m.status, "refused") {
		t.Errorf("stale error after connecting: %q", m.status)
	}
}

// TestErrorsNameTheForm: errors gave command-line hints ("use -h/-p or
// -L") in the board.
func TestErrorsNameTheForm(t *testing.T) {
	for _, err := range []error{
		&client.DialError{URL: "mqtt://127.0.0.1:1", Err: syscall.ECONNREFUSED},
		&client.DialError{URL: "mqtt://nowhere.invalid:1883", Err: &net.DNSError{Err: "no such host", Name: "nowhere.invalid"}},
		&client.RefusedError{URL: "mqtt://x", Code: 0x86},
		&client.RefusedError{URL: "mqtt://x", Code: 0x84},
	} {
		got := conn.Explain(err)
		if strings.Contains(got, "-h") || strings.Contains(got, "-L") || strings.Contains(got, "-u/-P") || strings.Contains(got, "-V") || !strings.Contains(got, "(e") {
			t.Errorf("Explain(%v) = %q", err, got)
		}
	}
}

// TestRemoveAsks: x removed a connection holding messages without asking.
func TestRemoveAsks(t *testing.T) {
	m := fixture(t, 120, 40)
	m.focusPane(Connections)
	m.Update(press("x"))
	if v := view(m); len(m.Set().List) != 1 || !strings.Contains(v, "Remove local and its") || !strings.Contains(v, "its 12") || !strings.Contains(v, "messages? y/n") {
		t.Fatalf("x did not ask:\n%s", view(m))
	}
	m.Update(press("n"))
	if len(m.Set().List) != 1 || strings.Contains(view(m), "Remove local") {
		t.Fatal("n removed or kept asking")
	}
	m.Update(press("x"))
	m.Update(press("y"))
	if len(m.Set().List) != 0 {
		t.Fatal("y did not remove")
	}
}

// TestHelpScrollsAndCoversFormsAndMouse: the help overlay could not scroll
// and left out the forms and the mouse.
func TestHelpScrollsAndCoversFormsAndMouse(t *testing.T) {
	m := fixture(t, 80, 24)
	m.Update(press("?"))
	if v := view(m); !strings.Contains(v, "1-20/") {
		t.Fatalf("no scroll position:\n%s", v)
	}
	seen := ""
	for range 40 {
		m.Update(tea.KeyMsg{Type: tea.KeyDown})
		seen += view(m)
	}
	for _, want := range []string{"forms (connection, subscribe, publish)", "ctrl+x cancel", "mouse", "wheel: scroll"} {
		if !strings.Contains(seen, want) {
			t.Errorf("help never showed %q", want)
		}
	}
	m.Update(press("x"))
	if m.full {
		t.Error("another key did not close the help")
	}
}

// TestMouseSelectsRows: the mouse only focused panes.
func TestMouseSelectsRows(t *testing.T) {
	m := fixture(t, 120, 40)
	r := m.rects[Messages]
	// The third row of the list: the fixture's message at 15:04:07.
	m.Update(tea.MouseMsg{X: r.x + 10, Y: r.y + 1 + 2, Button: tea.MouseButtonLeft, Action: tea.MouseActionPress})
	if m.focus != Messages {
		t.Fatalf("focus %v", paneNames[m.focus])
	}
	m.Update(tea.KeyMsg{Type: tea.KeyEnter})
	if v := view(m); !strings.Contains(v, "15:04:07.000") {
		t.Fatalf("the click did not select the third message:\n%s", v)
	}
	m.Update(tea.KeyMsg{Type: tea.KeyEsc})
	// A click on the second connection focuses it.
	m.Set().Add(profiles.Profile{Name: "second", URL: "mqtt://127.0.0.1:1"})
	m.Set().Focused = 0
	c := m.rects[Connections]
	_, cmd := m.Update(tea.MouseMsg{X: c.x + 3, Y: c.y + 1 + 1, Button: tea.MouseButtonLeft, Action: tea.MouseActionPress})
	drive(m, cmd, 0)
	if m.Set().Focused != 1 {
		t.Errorf("click focused connection %d", m.Set().Focused)
	}
	// The wheel over the subscriptions moves their cursor.
	m.Set().Focused = 0
	s := m.rects[Subscriptions]
	m.Update(tea.MouseMsg{X: s.x + 3, Y: s.y + 2, Button: tea.MouseButtonWheelDown, Action: tea.MouseActionPress})
	m.focusPane(Subscriptions)
	if v := view(m); !strings.Contains(v, "not authorized") { // the selected failed subscription shows its error
		t.Logf("view:\n%s", v)
	}
}

// TestNarrowListHasPayload: at 80×24 the list had no payload column.
func TestNarrowListHasPayload(t *testing.T) {
	m := fixture(t, 80, 24)
	rows := 0
	for l := range strings.SplitSeq(m.Pane(Messages).View(), "\n") {
		if strings.Contains(string(strip(l)), `{"temperature"`) && strings.Contains(string(strip(l)), "mqttboard/") {
			rows++
		}
	}
	if rows < 5 {
		t.Errorf("%d rows with topic and payload:\n%s", rows, strip(m.Pane(Messages).View()))
	}
}

// TestExportGoesToDataDir: e wrote to the working directory and reported a
// relative name.
func TestExportGoesToDataDir(t *testing.T) {
	data := t.TempDir()
	t.Setenv("XDG_DATA_HOME", data)
	m := fixture(t, 120, 40)
	m.focusPane(Messages)
	_, cmd := m.Update(press("e"))
	st := cmd().(common.StatusMsg)
	want := filepath.Join(data, "mqttboard", "exports") + string(filepath.Separator)
	if st.Error || !strings.Contains(st.Text, " to "+want) {
		t.Fatalf("status %q, want a path under %s", st.Text, want)
	}
}

// TestFilteredTitleCounts: the title kept the total while a filter hid rows.
func TestFilteredTitleCounts(t *testing.T) {
	m := fixture(t, 120, 40)
	m.focusPane(Messages)
	m.Update(press("/"))
	m.Update(press("mqttboard/sensor/1"))
	m.Update(tea.KeyMsg{Type: tea.KeyEnter})
	if v := view(m); !strings.Contains(v, "Messages 4 of 12") {
		t.Fatalf("title:\n%s", v)
	}
}

// TestCloneKeepsSubscriptions: cloning a connection dropped its
// subscriptions.
func TestCloneKeepsSubscriptions(t *testing.T) {
	m := fixture(t, 120, 40)
	m.focusPane(Connections)
	m.Update(press("c"))
	m.Update(tea.KeyMsg{Type: tea.KeyCtrlS})
	if n := len(m.Set().List); n != 2 {
		t.Fatalf("%d connections", n)
	}
	orig, clone := m.Set().List[0], m.Set().List[1]
	if clone.Profile.Name != "local-copy" || len(clone.Subs) != len(orig.Subs) {
		t.Fatalf("clone %q has %d subscriptions, want %d", clone.Profile.Name, len(clone.Subs), len(orig.Subs))
	}
	for i := range orig.Subs {
		if clone.Subs[i].Filter != orig.Subs[i].Filter || clone.Subs[i] == orig.Subs[i] {
			t.Errorf("subscription %d: %q", i, clone.Subs[i].Filter)
		}
	}
}

// TestFirstConnectRetried is issue #10's item 7: a connection whose first
// connect failed was never retried. It retries with backoff, shows the
// attempt, the error and the next try, and the packet log (recording
// though never opened) shows the failure, then the CONNECT and CONNACK.
func TestFirstConnectRetried(t *testing.T) {
	// A free port, closed again: nothing listens there yet.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	m := New(Options{NoFrameTick: true, Offline: true})
	t.Cleanup(m.Close)
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	cn := m.Set().Add(profiles.Profile{Name: "later", URL: "mqtt://" + addr})
	m.Set().Offline = false
	_, retry := m.Update(cn.Connect()())
	if cn.Status != conn.Reconnecting || cn.Attempt != 1 || cn.NextTry.IsZero() {
		t.Fatalf("after the failure: %v attempt %d next %v err %s", cn.Status, cn.Attempt, cn.NextTry, cn.Err)
	}
	m.focusPane(Connections)
	if v := view(m); !strings.Contains(v, "attempt 1 failed; next try") || !strings.Contains(v, "connection refused") {
		t.Fatalf("no attempt, error or next try:\n%s", v)
	}

	// The broker comes up where the connection points.
	s := broker.New(broker.Options{Listen: addr})
	if err := s.Listen(); err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(ctx) }()
	t.Cleanup(func() { s.Close(); cancel(); <-done })

	// The retry timer fires (after the 1 s backoff) and connects.
	drive(m, retry, 0)
	if cn.Status != conn.Connected || cn.Attempt != 0 {
		t.Fatalf("after the retry: %v attempt %d err %s", cn.Status, cn.Attempt, cn.Err)
	}
	deadline := time.Now().Add(10 * time.Second)
	var kinds []string
	for {
		m.Frame(time.Now())
		kinds = kinds[:0]
		for seq := cn.Packets.First(); seq < cn.Packets.End(); seq++ {
			e, _ := cn.Packets.Get(seq)
			switch {
			case e.Note != "":
				kinds = append(kinds, "note:"+strings.SplitN(e.Note, ":", 2)[0])
			case e.Packet != nil:
				kinds = append(kinds, e.Packet.Type().String())
			}
		}
		if strings.Contains(strings.Join(kinds, " "), "CONNACK") || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond) // waiting on the client's goroutine, which cannot notify the test
	}
	got := strings.Join(kinds, " ")
	if !strings.Contains(got, "note:connect attempt 1 failed CONNECT CONNACK") {
		t.Errorf("packet log %q", got)
	}
}

// TestIdleFrameRendersNothing: a frame in which nothing arrived sends the
// panes nothing and View returns the frame already rendered, so an idle
// board costs its terminal nothing and its CPU next to nothing.
func TestIdleFrameRendersNothing(t *testing.T) {
	m := fixture(t, 120, 40)
	first := m.View()
	if cmd := m.Frame(t0.Add(10 * time.Millisecond)); cmd != nil {
		t.Error("an idle frame went to the panes")
	}
	if m.dirty {
		t.Error("an idle frame marked the view dirty")
	}
	if m.View() != first {
		t.Error("the idle view changed")
	}
	// A message arriving marks it dirty and shows.
	e := &client.MessageEvent{Time: t0}
	e.Topic = "new/topic"
	m.Set().Current().Push(e)
	m.Frame(t0.Add(20 * time.Millisecond))
	if !strings.Contains(view(m), "new/topic") {
		t.Error("the new message is not shown")
	}
}
