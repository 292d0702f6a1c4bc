// Package packetlog is the board's packet log: every packet the focused
// connection sent and received, decoded, with its properties and reason
// codes, and the connection's events (loss, each retry and its error). The
// connection records always, into a bounded ring; L only shows the pane.
package packetlog

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/mqttboard/mqttboard/packet"
	"github.com/mqttboard/mqttboard/tui/common"
	"github.com/mqttboard/mqttboard/tui/conn"
	"github.com/mqttboard/mqttboard/tui/connections"
	"github.com/mqttboard/mqttboard/tui/messages"
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
	view    string // the pane as last rendered, by refresh
	// open is the entry whose full decode is shown, nil when closed; top
	// its first shown row.
	open *conn.LogEntry
	top  int
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
func (p *Pane) SetSize(w, h int) { p.w, p.h = w, h; p.refresh() }

// Focus implements common.Pane.
func (p *Pane) Focus() { p.focused = true; p.refresh() }

// Blur implements common.Pane.
func (p *Pane) Blur() { p.focused = false; p.refresh() }

// Capturing implements common.Pane: the full decode takes the keys.
func (p *Pane) Capturing() bool { return p.open != nil }

// ModalOpen reports that a line's full decode is shown.
func (p *Pane) ModalOpen() bool { return p.open != nil }

// ShortHelp implements help.KeyMap.
func (p *Pane) ShortHelp() []key.Binding {
	k := p.c.Keys.Packets
	if p.open != nil {
		d := p.c.Keys.Detail
		return []key.Binding{d.Close, d.Up, d.Down}
	}
	return []key.Binding{k.Up, k.Down, k.Open, k.Follow, k.Clear}
}

// FullHelp implements help.KeyMap.
func (p *Pane) FullHelp() [][]key.Binding { return [][]key.Binding{p.ShortHelp()} }

// Update implements common.Pane. The visible rows are rendered here, after
// the state changed (pug's table.Model), and View only returns them.
func (p *Pane) Update(msg tea.Msg) tea.Cmd {
	cmd := p.update(msg)
	p.refresh()
	return cmd
}

func (p *Pane) update(msg tea.Msg) tea.Cmd {
	cur := p.set.Current()
	if cur == nil {
		return nil
	}
	switch msg := msg.(type) {
	case connections.FocusChangedMsg:
		p.follow = true
		clear(p.rows)
	case tea.MouseMsg:
		switch {
		case p.open != nil && msg.Button == tea.MouseButtonWheelUp:
			p.top = max(p.top-3, 0)
		case p.open != nil && msg.Button == tea.MouseButtonWheelDown:
			p.top += 3
		case msg.Button == tea.MouseButtonWheelUp:
			p.Update(tea.KeyMsg{Type: tea.KeyUp})
		case msg.Button == tea.MouseButtonWheelDown:
			p.Update(tea.KeyMsg{Type: tea.KeyDown})
		}
	case tea.KeyMsg:
		k := p.c.Keys.Packets
		if p.open != nil {
			d := p.c.Keys.Detail
			switch {
			case key.Matches(msg, d.Close), key.Matches(msg, k.Open):
				p.open = nil
			case key.Matches(msg, d.Up):
				p.top = max(p.top-1, 0)
			case key.Matches(msg, d.Down):
				p.top++
			case key.Matches(msg, d.PageUp):
				p.top = max(p.top-10, 0)
			case key.Matches(msg, d.PageDown):
				p.top += 10
			}
			return nil
		}
		h := cur.Packets
		if h.Len() == 0 {
			return nil
		}
		sel := p.sel
		if p.follow {
			sel = h.End() - 1
		}
		switch {
		case key.Matches(msg, k.Open):
			if e, ok := h.Get(max(sel, h.First())); ok {
				p.open, p.top = &e, 0
			}
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
func (p *Pane) View() string { return p.view }

// refresh renders the visible window into p.view, reusing rows already
// rendered.
func (p *Pane) refresh() { p.view = p.render() }

func (p *Pane) render() string {
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
			row = p.renderRow(tp)
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

// ModalView is the full decode of the opened line: direction, time, size,
// the decoded packet wrapped to the width (every property), and a PUBLISH's
// payload as text and hex.
func (p *Pane) ModalView(w, h int) string {
	st := p.c.Styles
	e := p.open
	dir := "sent"
	if !e.Out {
		dir = "received"
	}
	var body []string
	switch {
	case e.Note != "":
		body = []string{st.Title.Render("Connection event") + "  " + e.Time.Format("2006-01-02 15:04:05.000"), "", common.Safe(e.Note)}
	default:
		size := ""
		if e.Size > 0 {
			size = fmt.Sprintf("  %d bytes on the wire", e.Size)
		}
		body = []string{st.Title.Render("Packet "+dir) + "  " + e.Time.Format("2006-01-02 15:04:05.000") + size, ""}
		switch {
		case e.Err != nil:
			body = append(body, st.Error.Render("undecodable: "+common.Safe(e.Err.Error())))
		case e.Packet != nil:
			body = append(body, common.Safe(e.Packet.String()))
			if pub, ok := e.Packet.(*packet.Publish); ok {
				body = append(body, "", st.Label.Render("payload (text)"))
				body = append(body, messages.RenderPayload(pub.Payload, messages.Text)...)
				body = append(body, "", st.Label.Render("payload (hex)"))
				body = append(body, messages.RenderPayload(pub.Payload, messages.Hex)...)
			}
		}
	}
	var lines []string
	for _, l := range body {
		lines = append(lines, strings.Split(ansi.HardwrapWc(l, w, true), "\n")...)
	}
	p.top = min(p.top, max(len(lines)-h, 0))
	return common.Lines(lines[p.top:], w, h)
}

func (p *Pane) renderRow(tp conn.LogEntry) string {
	st := p.c.Styles
	dir := st.OK.Render("→")
	if !tp.Out {
		dir = st.Label.Render("←")
	}
	var text string
	switch {
	case tp.Note != "":
		dir = st.Warn.Render("•")
		text = st.Warn.Render(common.Safe(tp.Note))
	case tp.Err != nil:
		text = st.Error.Render("undecodable: " + common.Safe(tp.Err.Error()))
	case tp.Packet != nil:
		text = common.Safe(tp.Packet.String())
	}
	return common.Fit(tp.Time.Format("15:04:05.000")+" "+dir+" "+text, p.w)
}
