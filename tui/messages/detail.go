package messages

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/mqttboard/mqttboard/client"
	"github.com/mqttboard/mqttboard/packet"
	"github.com/mqttboard/mqttboard/tui/common"
	"github.com/mqttboard/mqttboard/tui/conn"
)

// labelW is the width of the details view's label column.
const labelW = 18

// detail is the full-screen view of one received message: every field of
// the PUBLISH on a line of its own, the subscriptions that delivered it,
// and the payload as text, folding coloured JSON or hex. It scrolls with
// keys and the mouse wheel.
type detail struct {
	c      *common.Common
	on     *conn.Conn
	msg    *client.MessageEvent
	by     []string // the subscriptions of the connection that delivered it
	mode   Mode
	json   *jnode // nil: the payload is not JSON
	folded map[int]bool

	cursor, top int
	lines       []line // built for width w
	w           int
	height      int // rows of the scrolled area at the last view
}

func newDetail(c *common.Common, on *conn.Conn, m *client.MessageEvent, mode Mode) *detail {
	d := &detail{c: c, on: on, msg: m, mode: mode, folded: map[int]bool{}, by: deliveredBy(on, m)}
	d.json, _ = parseJSON(m.Payload)
	if d.mode == Text && d.json != nil && (d.json.kind == '{' || d.json.kind == '[') {
		d.mode = JSON
	}
	return d
}

// deliveredBy names the connection's subscriptions that delivered m: by
// the subscription identifiers the broker put on it when there are any (the
// broker's word), else by matching the topic with the broker's matcher.
func deliveredBy(c *conn.Conn, m *client.MessageEvent) []string {
	var out []string
	if ids := m.Props.SubscriptionIDs; len(ids) > 0 {
		for _, id := range ids {
			name := fmt.Sprintf("id %d: not a subscription of this board", id)
			for _, s := range c.Subs {
				if s.ID == int(id) {
					name = fmt.Sprintf("%s (subscription id %d)", common.Safe(s.Filter), id)
				}
			}
			out = append(out, name)
		}
		return out
	}
	for _, s := range c.Subs {
		if packet.MatchFilter(s.Filter, m.Topic) {
			out = append(out, common.Safe(s.Filter)+" (its filter matches the topic)")
		}
	}
	if len(out) == 0 {
		out = append(out, "no subscription of this board matches the topic now")
	}
	return out
}

// build lays the view out for width w.
func (d *detail) build(w int) {
	d.w = w
	st := d.c.Styles
	m := d.msg
	p := &m.Props
	var ls []line
	add := func(label, value string) {
		ls = append(ls, line{st.Label.Render(common.Fit(label, labelW)) + value, -1})
	}
	none := st.Dim.Render("–")
	opt := func(label string, id packet.PropID, v string) {
		if p.Has(id) {
			add(label, v)
		} else {
			add(label, none)
		}
	}
	str := func(label, v string) {
		if v == "" {
			add(label, none)
		} else {
			add(label, common.Safe(v))
		}
	}
	add("connection", common.Safe(d.on.Name()))
	add("received", m.Time.Format("2006-01-02 15:04:05.000"))
	add("topic", common.Safe(m.Topic))
	add("qos", strconv.Itoa(int(m.QoS)))
	add("retain", strconv.FormatBool(m.Retain))
	add("dup", strconv.FormatBool(m.Dup))
	if m.PacketID != 0 {
		add("packet id", strconv.Itoa(int(m.PacketID)))
	} else {
		add("packet id", none)
	}
	opt("topic alias", packet.PropTopicAlias, strconv.Itoa(int(p.TopicAlias)))
	format := "0 (bytes)"
	if p.PayloadFormat == 1 {
		format = "1 (UTF-8 text)"
	}
	opt("payload format", packet.PropPayloadFormat, format)
	opt("message expiry", packet.PropMessageExpiry, fmt.Sprintf("%d s", p.MessageExpiry))
	str("content type", p.ContentType)
	str("response topic", p.ResponseTopic)
	if len(p.CorrelationData) > 0 {
		add("correlation data", common.Safe(string(p.CorrelationData))+st.Dim.Render("  hex "+hex.EncodeToString(p.CorrelationData)))
	} else {
		add("correlation data", none)
	}
	if len(p.SubscriptionIDs) > 0 {
		ids := make([]string, len(p.SubscriptionIDs))
		for i, id := range p.SubscriptionIDs {
			ids[i] = strconv.FormatUint(uint64(id), 10)
		}
		add("subscription ids", strings.Join(ids, ", "))
	} else {
		add("subscription ids", none)
	}
	if len(p.User) == 0 {
		add("user properties", none)
	} else {
		add("user properties", strconv.Itoa(len(p.User)))
		for _, u := range p.User {
			ls = append(ls, line{"  " + st.JSONKey.Render(common.Safe(u.Key)) + " = " + common.Safe(u.Value), -1})
		}
	}
	for i, b := range d.by {
		label := ""
		if i == 0 {
			label = "delivered by"
		}
		add(label, b)
	}
	add("size", fmt.Sprintf("%d bytes", len(m.Payload)))
	ls = append(ls, line{st.Dim.Render(fmt.Sprintf("── payload · %s ", d.mode)) + st.Dim.Render(strings.Repeat("─", max(w-20, 0))), -1})
	switch {
	case d.mode == JSON && d.json != nil:
		ls = d.json.render(ls, st, 0, true, d.folded)
	default:
		for _, l := range RenderPayload(m.Payload, d.mode) {
			ls = append(ls, line{l, -1})
		}
	}
	// Long rows wrap rather than being cut: every byte can be read.
	d.lines = d.lines[:0]
	for _, l := range ls {
		if common.Width(l.text) <= w {
			d.lines = append(d.lines, l)
			continue
		}
		for i, part := range strings.Split(ansi.HardwrapWc(l.text, w, true), "\n") {
			f := -1
			if i == 0 {
				f = l.fold
			}
			d.lines = append(d.lines, line{part, f})
		}
	}
	d.cursor = min(d.cursor, max(len(d.lines)-1, 0))
}

// update handles a key or the mouse wheel; closed reports the view is done.
func (d *detail) update(msg tea.Msg) (closed bool, cmd tea.Cmd) {
	k := d.c.Keys.Detail
	page := max(d.height-1, 1)
	switch msg := msg.(type) {
	case tea.MouseMsg:
		switch msg.Button {
		case tea.MouseButtonWheelUp:
			d.scroll(-3)
		case tea.MouseButtonWheelDown:
			d.scroll(3)
		}
	case tea.KeyMsg:
		switch {
		case key.Matches(msg, k.Close):
			return true, nil
		case key.Matches(msg, k.Up):
			d.cursor = max(d.cursor-1, 0)
		case key.Matches(msg, k.Down):
			d.cursor = min(d.cursor+1, max(len(d.lines)-1, 0))
		case key.Matches(msg, k.PageUp):
			d.scroll(-page)
		case key.Matches(msg, k.PageDown):
			d.scroll(page)
		case key.Matches(msg, k.Top):
			d.cursor, d.top = 0, 0
		case key.Matches(msg, k.Bottom):
			d.cursor = max(len(d.lines)-1, 0)
		case key.Matches(msg, k.View):
			d.mode = (d.mode + 1) % 3
			d.build(d.w)
		case key.Matches(msg, k.Fold):
			if d.cursor < len(d.lines) && d.lines[d.cursor].fold >= 0 {
				id := d.lines[d.cursor].fold
				d.folded[id] = !d.folded[id]
				d.build(d.w)
			}
		case key.Matches(msg, k.FoldAll):
			if d.json != nil {
				if len(d.folded) > 0 {
					clear(d.folded)
				} else {
					for _, id := range d.json.containers(nil) {
						if id != d.json.id {
							d.folded[id] = true
						}
					}
				}
				d.build(d.w)
			}
		case key.Matches(msg, k.Copy):
			return false, copyCmd(d.c, string(d.msg.Payload), "the payload")
		case key.Matches(msg, k.CopyMessage):
			return false, copyCmd(d.c, MessageJSON(d.msg), "the message as JSON")
		}
	}
	return false, nil
}

// scroll moves the window and the cursor by n rows.
func (d *detail) scroll(n int) {
	last := max(len(d.lines)-1, 0)
	d.top = min(max(d.top+n, 0), max(len(d.lines)-d.height, 0))
	d.cursor = min(max(d.cursor+n, 0), last)
}

// view renders the view in w×h: a heading row, then the rows with the
// cursor marked in a one-cell gutter.
func (d *detail) view(w, h int) string {
	if w != d.w || d.lines == nil {
		d.build(max(w-1, 1))
	}
	d.height = max(h-1, 1)
	d.top = min(d.top, max(len(d.lines)-d.height, 0)) // no blank page after the end
	if d.cursor < d.top {
		d.top = d.cursor
	}
	if d.cursor >= d.top+d.height {
		d.top = d.cursor - d.height + 1
	}
	st := d.c.Styles
	pos := fmt.Sprintf("line %d/%d", d.cursor+1, len(d.lines))
	head := st.Title.Render("Message details") + st.Dim.Render("  "+pos)
	out := []string{head}
	for i := d.top; i < min(d.top+d.height, len(d.lines)); i++ {
		mark := " "
		if i == d.cursor {
			mark = st.Label.Render("▸")
		}
		out = append(out, mark+d.lines[i].text)
	}
	return common.Lines(out, w, h)
}

func copyCmd(c *common.Common, text, what string) tea.Cmd {
	return func() tea.Msg {
		if err := c.Copy(text); err != nil {
			return common.StatusMsg{Text: "copy: " + err.Error(), Error: true}
		}
		return common.StatusMsg{Text: fmt.Sprintf("copied %s, %d bytes (OSC 52)", what, len(text))}
	}
}

// MessageJSON is m as one JSON object: the fields of an exported line
// (Record), for the clipboard.
func MessageJSON(m *client.MessageEvent) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(NewRecord(m))
	return strings.TrimSuffix(b.String(), "\n")
}
