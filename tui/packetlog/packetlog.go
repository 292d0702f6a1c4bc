// Package packetlog is the board's packet log: every packet the focused
// connection sent and received, decoded, with its properties and reason
// codes. Recording is switched on per connection, with the pane (a trace
// costs at 10,000 messages/s).
package packetlog

import (
	"fmt"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/mqttboard/mqttboard/client"
	"github.com/mqttboard/mqttboard/tui/common"
	"github.com/mqttboard/mqttboard/tui/conn"
	"github.com/mqttboard/mqttboard/tui/connections"
)

// Pane is the packet log.
type Pane struct {
	c       *common.Common
	set     *conn.Set
	w, h    int
	focused bool
	follow  bool
	sel     uint64 // Seq of the selected packet when not following
	rows    map[uint64]string
	rowsW   int
}

// New returns the pane.
func New(c *common.Common, set *conn.Set) *Pane {
	return &Pane{c: c, set: set, follow: true, rows: map[uint64]string{}}
}

// Title implements common.Pane.
func (p *Pane) Title() string {
	if cur := p.set.Current(); cur != nil {
		return fmt.Sprintf("Packets · %s %d", common.Safe(cur.Name()), cur.Packets.Len())
	}
	return "Packets"
}

// SetSize implements common.Pane.
func (p *Pane) SetSize(w, h int) { p.w, p.h = w, h }

// Focus implements common.Pane.
func (p *Pane) Focus() { p.focused = true }

// Blur implements common.Pane.
func (p *Pane) Blur() { p.focused = false }

// Capturing implements common.Pane.
func (p *Pane) Capturing() bool { return false }

// ShortHelp implements help.KeyMap.
func (p *Pane) ShortHelp() []key.Binding {
	k := p.c.Keys.Packets
	return []key.Binding{k.Up, k.Down, k.Follow, k.Clear}
}

// FullHelp implements help.KeyMap.
func (p *Pane) FullHelp() [][]key.Binding { return [][]key.Binding{p.ShortHelp()} }

// Update implements common.Pane.
func (p *Pane) Update(msg tea.Msg) tea.Cmd {
	cur := p.set.Current()
	if cur == nil {
		return nil
	}
	switch msg := msg.(type) {
	case connections.FocusChangedMsg:
		p.follow = true
		clear(p.rows)
	case tea.KeyMsg:
		k := p.c.Keys.Packets
		h := cur.Packets
		if h.Len() == 0 {
			return nil
		}
		sel := p.sel
		if p.follow {
			sel = h.End() - 1
		}
		switch {
		case key.Matches(msg, k.Up):
			if sel > h.First() {
				sel--
			}
			p.sel, p.follow = sel, false
		case key.Matches(msg, k.Down):
			p.sel = sel + 1
			p.follow = p.sel >= h.End()-1
		case key.Matches(msg, k.Follow):
			p.follow = true
		case key.Matches(msg, k.Clear):
			h.Clear()
			p.follow = true
		}
	}
	return nil
}

// View implements common.Pane.
func (p *Pane) View() string {
	cur := p.set.Current()
	st := p.c.Styles
	if cur == nil {
		return common.Lines(nil, p.w, p.h)
	}
	h := cur.Packets
	if h.Len() == 0 {
		return common.Lines([]string{st.Dim.Render("no packets yet")}, p.w, p.h)
	}
	sel := p.sel
	if p.follow || sel >= h.End() {
		sel = h.End() - 1
	}
	sel = max(sel, h.First())
	start := h.First()
	if sel+1-start > uint64(p.h) {
		start = sel + 1 - uint64(p.h)
	}
	if p.rowsW != p.w {
		clear(p.rows)
		p.rowsW = p.w
	}
	visible := make(map[uint64]string, p.h)
	lines := make([]string, 0, p.h)
	for s := start; s < h.End() && len(lines) < p.h; s++ {
		row, ok := p.rows[s]
		if !ok {
			tp, _ := h.Get(s)
			row = p.render(tp)
		}
		visible[s] = row
		if s == sel && !p.follow && p.focused {
			row = st.Selected.Render(row)
		}
		lines = append(lines, row)
	}
	p.rows = visible
	return common.Lines(lines, p.w, p.h)
}

func (p *Pane) render(tp client.TracePacket) string {
	st := p.c.Styles
	dir := st.OK.Render("→")
	if !tp.Out {
		dir = st.Label.Render("←")
	}
	var text string
	switch {
	case tp.Err != nil:
		text = st.Error.Render("undecodable: " + common.Safe(tp.Err.Error()))
	case tp.Packet != nil:
		text = common.Safe(tp.Packet.String())
	}
	return common.Fit(tp.Time.Format("15:04:05.000")+" "+dir+" "+text, p.w)
}
