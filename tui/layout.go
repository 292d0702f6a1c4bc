package tui

import (
	"strings"

	"github.com/charmbracelet/lipgloss"

	"github.com/mqttboard/mqttboard/tui/common"
)

// rect is a pane's place on the screen, border included.
type rect struct{ x, y, w, h int }

func (r rect) contains(x, y int) bool { return x >= r.x && x < r.x+r.w && y >= r.y && y < r.y+r.h }

// layout places the panes in a w×h main area: connections and
// subscriptions in a left column; the messages (or the topic tree) on top of
// the right; the publish form and, when shown, the packet log below.
func (m *Model) layout() {
	w, h := m.w, m.h-2 // status line and help bar
	if w <= 0 || h <= 0 {
		return
	}
	lw := min(max(w/4, 24), 36)
	rw := w - lw
	connH := max(h*2/5, 6)
	m.rects = map[PaneID]rect{
		Connections:   {0, 0, lw, connH},
		Subscriptions: {0, connH, lw, h - connH},
	}
	bottomH := max(h*2/5, 9)
	topH := h - bottomH
	center := m.center()
	m.rects[center] = rect{lw, 0, rw, topH}
	if m.packetLog() {
		pw := rw / 2
		m.rects[Publish] = rect{lw, topH, pw, bottomH}
		m.rects[Packets] = rect{lw + pw, topH, rw - pw, bottomH}
	} else {
		m.rects[Publish] = rect{lw, topH, rw, bottomH}
	}
	for id, r := range m.rects {
		m.panes[id].SetSize(max(r.w-2, 1), max(r.h-2, 1))
	}
}

// box draws content inside a rounded border with the title in the top edge.
func box(st common.Styles, title, content string, w, h int, focused bool) string {
	bs := st.Blurred
	if focused {
		bs = st.Focused
	}
	color := bs.GetBorderTopForeground()
	edge := lipgloss.NewStyle().Foreground(color)
	b := lipgloss.RoundedBorder()
	iw := max(w-2, 0)
	t := common.Cut(" "+common.Safe(title)+" ", max(iw-1, 0))
	tw := common.Width(t)
	if focused {
		t = st.Title.Render(t)
	}
	var sb strings.Builder
	sb.WriteString(edge.Render(b.TopLeft+b.Top) + t + edge.Render(strings.Repeat(b.Top, max(iw-1-tw, 0))+b.TopRight))
	lines := strings.Split(content, "\n")
	// The edges rendered once, not twice per row: lipgloss's Render is the
	// costliest call of a frame.
	left, right := "\n"+edge.Render(b.Left), edge.Render(b.Right)
	for i := 0; i < h-2; i++ {
		l := ""
		if i < len(lines) {
			l = lines[i]
		}
		sb.WriteString(left)
		sb.WriteString(common.Fit(l, iw))
		sb.WriteString(right)
	}
	sb.WriteString("\n" + edge.Render(b.BottomLeft+strings.Repeat(b.Bottom, iw)+b.BottomRight))
	return sb.String()
}
