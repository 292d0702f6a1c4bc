package tui

import (
	"testing"

	tea "github.com/charmbracelet/bubbletea"
)

// TestSubscribeFormStartsEmpty is issue #10's item 3: the form opened with
// "#" pre-filled and in edit mode, so a, enter, typing test/#, enter,
// ctrl+s subscribed to "#" and lost what was typed.
func TestSubscribeFormStartsEmpty(t *testing.T) {
	for name, keys := range map[string][]tea.KeyMsg{
		"enter then type": {press("a"), {Type: tea.KeyEnter}, press("test/#"), {Type: tea.KeyEnter}, {Type: tea.KeyCtrlS}},
		"type at once":    {press("a"), press("test/#"), {Type: tea.KeyEnter}, {Type: tea.KeyCtrlS}},
		// k and j are the form's up and down, but not on a text field.
		"starts with k": {press("a"), press("k"), press("test/#"), {Type: tea.KeyCtrlS}},
	} {
		t.Run(name, func(t *testing.T) {
			m := fixture(t, 120, 40)
			m.focusPane(Subscriptions)
			cn := m.Set().Current()
			before := len(cn.Subs)
			for _, k := range keys {
				m.Update(k)
			}
			if len(cn.Subs) != before+1 {
				t.Fatalf("%d subscriptions, want %d", len(cn.Subs), before+1)
			}
			want := "test/#"
			if name == "starts with k" {
				want = "ktest/#"
			}
			if got := cn.Subs[len(cn.Subs)-1].Filter; got != want {
				t.Errorf("subscribed to %q, want %q", got, want)
			}
		})
	}
}

// TestSubscribeFormEmptyFilter: ctrl+s on the untouched form subscribes to
// nothing and says why.
func TestSubscribeFormEmptyFilter(t *testing.T) {
	m := fixture(t, 120, 40)
	m.focusPane(Subscriptions)
	cn := m.Set().Current()
	before := len(cn.Subs)
	m.Update(press("a"))
	_, cmd := m.Update(tea.KeyMsg{Type: tea.KeyCtrlS})
	if len(cn.Subs) != before {
		t.Fatalf("subscribed with an empty filter: %+v", cn.Subs[len(cn.Subs)-1])
	}
	if cmd == nil {
		t.Fatal("no status for the empty filter")
	}
	m.Update(cmd())
	if m.status != "topic filter is empty" {
		t.Errorf("status %q", m.status)
	}
}
