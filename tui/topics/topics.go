// Package topics is the board's topic tree: every topic seen on the focused
// connection, with message counts and the last payload; the selected
// topic's history and a sparkline of a numeric field; and deletion of the
// retained messages under a node.
package topics

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/mqttboard/mqttboard/tui/common"
	"github.com/mqttboard/mqttboard/tui/conn"
	"github.com/mqttboard/mqttboard/tui/connections"
)

// Pane is the topic tree.
type Pane struct {
	c       *common.Common
	set     *conn.Set
	w, h    int
	focused bool
	// sel is the selected node's topic path: the selection follows the
	// topic, not a row number, so topics arriving above it do not move it
	// (and D acts on the topic the user chose). cursor is its row, found
	// again by flatten.
	sel     string
	cursor  int
	top     int
	field   int      // index into the selected topic's numeric fields
	confirm []string // retained topics to delete, waiting for y/n
	// confirmPath is the node confirm is for; confirmNote says when the
	// broker did not confirm the list's end.
	confirmPath, confirmNote string
	finding                  string // node path whose retained messages are being looked up
	rows                     []row
	history                  *conn.Topic // the node whose history view is open
	histSel                  int         // selected row of the history view, 0 newest
	// diff shows, in the history view, the selected payload against the
	// one before it on the topic (the newest: the last two payloads).
	diff bool
}

type row struct {
	node  *conn.Topic
	depth int
}

// New returns the pane.
func New(c *common.Common, set *conn.Set) *Pane { return &Pane{c: c, set: set} }

// Title implements common.Pane.
func (p *Pane) Title() string { return "Topic tree" }

// SetSize implements common.Pane.
func (p *Pane) SetSize(w, h int) { p.w, p.h = w, h }

// Focus implements common.Pane.
func (p *Pane) Focus() { p.focused = true }

// Blur implements common.Pane.
func (p *Pane) Blur() { p.focused = false; p.confirm = nil }

// Capturing implements common.Pane: a pending confirmation and the history
// view take the keys.
func (p *Pane) Capturing() bool { return p.confirm != nil || p.history != nil }

// ModalOpen reports that the topic history view is open.
func (p *Pane) ModalOpen() bool { return p.history != nil }

// ShortHelp implements help.KeyMap.
func (p *Pane) ShortHelp() []key.Binding {
	k := p.c.Keys.Topics
	if p.confirm != nil {
		return []key.Binding{k.Confirm, k.Cancel}
	}
	if p.history != nil {
		return []key.Binding{k.Up, k.Down, k.Diff, k.History, k.Cancel}
	}
	return []key.Binding{k.Up, k.Down, k.Expand, k.History, k.Field, k.Delete}
}

// FullHelp implements help.KeyMap.
func (p *Pane) FullHelp() [][]key.Binding {
	k := p.c.Keys.Topics
	return [][]key.Binding{{k.Up, k.Down, k.Expand, k.History, k.Diff, k.Field, k.Delete, k.Confirm, k.Cancel}}
}

func (p *Pane) flatten(cur *conn.Conn) {
	p.rows = p.rows[:0]
	var walk func(n *conn.Topic, depth int)
	walk = func(n *conn.Topic, depth int) {
		for _, c := range n.Sorted() {
			p.rows = append(p.rows, row{c, depth})
			if c.Expanded {
				walk(c, depth+1)
			}
		}
	}
	walk(cur.Topics, 0)
	p.cursor = p.find(p.sel)
	if len(p.rows) > 0 {
		p.sel = p.rows[p.cursor].node.Path
	}
}

// find is the row of the node at path or, when it is hidden under a
// collapsed node, of its nearest shown ancestor; row 0 when none is shown.
func (p *Pane) find(path string) int {
	for path != "" {
		for i, r := range p.rows {
			if r.node.Path == path {
				return i
			}
		}
		i := strings.LastIndexByte(path, '/')
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// move selects the row d rows away from the selection.
func (p *Pane) move(d int) {
	if len(p.rows) == 0 {
		return
	}
	p.cursor = min(max(p.cursor+d, 0), len(p.rows)-1)
	p.sel = p.rows[p.cursor].node.Path
}

// Update implements common.Pane.
func (p *Pane) Update(msg tea.Msg) tea.Cmd {
	cur := p.set.Current()
	if cur == nil {
		return nil
	}
	switch msg := msg.(type) {
	case connections.FocusChangedMsg:
		p.sel, p.cursor, p.top, p.confirm, p.history, p.finding = "", 0, 0, nil, nil, ""
	case common.ConnMsg:
		f, ok := msg.Msg.(conn.RetainedFound)
		if !ok || msg.ConnID != cur.ID || f.Path != p.finding || p.finding == "" {
			return nil
		}
		p.finding = ""
		switch {
		case f.Err != nil:
			return nil // the connection reports the error
		case len(f.Topics) == 0:
			return common.Status("the broker holds no retained messages under "+common.Safe(f.Path), false)
		}
		p.confirm, p.confirmPath, p.confirmNote = f.Topics, f.Path, ""
		if !f.Complete {
			p.confirmNote = " (the broker did not confirm the end of the list)"
		}
		return common.Status("", false)
	case tea.MouseMsg:
		p.flatten(cur)
		switch {
		case p.history != nil || p.confirm != nil:
		case msg.Button == tea.MouseButtonLeft && msg.Action == tea.MouseActionPress:
			if i := p.top + msg.Y; msg.Y >= 0 && i < len(p.rows) {
				p.move(i - p.cursor)
			}
		case msg.Button == tea.MouseButtonWheelUp:
			p.move(-3)
		case msg.Button == tea.MouseButtonWheelDown:
			p.move(3)
		}
	case tea.KeyMsg:
		p.flatten(cur)
		k := p.c.Keys.Topics
		if p.history != nil {
			n := 0
			if p.history.Recent != nil {
				n = p.history.Recent.Len()
			}
			switch {
			case key.Matches(msg, k.Up):
				p.histSel = max(p.histSel-1, 0)
			case key.Matches(msg, k.Down):
				p.histSel = min(p.histSel+1, max(n-1, 0))
			case key.Matches(msg, k.Diff):
				p.diff = !p.diff
			case key.Matches(msg, k.History, k.Cancel), msg.String() == "q":
				p.history = nil
			}
			return nil
		}
		if p.confirm != nil {
			switch {
			case key.Matches(msg, k.Confirm):
				topics := p.confirm
				p.confirm = nil
				return cur.DeleteRetained(topics)
			case key.Matches(msg, k.Cancel):
				p.confirm = nil
			}
			return nil
		}
		switch {
		case key.Matches(msg, k.Up):
			p.move(-1)
			p.field = 0
		case key.Matches(msg, k.Down):
			p.move(1)
			p.field = 0
		case key.Matches(msg, k.Expand):
			if n := p.node(); n != nil {
				n.Expanded = !n.Expanded
			}
		case key.Matches(msg, k.Field):
			p.field++
		case key.Matches(msg, k.History):
			if n := p.node(); n != nil {
				p.history, p.histSel = n, 0
			}
		case key.Matches(msg, k.Delete):
			if n := p.node(); n != nil {
				// Ask the broker what it holds under the node; when the
				// connection is down, fall back to what the board saw.
				if cmd := cur.FindRetained(n.Path); cmd != nil {
					p.finding = n.Path
					return tea.Batch(cmd, common.Status("looking up the retained messages under "+common.Safe(n.Path)+"…", false))
				}
				r := n.Retained()
				if len(r) == 0 {
					return common.Status("no retained messages seen under "+common.Safe(n.Path), false)
				}
				p.confirm, p.confirmPath, p.confirmNote = r, n.Path, " (seen by the board; not connected to ask the broker)"
			}
		}
	}
	return nil
}

func (p *Pane) node() *conn.Topic {
	if p.cursor < 0 || p.cursor >= len(p.rows) {
		return nil
	}
	return p.rows[p.cursor].node
}

// View implements common.Pane.
func (p *Pane) View() string {
	cur := p.set.Current()
	st := p.c.Styles
	if cur == nil {
		return common.Lines(nil, p.w, p.h)
	}
	p.flatten(cur)
	if len(p.rows) == 0 {
		return common.Lines([]string{st.Dim.Render("no topics seen yet")}, p.w, p.h)
	}
	detailH := 0
	if p.h >= 10 {
		detailH = p.h * 2 / 5
	}
	listH := p.h - detailH
	if p.cursor < p.top {
		p.top = p.cursor
	}
	if p.cursor >= p.top+listH {
		p.top = p.cursor - listH + 1
	}
	var lines []string
	for i := p.top; i < min(len(p.rows), p.top+listH); i++ {
		r := p.rows[i]
		n := r.node
		glyph := "  "
		if len(n.Children) > 0 {
			glyph = "▸ "
			if n.Expanded {
				glyph = "▾ "
			}
		}
		count := strconv.FormatUint(n.Total, 10)
		name := strings.Repeat("  ", r.depth) + glyph + common.Safe(n.Name)
		nameW := min(max(p.w/2, 16), p.w-len(count)-2)
		line := common.Fit(name, nameW) + " " + st.Label.Render(count)
		if n.Last != nil {
			line += " " + st.Dim.Render(common.Safe(string(n.Last.Payload)))
		}
		line = common.Fit(line, p.w)
		if i == p.cursor && p.focused {
			line = st.Selected.Render(line)
		}
		lines = append(lines, line)
	}
	for len(lines) < listH {
		lines = append(lines, "")
	}
	if detailH > 0 {
		lines = append(lines, p.detail(detailH)...)
	}
	return common.Lines(lines, p.w, p.h)
}

func (p *Pane) detail(h int) []string {
	st := p.c.Styles
	n := p.node()
	lines := []string{st.Dim.Render(strings.Repeat("─", p.w))}
	if n == nil {
		return lines
	}
	if p.confirm != nil {
		lines = append(lines, st.Warn.Render(fmt.Sprintf("Delete %d retained message(s) under %s%s with empty retained publishes? y/n", len(p.confirm), common.Safe(p.confirmPath), p.confirmNote)))
		// The topics themselves, as many as fit: the user confirms what
		// will be deleted, not a number.
		for i, t := range p.confirm {
			if len(lines) == h-1 && i < len(p.confirm)-1 {
				lines = append(lines, st.Dim.Render(fmt.Sprintf("  … and %d more", len(p.confirm)-i)))
				break
			}
			if len(lines) >= h {
				break
			}
			lines = append(lines, "  "+common.Safe(t))
		}
		return lines
	}
	lines = append(lines, st.Label.Render(common.Safe(n.Path))+fmt.Sprintf("  %d here, %d under", n.Count, n.Total))
	if n.Recent == nil || n.Recent.Len() == 0 {
		return lines
	}
	last, _ := n.Recent.Get(n.Recent.End() - 1)
	if fields := NumericFields(last.Payload); len(fields) > 0 {
		f := fields[p.field%len(fields)]
		var vals []float64
		for s := n.Recent.First(); s < n.Recent.End(); s++ {
			m, _ := n.Recent.Get(s)
			if v, ok := Value(m.Payload, f); ok {
				vals = append(vals, v)
			}
		}
		name := common.Safe(f)
		if name == "" {
			name = "value"
		}
		lastV := ""
		if len(vals) > 0 {
			lastV = strconv.FormatFloat(vals[len(vals)-1], 'g', -1, 64)
		}
		lines = append(lines, st.Label.Render(name)+" "+Sparkline(vals, max(p.w-len(name)-len(lastV)-3, 4))+" "+lastV)
	}
	for s := n.Recent.End(); s > n.Recent.First() && len(lines) < h; s-- {
		m, _ := n.Recent.Get(s - 1)
		r := ""
		if m.Retain {
			r = " r"
		}
		lines = append(lines, m.Time.Format("15:04:05.000")+r+" "+common.Safe(string(m.Payload)))
	}
	return lines
}

// ModalView is the history view of the selected topic: its last
// conn.TopicHistorySize messages, newest first, with time, QoS, retain flag,
// size and a payload preview; the selected one's payload below.
func (p *Pane) ModalView(w, h int) string {
	st := p.c.Styles
	n := p.history
	lines := []string{st.Title.Render("History of "+common.Safe(n.Path)) + fmt.Sprintf("  %d messages here, the last %d kept", n.Count, conn.TopicHistorySize), ""}
	if n.Recent == nil || n.Recent.Len() == 0 {
		lines = append(lines, st.Dim.Render("no message on exactly this topic (only under it)"))
		return common.Lines(lines, w, h)
	}
	count := n.Recent.Len()
	listH := max(h-len(lines)-4, 1)
	if p.diff {
		listH = max((h-len(lines))/2, 3) // the other half for the diff
	}
	top := max(p.histSel-listH+1, 0)
	for i := top; i < min(count, top+listH); i++ {
		m, _ := n.Recent.Get(n.Recent.End() - 1 - uint64(i))
		flags := fmt.Sprintf("q%d", m.QoS)
		if m.Retain {
			flags += " r"
		} else {
			flags += "  "
		}
		row := m.Time.Format("15:04:05.000") + " " + flags + fmt.Sprintf(" %6dB ", len(m.Payload)) + st.Dim.Render(common.Safe(string(m.Payload)))
		row = common.Fit(row, w)
		if i == p.histSel {
			row = st.Selected.Render(row)
		}
		lines = append(lines, row)
	}
	i := min(p.histSel, count-1)
	sel, _ := n.Recent.Get(n.Recent.End() - 1 - uint64(i))
	if !p.diff {
		lines = append(lines, "", st.Dim.Render(strings.Repeat("─", w)+" d: diff with the previous"), common.Safe(string(sel.Payload)))
		return common.Lines(lines, w, h)
	}
	if i+1 >= count {
		lines = append(lines, "", st.Dim.Render("── diff: no earlier message kept on this topic"))
		return common.Lines(lines, w, h)
	}
	prev, _ := n.Recent.Get(n.Recent.End() - 2 - uint64(i))
	lines = append(lines, "", st.Dim.Render(fmt.Sprintf("── diff: %s → %s ", prev.Time.Format("15:04:05.000"), sel.Time.Format("15:04:05.000"))+strings.Repeat("─", max(w-40, 0))))
	lines = append(lines, diffLines(st, prev.Payload, sel.Payload)...)
	return common.Lines(lines, w, h)
}
