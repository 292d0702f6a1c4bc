package tui

import (
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/mqttboard/mqttboard/client"
)

// drive runs cmd as the program would and feeds what it returns back into
// the model, following batches (bounded depth).
func drive(m *Model, cmd tea.Cmd, depth int) {
	if cmd == nil || depth > 8 {
		return
	}
	switch msg := cmd().(type) {
	case nil:
	case tea.BatchMsg:
		for _, c := range msg {
			drive(m, c, depth+1)
		}
	default:
		_, next := m.Update(msg)
		drive(m, next, depth+1)
	}
}

// TestDeleteRetainedAsksTheBroker: the topic tree's delete asks the broker
// what it holds under the node, so a retained message the board never saw
// (its subscription does not cover it) is counted and deleted too.
func TestDeleteRetainedAsksTheBroker(t *testing.T) {
	m := New(Options{NoFrameTick: true})
	t.Cleanup(m.Close)
	cn := m.Set().List[0]
	cn.Subs[0].Filter = "farm/seen/#"
	connectNow(t, m, cn)

	pub, err := client.New(client.Options{URL: cn.Profile.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	for _, tp := range []string{"farm/seen/a", "farm/unseen/b", "farm/unseen/c/d", "other/x"} {
		if _, err := pub.Publish(t.Context(), &client.Message{Topic: tp, Payload: []byte("1"), Retain: true, QoS: 1}); err != nil {
			t.Fatal(err)
		}
	}
	// The board sees farm/seen/a only; drain frames until it is in the tree.
	tick := time.NewTicker(FrameInterval)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for cn.Topics.Total == 0 {
		select {
		case now := <-tick.C:
			m.Frame(now)
		case <-deadline:
			t.Fatal("the board never saw farm/seen/a")
		}
	}

	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("T")})
	m.focusPane(Topics)
	_, cmd := m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("D")}) // on "farm", the first row
	drive(m, cmd, 0)
	if v := string(strip(m.View())); !strings.Contains(v, "Delete 3 retained message(s) under farm with") {
		t.Fatalf("want the broker's count (3), not the board's (1):\n%s", v)
	}
	_, cmd = m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("y")})
	drive(m, cmd, 0)
	if !strings.Contains(m.status, "deleted 3 retained messages") {
		t.Fatalf("status %q", m.status)
	}

	// The broker holds only other/x now.
	check, err := client.New(client.Options{URL: cn.Profile.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := check.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer check.Close()
	found, complete, err := check.CollectRetained(t.Context(), "#", "probe/check", 5*time.Second)
	if err != nil || !complete || len(found) != 1 || found[0].Topic != "other/x" {
		t.Fatalf("retained left: %d (complete %t, %v)", len(found), complete, err)
	}
}
