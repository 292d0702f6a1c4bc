package form

import (
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/mqttboard/mqttboard/tui/common"
)

func press(m *Model, ks ...any) {
	for _, k := range ks {
		switch k := k.(type) {
		case tea.KeyType:
			m.Update(tea.KeyMsg{Type: k})
		case string:
			m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)})
		}
	}
}

// TestPairs adds three key/value rows, removes the middle one with x, and
// moves across the rows and the "+ add" row to the fields around them.
func TestPairs(t *testing.T) {
	m := New(common.Default(),
		NewField(Text, "topic", "Topic", ""),
		NewField(Pairs, "user", "User props", ""),
		NewField(Text, "after", "After", ""),
	)
	m.SetSize(60, 20)
	press(m, tea.KeyDown, // to "+ add"
		tea.KeyEnter, "a", tea.KeyEnter, "1", tea.KeyEnter, // row a=1, then on "+ add"
		tea.KeyEnter, "b", tea.KeyEnter, "2", tea.KeyEnter,
		tea.KeyEnter, "c=x", tea.KeyEnter, "3", tea.KeyEsc) // esc ends on the row
	if got := m.Value("user"); got != "a=1\nb=2\nc=x=3" {
		t.Fatalf("rows %q", got)
	}
	v := ansi.Strip(m.View(true))
	if !strings.Contains(v, "+ add") || !strings.Contains(v, "b") {
		t.Fatalf("view:\n%s", v)
	}
	press(m, tea.KeyUp, "x") // remove b=2
	if got := m.Pairs("user"); len(got) != 2 || got[1] != [2]string{"c=x", "3"} {
		t.Fatalf("after remove %q", got)
	}
	// Down past the last row and "+ add" to the next field; up from it
	// lands on "+ add".
	press(m, tea.KeyDown, tea.KeyDown)
	if m.Cursor() != "after" {
		t.Fatalf("cursor on %s", m.Cursor())
	}
	press(m, tea.KeyUp, tea.KeyEnter, "d", tea.KeyEnter, "4", tea.KeyEnter)
	if got := m.Pairs("user"); len(got) != 3 || got[2][0] != "d" {
		t.Fatalf("added from below %q", got)
	}
	// Rows with neither key nor value do not count.
	press(m, tea.KeyEnter, tea.KeyEsc)
	if got := m.Pairs("user"); len(got) != 3 {
		t.Fatalf("empty row counted %q", got)
	}
	m.SetPairs("user", nil)
	if m.Value("user") != "" {
		t.Fatal("SetPairs(nil) kept rows")
	}
}

// TestDownFromPairRow: down from a key/value row goes to the next row, then
// to "+ add", then to the next field; also while the row is being edited.
func TestDownFromPairRow(t *testing.T) {
	m := New(common.Default(),
		NewField(Text, "topic", "Topic", ""),
		NewField(Pairs, "user", "User props", ""),
		NewField(Text, "after", "After", ""),
	)
	m.SetSize(60, 20)
	press(m, tea.KeyDown, tea.KeyEnter, "a", tea.KeyEnter, "1", tea.KeyEnter) // a=1, cursor on "+ add"
	press(m, tea.KeyUp, tea.KeyDown, tea.KeyEnter, "b", tea.KeyEnter, "2", tea.KeyEsc)
	if got := m.Value("user"); got != "a=1\nb=2" {
		t.Fatalf("down from row a did not reach + add: %q", got)
	}
	// Editing row b's value, down ends the edit and moves on to + add.
	press(m, tea.KeyEnter, tea.KeyEnter, "x", tea.KeyDown, tea.KeyEnter, "c", tea.KeyEnter, "3", tea.KeyEsc)
	if got := m.Value("user"); got != "a=1\nb=2x\nc=3" {
		t.Fatalf("down while editing: %q", got)
	}
}
