package tui

import (
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest"
)

// waitText waits, bounded, until the screen output shows every one of texts
// (colour stripped). Output is incremental: only text drawn after the
// previous wait counts.
func waitText(t *testing.T, tm *teatest.TestModel, texts ...string) {
	t.Helper()
	var last []byte
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		last = b
		s := ansi.Strip(string(b))
		for _, x := range texts {
			if !strings.Contains(s, x) {
				return false
			}
		}
		return true
	}, teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(10*time.Millisecond),
	)
	_ = last
}

func keys(tm *teatest.TestModel, ks ...any) {
	for _, k := range ks {
		switch k := k.(type) {
		case tea.KeyType:
			tm.Send(tea.KeyMsg{Type: k})
		case string:
			tm.Type(k)
		}
	}
}

func startBoard(t *testing.T, w, h int) (*teatest.TestModel, *Model) {
	t.Helper()
	m := New(Options{ProfilesPath: t.TempDir() + "/profiles.json"})
	t.Cleanup(m.Close)
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(w, h))
	t.Cleanup(func() { tm.Quit() })
	return tm, m
}

// TestFlowFirstRun is the first run: the bundled broker starts, the local
// connection connects, the user subscribes, publishes with a user property
// and sees the message, its property and the PUBACK; adds a second
// connection; filters the list.
func TestFlowFirstRun(t *testing.T) {
	tm, m := startBoard(t, 120, 40)
	waitText(t, tm, "CONNACK success", "mqttboard/#")

	// Subscribe from the form: Publish -> Messages -> Subscriptions.
	keys(tm, tea.KeyShiftTab, tea.KeyShiftTab, "a", tea.KeyCtrlU, "flow/#", tea.KeyEnter, " ")
	waitText(t, tm, "Subscribe on local", "flow/#")
	keys(tm, tea.KeyCtrlS)
	waitText(t, tm, "flow/#")

	// Publish flow/a with a user property: Subscriptions -> Messages -> Publish.
	keys(tm, tea.KeyTab, tea.KeyTab, tea.KeyEnter, tea.KeyCtrlU, "flow/a", tea.KeyEnter,
		tea.KeyDown, tea.KeyDown, tea.KeyDown, tea.KeyEnter, "colour=blue", tea.KeyEsc, tea.KeyCtrlS)
	waitText(t, tm, "flow/a", "PUBACK success", `"colour"="blue"`)

	// The subscription counted it.
	c := m.Set().List[0]
	if c.Status.String() != "connected" {
		t.Fatalf("status %v", c.Status)
	}

	// Details: hex view of the selected message.
	keys(tm, tea.KeyShiftTab, "v", "v")
	waitText(t, tm, "hex", "7b 22 74 65")

	// Filter the list by topic: nothing under other/.
	keys(tm, "/", "other/#", tea.KeyEnter)
	waitText(t, tm, "no message matches the filter")
	keys(tm, "/", tea.KeyEsc)

	// A second connection to the same broker.
	keys(tm, tea.KeyShiftTab, tea.KeyShiftTab, "l")
	waitText(t, tm, "local2")
	waitText(t, tm, "CONNACK success")

	tm.Send(tea.KeyMsg{Type: tea.KeyCtrlC})
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	if n := len(m.Set().List); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
	if got := m.Set().List[0].Subs; len(got) != 2 || got[1].Count != 1 {
		t.Fatalf("subscriptions %+v", got)
	}
}
