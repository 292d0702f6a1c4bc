// Package messages is the board's live message list: the focused
// connection's received messages, or every connection's merged in arrival
// order with each row in its connection's colour, with filters, pause, and
// the selected message's payload and properties.
package messages

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/mqttboard/mqttboard/client"
	"github.com/mqttboard/mqttboard/packet"
	"github.com/mqttboard/mqttboard/tui/common"
	"github.com/mqttboard/mqttboard/tui/conn"
	"github.com/mqttboard/mqttboard/tui/connections"
)

// Pane is the message list.
type Pane struct {
	c       *common.Common
	set     *conn.Set
	w, h    int
	focused bool

	mode    Mode
	details bool // show the selected message's preview under the list
	// full is the full-screen details view of one message, nil when closed.
	full *detail

	// all lists every connection's messages (merged) instead of the
	// focused connection's.
	all    bool
	merged *merged

	topicFilter string
	search      string
	input       textinput.Model
	inputFor    string // "topic" or "search" while editing a filter

	// matched are the Seqs passing the filters, kept incrementally;
	// nil when no filter is set (then every held message is listed).
	matched []uint64
	scanned uint64 // next Seq to test against the filters

	follow   bool
	selSeq   uint64
	top      int
	paused   bool
	pausedAt uint64 // End() of the history when paused

	connID common.ConnID
	rows   map[uint64]string // rendered rows of the visible window
	rowsW  int
	view   string // the pane as last rendered, by refresh
}

// New returns the pane.
func New(c *common.Common, set *conn.Set) *Pane {
	in := textinput.New()
	in.Prompt = ""
	return &Pane{c: c, set: set, follow: true, details: true, input: in, rows: map[uint64]string{}, merged: newMerged()}
}

// src is what the list shows now.
func (p *Pane) src(cur *conn.Conn) source {
	if p.all {
		return p.merged
	}
	return single{cur}
}

// All reports whether the list shows every connection's messages.
func (p *Pane) All() bool { return p.all }

// Title implements common.Pane.
func (p *Pane) Title() string {
	if p.full != nil {
		return "Message · " + p.full.msg.Topic
	}
	t := "Messages"
	cur := p.set.Current()
	switch {
	case p.all:
		var drops uint64
		for _, c := range p.set.List {
			drops += c.Messages.Dropped + c.RingDrops
		}
		if p.matched != nil {
			t += fmt.Sprintf(" · all connections %d of %d", len(p.matched), p.merged.refs.Len())
		} else {
			t += fmt.Sprintf(" · all connections %d", p.merged.refs.Len())
		}
		if drops > 0 {
			t += fmt.Sprintf(" (dropped %d)", drops)
		}
	case cur != nil && p.matched != nil:
		// A filter hides rows: the count is of what is listed.
		t += fmt.Sprintf(" %d of %d", len(p.matched), cur.Messages.Len())
		if d := cur.Messages.Dropped + cur.RingDrops; d > 0 {
			t += fmt.Sprintf(" (dropped %d)", d)
		}
	case cur != nil:
		t += fmt.Sprintf(" %d", cur.Messages.Len())
		if d := cur.Messages.Dropped + cur.RingDrops; d > 0 {
			t += fmt.Sprintf(" (dropped %d)", d)
		}
	}
	if p.topicFilter != "" {
		t += " topic:" + p.topicFilter
	}
	if p.search != "" {
		t += " text:" + strconv.Quote(p.search)
	}
	if p.paused && cur != nil {
		t += fmt.Sprintf(" PAUSED +%d", p.src(cur).End()-p.pausedAt)
	}
	return t
}

// SetSize implements common.Pane.
func (p *Pane) SetSize(w, h int) {
	p.w, p.h = w, h
	p.input.Width = max(w-20, 4)
	p.refresh()
}

// Focus implements common.Pane.
func (p *Pane) Focus() { p.focused = true; p.refresh() }

// Blur implements common.Pane.
func (p *Pane) Blur() { p.focused = false; p.refresh() }

// Capturing implements common.Pane: a filter being typed and the details
// view take the keys.
func (p *Pane) Capturing() bool { return p.inputFor != "" || p.full != nil }

// ModalOpen reports that the full-screen details view is open.
func (p *Pane) ModalOpen() bool { return p.full != nil }

// ModalView renders the details view full size.
func (p *Pane) ModalView(w, h int) string { return p.full.view(w, h) }

// ShortHelp implements help.KeyMap.
func (p *Pane) ShortHelp() []key.Binding {
	if p.full != nil {
		d := p.c.Keys.Detail
		return []key.Binding{d.Close, d.Up, d.Down, d.PageDown, d.View, d.Fold, d.FoldAll, d.Copy, d.CopyMessage}
	}
	k := p.c.Keys.Messages
	return []key.Binding{k.Details, k.All, k.TopicFilter, k.Search, k.Pause, k.Clear, k.View, k.Preview, k.Copy, k.CopyMessage, k.Export}
}

// FullHelp implements help.KeyMap.
func (p *Pane) FullHelp() [][]key.Binding {
	k := p.c.Keys.Messages
	return [][]key.Binding{{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Follow},
		{k.All, k.TopicFilter, k.Search, k.Pause, k.Clear}, {k.View, k.Preview, k.Details, k.Copy, k.CopyMessage, k.Export}}
}

func (p *Pane) reset() {
	p.matched, p.scanned = nil, 0
	p.follow, p.top = true, 0
	p.paused = false
	clear(p.rows)
	if p.filtering() {
		p.matched = []uint64{}
	}
}

func (p *Pane) filtering() bool { return p.topicFilter != "" || p.search != "" }

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
	if !p.all && cur.ID != p.connID {
		p.connID = cur.ID
		p.reset()
	}
	switch msg := msg.(type) {
	case connections.FocusChangedMsg:
		if !p.all {
			p.reset()
		}
	case common.FrameMsg:
		if p.all && p.merged.collect(p.set) {
			p.reset()
		}
		p.scan(p.src(cur))
	case tea.KeyMsg:
		if p.full != nil {
			closed, cmd := p.full.update(msg)
			if closed {
				p.full = nil
			}
			return cmd
		}
		if p.inputFor != "" {
			return p.updateInput(msg, cur)
		}
		return p.key(msg, cur)
	case tea.MouseMsg:
		if p.full != nil {
			_, cmd := p.full.update(msg)
			return cmd
		}
		src := p.src(cur)
		switch msg.Button {
		case tea.MouseButtonLeft:
			row := msg.Y
			if p.inputFor != "" {
				row--
			}
			if msg.Action == tea.MouseActionPress && row >= 0 && row < p.listHeight() && p.top+row < p.count(src) {
				p.selectIndex(src, p.top+row)
			}
		case tea.MouseButtonWheelUp:
			p.selectIndex(src, p.index(src)-3)
		case tea.MouseButtonWheelDown:
			p.selectIndex(src, p.index(src)+3)
		}
	}
	return nil
}

func (p *Pane) updateInput(msg tea.KeyMsg, cur *conn.Conn) tea.Cmd {
	switch msg.String() {
	case "enter", "esc":
		v := p.input.Value()
		if msg.String() == "esc" {
			v = ""
		}
		if p.inputFor == "topic" {
			p.topicFilter = v
		} else {
			p.search = v
		}
		p.inputFor = ""
		p.input.Blur()
		p.reset()
		p.scan(p.src(cur))
		return nil
	}
	var cmd tea.Cmd
	p.input, cmd = p.input.Update(msg)
	return cmd
}

func (p *Pane) key(msg tea.KeyMsg, cur *conn.Conn) tea.Cmd {
	k := p.c.Keys.Messages
	src := p.src(cur)
	n := p.count(src)
	idx := p.index(src)
	page := max(p.listHeight()-1, 1)
	switch {
	case key.Matches(msg, k.All):
		p.all = !p.all
		p.connID = cur.ID
		p.reset()
		if p.all {
			p.merged.collect(p.set)
		}
		p.scan(p.src(cur))
	case key.Matches(msg, k.Up):
		p.selectIndex(src, idx-1)
	case key.Matches(msg, k.Down):
		p.selectIndex(src, idx+1)
	case key.Matches(msg, k.PageUp):
		p.selectIndex(src, idx-page)
	case key.Matches(msg, k.PageDown):
		p.selectIndex(src, idx+page)
	case key.Matches(msg, k.Top):
		p.selectIndex(src, 0)
	case key.Matches(msg, k.Follow):
		p.follow = true
	case key.Matches(msg, k.TopicFilter):
		p.inputFor = "topic"
		p.input.Placeholder = "topic filter, wildcards allowed (enter apply, esc clear)"
		p.input.SetValue(p.topicFilter)
		p.input.CursorEnd()
		return p.input.Focus()
	case key.Matches(msg, k.Search):
		p.inputFor = "search"
		p.input.Placeholder = "payload text (enter apply, esc clear)"
		p.input.SetValue(p.search)
		p.input.CursorEnd()
		return p.input.Focus()
	case key.Matches(msg, k.Pause):
		p.paused = !p.paused
		p.pausedAt = src.End()
	case key.Matches(msg, k.Clear):
		if p.all {
			for _, c := range p.set.List {
				c.ClearMessages()
			}
			p.merged.collect(p.set)
		} else {
			cur.ClearMessages()
		}
		p.reset()
	case key.Matches(msg, k.View):
		p.mode = (p.mode + 1) % 3
	case key.Matches(msg, k.Preview):
		p.details = !p.details
	case key.Matches(msg, k.Details):
		if c, m := p.selected(src); m != nil {
			p.full = newDetail(p.c, c, m, p.mode)
		}
	case key.Matches(msg, k.Copy):
		if _, m := p.selected(src); m != nil {
			return copyCmd(p.c, string(m.Payload), "the payload")
		}
	case key.Matches(msg, k.CopyMessage):
		if _, m := p.selected(src); m != nil {
			return copyCmd(p.c, MessageJSON(m), "the message as JSON")
		}
	case key.Matches(msg, k.Export):
		msgs := make([]*client.MessageEvent, 0, n)
		for i := range n {
			if _, m, ok := src.Get(p.seqAt(src, i)); ok {
				msgs = append(msgs, m.MessageEvent)
			}
		}
		dir, name, now := p.c.ExportDir, cur.Name(), p.c.Now()
		if p.all {
			name = "all"
		}
		return func() tea.Msg {
			path, err := Export(dir, name, now, msgs)
			if err != nil {
				return common.StatusMsg{Text: err.Error(), Error: true}
			}
			return common.StatusMsg{Text: fmt.Sprintf("exported %d messages to %s", len(msgs), path)}
		}
	}
	return nil
}

// scan tests the messages that arrived since the last frame against the
// filters, and drops Seqs the history no longer holds.
func (p *Pane) scan(h source) {
	if p.scanned < h.First() {
		p.scanned = h.First()
	}
	if p.matched != nil {
		end := h.End()
		if p.paused {
			end = min(end, p.pausedAt)
		}
		for s := p.scanned; s < end; s++ {
			if _, m, ok := h.Get(s); ok && p.match(m.MessageEvent) {
				p.matched = append(p.matched, s)
			}
		}
		p.scanned = end
		if i, _ := slices.BinarySearch(p.matched, h.First()); i > 0 {
			p.matched = append(p.matched[:0], p.matched[i:]...)
		}
	}
}

func (p *Pane) match(e *client.MessageEvent) bool {
	if p.topicFilter != "" && !packet.MatchFilter(p.topicFilter, e.Topic) {
		return false
	}
	if p.search != "" && !strings.Contains(string(e.Payload), p.search) {
		return false
	}
	return true
}

func (p *Pane) end(h source) uint64 {
	if p.paused {
		return min(h.End(), max(p.pausedAt, h.First()))
	}
	return h.End()
}

// count is the number of listed messages.
func (p *Pane) count(h source) int {
	if p.matched != nil {
		return len(p.matched)
	}
	return int(p.end(h) - h.First())
}

func (p *Pane) seqAt(h source, i int) uint64 {
	if p.matched != nil {
		return p.matched[i]
	}
	return h.First() + uint64(i)
}

// index is the position of the selected message in the list.
func (p *Pane) index(h source) int {
	n := p.count(h)
	if p.follow || n == 0 {
		return n - 1
	}
	if p.matched != nil {
		i, _ := slices.BinarySearch(p.matched, p.selSeq)
		return min(i, n-1)
	}
	if p.selSeq < h.First() {
		return 0
	}
	return min(int(p.selSeq-h.First()), n-1)
}

func (p *Pane) selectIndex(h source, i int) {
	n := p.count(h)
	if n == 0 {
		return
	}
	i = min(max(i, 0), n-1)
	p.follow = i == n-1 && !p.paused
	p.selSeq = p.seqAt(h, i)
}

// selected is the selected message and the connection it came on.
func (p *Pane) selected(h source) (*conn.Conn, *client.MessageEvent) {
	i := p.index(h)
	if i < 0 {
		return nil, nil
	}
	c, m, ok := h.Get(p.seqAt(h, i))
	if !ok {
		return nil, nil
	}
	return c, m.MessageEvent
}

func (p *Pane) detailHeight() int {
	if !p.details || p.h < 8 {
		return 0
	}
	return p.h * 2 / 5
}

func (p *Pane) listHeight() int {
	h := p.h - p.detailHeight()
	if p.inputFor != "" {
		h--
	}
	return max(h, 1)
}

// View implements common.Pane. Only the visible rows are rendered, and a
// row once rendered is reused until it scrolls out.
func (p *Pane) View() string { return p.view }

// refresh renders the visible window into p.view, reusing rows already
// rendered.
func (p *Pane) refresh() { p.view = p.render() }

func (p *Pane) render() string {
	cur := p.set.Current()
	st := p.c.Styles
	var lines []string
	if p.inputFor != "" {
		label := "topic filter: "
		if p.inputFor == "search" {
			label = "payload text: "
		}
		lines = append(lines, st.Label.Render(label)+p.input.View())
	}
	if cur == nil {
		return common.Lines(lines, p.w, p.h)
	}
	src := p.src(cur)
	n := p.count(src)
	lh := p.listHeight()
	if n == 0 {
		hint := "no messages yet: subscribe (Subscriptions, a), then publish (Publish, ctrl+s)"
		if p.filtering() {
			hint = "no message matches the filter"
		}
		lines = append(lines, st.Dim.Render(hint))
		for len(lines) < lh {
			lines = append(lines, "")
		}
	} else {
		idx := p.index(src)
		if idx < p.top {
			p.top = idx
		}
		if idx >= p.top+lh {
			p.top = idx - lh + 1
		}
		p.top = max(min(p.top, n-lh), 0)
		if p.rowsW != p.w {
			clear(p.rows)
			p.rowsW = p.w
		}
		visible := make(map[uint64]string, lh)
		for i := p.top; i < min(p.top+lh, n); i++ {
			seq := p.seqAt(src, i)
			row, ok := p.rows[seq]
			if !ok {
				if c, m, ok := src.Get(seq); ok {
					row = p.renderRow(c, m.MessageEvent)
				} else {
					row = common.Fit(" "+st.Dim.Render("(cleared)"), p.w)
				}
			}
			visible[seq] = row
			if i == idx && p.focused {
				row = st.Selected.Render(common.Fit(row, p.w))
			} else if i == idx {
				row = "▸" + row[1:]
			}
			lines = append(lines, row)
		}
		p.rows = visible
		for len(lines) < lh+boolInt(p.inputFor != "") {
			lines = append(lines, "")
		}
	}
	if dh := p.detailHeight(); dh > 0 {
		lines = append(lines, p.detailLines(src, dh)...)
	}
	return common.Lines(lines, p.w, p.h)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// nameW is the width of the connection name column of the merged list.
const nameW = 10

// narrowW is the list width under which a row drops milliseconds and the
// size column, so that the payload keeps a column at 80×24.
const narrowW = 70

func (p *Pane) renderRow(c *conn.Conn, m *client.MessageEvent) string {
	flags := fmt.Sprintf("q%d", m.QoS)
	if m.Retain {
		flags += " r"
	} else {
		flags += "  "
	}
	colour := lipgloss.NewStyle().Foreground(c.Color)
	bar := colour.Render("▌")
	narrow := p.w < narrowW
	clock, size := m.Time.Format("15:04:05.000"), " "+fmt.Sprintf("%6s", humanSize(len(m.Payload)))
	if narrow {
		clock, size = m.Time.Format("15:04:05"), ""
	}
	fixed := 1 + len(clock) + 1 + 2 + len(flags) + 2 + len(size) + 1
	if p.all {
		// The connection's name in its colour after the bar, so the merged
		// list reads without colour too (and in goldens).
		name := nameW
		if narrow {
			name = nameW / 2
		}
		bar += " " + colour.Render(common.Fit(common.Safe(c.Name()), name))
		fixed += name + 1
	}
	tw := max(p.w-fixed, 8)
	// The topic takes at most half, so the payload always has a column.
	topic := common.Fit(common.Safe(m.Topic), max(min(tw/2, 40), 4))
	rest := max(tw-common.Width(topic), 0)
	prev := common.Fit(common.Safe(string(m.Payload)), rest)
	row := " " + clock + " " + bar + " " + topic + " " + flags + size + " " + p.c.Styles.Dim.Render(prev)
	return common.Fit(row, p.w)
}

func humanSize(n int) string {
	switch {
	case n < 1024:
		return strconv.Itoa(n) + "B"
	case n < 1024*1024:
		return strconv.Itoa(n/1024) + "K"
	}
	return strconv.Itoa(n/1024/1024) + "M"
}

func (p *Pane) detailLines(src source, h int) []string {
	st := p.c.Styles
	lines := []string{st.Dim.Render(strings.Repeat("─", max(p.w-12, 0)) + " " + p.mode.String())}
	c, m := p.selected(src)
	if m == nil {
		return lines
	}
	on := ""
	if p.all {
		on = st.Label.Render("on ") + lipgloss.NewStyle().Foreground(c.Color).Render(common.Safe(c.Name())) + "  "
	}
	lines = append(lines, on+st.Label.Render("topic ")+common.Safe(m.Topic)+fmt.Sprintf("  qos %d  retain %v  dup %v  %d bytes", m.QoS, m.Retain, m.Dup, len(m.Payload)))
	if props := m.Props.String(); props != "" {
		lines = append(lines, st.Label.Render("props ")+common.Safe(props))
	}
	for _, l := range RenderPayload(m.Payload, p.mode) {
		if len(lines) >= h {
			break
		}
		lines = append(lines, l)
	}
	if len(lines) > h {
		lines = lines[:h]
	}
	return lines
}
